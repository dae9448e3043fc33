package raftlite

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

// An observation goes in the first bucket whose bound it does not exceed,
// and Quantile answers with that bucket's bound.
func TestHistogramBucketsAndQuantiles(t *testing.T) {
	h := newHistogram([]float64{1, 2, 4})
	for _, v := range []float64{0.5, 1, 1.5, 3, 4, 100} {
		h.observe(v)
	}
	s := h.snapshot()
	assert.Equal(t, []uint64{2, 1, 2, 1}, s.Counts)
	assert.Equal(t, uint64(6), s.Count)
	assert.InDelta(t, 110.0, s.Sum, 1e-9)
	for _, tc := range []struct{ q, want float64 }{
		{0.01, 1}, {2.0 / 6, 1}, {0.5, 2}, {5.0 / 6, 4}, {1, math.Inf(1)},
	} {
		assert.Equal(t, tc.want, s.Quantile(tc.q), "q=%v", tc.q)
	}
	assert.Zero(t, Histogram{}.Quantile(0.5), "empty")

	h.observe(2)
	assert.Equal(t, []uint64{2, 1, 2, 1}, s.Counts, "a snapshot does not change with its histogram")
}

func TestExponentialBounds(t *testing.T) {
	assert.Equal(t, []float64{1, 2, 4, 8}, exponentialBounds(1, 2, 4))
	assert.InDelta(t, 26.2144, secondsBounds[len(secondsBounds)-1], 1e-9, "the slowest bucket holds 26s")
}
