package raftlite

import (
	"math"
	"slices"
	"time"
)

// Histogram is a snapshot of a distribution, in fixed buckets whose bounds
// grow exponentially: how many observations fell in each, their count and
// their sum. Package raftliteprom turns it into a Prometheus histogram.
type Histogram struct {
	// Bounds are the buckets' upper bounds, increasing. They are shared
	// between snapshots and must not be modified.
	Bounds []float64
	// Counts has one more element than Bounds: Counts[i] counts the
	// observations above Bounds[i-1] and at most Bounds[i] (not
	// cumulative), and the last counts those above every bound.
	Counts []uint64
	// Count is the number of observations, the sum of Counts.
	Count uint64
	// Sum is the sum of the observations.
	Sum float64
}

// Quantile estimates the q-quantile (0 < q <= 1) as the upper bound of
// the bucket that holds it: at most a bucket's width above the truth. It
// returns 0 for an empty histogram, and +Inf if the quantile lies above
// the last bound.
func (h Histogram) Quantile(q float64) float64 {
	if h.Count == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.Count)))
	var seen uint64
	for i, c := range h.Counts {
		if seen += c; seen >= max(rank, 1) && i < len(h.Bounds) {
			return h.Bounds[i]
		}
	}
	return math.Inf(1)
}

// histogram accumulates observations for a Histogram; its owner guards it.
type histogram struct {
	bounds []float64 // shared, never modified
	counts []uint64
	count  uint64
	sum    float64
}

// exponentialBounds returns n bounds from first, each factor times the last.
func exponentialBounds(first, factor float64, n int) []float64 {
	b := make([]float64, n)
	for i := range b {
		b[i] = first * math.Pow(factor, float64(i))
	}
	return b
}

// The buckets of raftlite's histograms. Durations are in seconds, from
// 50µs (a write to a page cache) to 26s (a disk or network in trouble);
// sizes double from 1 entry, or 64 bytes, to beyond any batch's limit.
var (
	secondsBounds = exponentialBounds(50e-6, 2, 20)
	entriesBounds = exponentialBounds(1, 2, 17)
	bytesBounds   = exponentialBounds(64, 2, 21)
)

func newHistogram(bounds []float64) histogram {
	return histogram{bounds: bounds, counts: make([]uint64, len(bounds)+1)}
}

func (h *histogram) observe(v float64) {
	i, _ := slices.BinarySearch(h.bounds, v) // the first bound >= v
	h.counts[i]++
	h.count++
	h.sum += v
}

func (h *histogram) observeDuration(d time.Duration) { h.observe(d.Seconds()) }

func (h *histogram) snapshot() Histogram {
	return Histogram{Bounds: h.bounds, Counts: slices.Clone(h.counts), Count: h.count, Sum: h.sum}
}
