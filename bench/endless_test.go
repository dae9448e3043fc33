package bench

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/raftlite/raftlite/wal"
)

// The endless run, in full:
//
//	go test -run '^$' -bench Endless -benchtime 1x -timeout 0 ./bench -endless=10m
var (
	endlessFor   = flag.Duration("endless", 20*time.Second, "how long BenchmarkEndless runs its load")
	endlessEvery = flag.Duration("endless.every", 0, "BenchmarkEndless's sampling interval (0: a twentieth of -endless, at least 1s)")
	endlessOut   = flag.String("endless.out", "", "a file BenchmarkEndless writes its samples to as it takes them (default stderr)")
)

// BenchmarkEndless runs three nodes on the WAL over tcp under a load
// without end, with an application that snapshots every 50,000 entries,
// and samples disk, memory and commit latency every -endless.every: they
// must stay flat (the drift metrics near 1).
func BenchmarkEndless(b *testing.B) {
	longRun(b)
	f := machineFloor(b)
	ignoreN(b)
	every := *endlessEvery
	if every <= 0 {
		every = max(*endlessFor/20, time.Second)
	}
	samples := max(int(*endlessFor/every), 3)
	s := Setup{Transport: "tcp", Persister: "wal", Clients: 64, Size: 128, SnapshotEvery: 50_000, StateBytes: 1 << 20}
	ctx, c := startCluster(b, s, *endlessFor+5*time.Minute)
	out := os.Stderr
	if *endlessOut != "" {
		var err error
		if out, err = os.Create(*endlessOut); err != nil {
			b.Fatal(err)
		}
		defer out.Close()
	}
	fmt.Fprintf(out, "# %s, snapshots every %d entries of %d bytes, floor %v\n", s, s.SnapshotEvery, s.StateBytes+snapshotHeader, commitFloor(f, s))
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	all, err := c.Endless(ctx, samples, func(*Running) error {
		select {
		case <-ticker.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}, func(x Sample) {
		// As it goes: a long run shows its progress.
		fmt.Fprintf(out, "%v: %.0f commits/s, p99 %v, disk %.1f MB, RSS %.1f MB, heap %.1f MB, nodes %+v\n",
			x.At.Round(time.Second), x.Window.PerSecond(), x.Window.P99.Round(10*time.Microsecond),
			float64(x.DiskBytes)/(1<<20), float64(x.RSSBytes)/(1<<20), float64(x.HeapBytes)/(1<<20), x.Nodes)
	})
	if err != nil {
		b.Fatal(err)
	}
	var table bytes.Buffer
	if err := WriteSamples(&table, all, commitFloor(f, s)); err != nil {
		b.Fatal(err)
	}
	logFloor(b, f)
	d := DriftOf(all)
	summary := fmt.Sprintf("%s, %v, a sample every %v:\n%s\ndrift (largest in the second half / in the first, the first sample left out): disk %.2f, RSS %.2f, heap %.2f, p99 %.2f\n",
		s, *endlessFor, every, table.String(), d.Disk, d.RSS, d.Heap, d.P99)
	// Whole in out too: go test cuts a benchmark's log at ten lines
	// without -v.
	fmt.Fprint(out, summary)
	b.Log(summary)
	var commits int
	var elapsed time.Duration
	p99s := make([]time.Duration, 0, len(all))
	for _, x := range all {
		commits += x.Window.Commits
		elapsed += x.Window.Elapsed
		p99s = append(p99s, x.Window.P99)
	}
	b.ReportMetric(float64(commits)/elapsed.Seconds(), "commits/s")
	b.ReportMetric(float64(slices.Max(p99s).Nanoseconds()), "max-p99-ns")
	b.ReportMetric(float64(slices.Max(p99s))/float64(commitFloor(f, s)), "max-p99/floor")
	b.ReportMetric(d.Disk, "disk-drift")
	b.ReportMetric(d.RSS, "rss-drift")
	b.ReportMetric(d.Heap, "heap-drift")
	b.ReportMetric(d.P99, "p99-drift")
}

// TestEndlessSnapshotsCompactsAndAgrees: under a load without end, every
// node's application snapshots when asked, every WAL is compacted behind
// the snapshots, the samples describe every node, and at the end the
// applications agree.
func TestEndlessSnapshotsCompactsAndAgrees(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := Setup{Transport: "mem", Persister: "wal", Clients: 8, Size: 128,
		SnapshotEvery: 100, TrailingEntries: 20, StateBytes: 10 << 10, SegmentBytes: 16 << 10}
	c, err := Start(ctx, s, t.TempDir())
	require.NoError(t, err)
	defer c.Close()
	const per = 400
	seen := 0
	samples, err := c.Endless(ctx, 3, func(r *Running) error { return r.WaitCommits(ctx, r.Commits()+per) },
		func(Sample) { seen++ })
	require.NoError(t, err)
	require.Len(t, samples, 3)
	assert.Equal(t, 3, seen)
	for _, sm := range samples {
		assert.GreaterOrEqual(t, sm.Window.Commits, per)
		assert.Positive(t, sm.DiskBytes)
		assert.Positive(t, sm.HeapBytes)
		assert.Len(t, sm.Nodes, 3)
	}
	last := samples[len(samples)-1]
	for i := range c.nodes {
		assert.Positive(t, c.apps[i].state().snapshots, "node %d took no snapshot", i+1)
		assert.Positive(t, last.Nodes[i].SnapshotIndex, "node %d", i+1)
		assert.Greater(t, c.disks[i].(*wal.Log).FirstIndex(), uint64(1), "node %d's log was not compacted", i+1)
	}
	var table bytes.Buffer
	require.NoError(t, WriteSamples(&table, samples, time.Millisecond))
	assert.Len(t, strings.Split(strings.TrimSpace(table.String()), "\n"), 4, "a header and a line per sample")
}

// TestDriftTellsFlatFromGrowing: Drift is near 1 for a flat run and well
// above for one that grows, leaving out the warm-up sample.
func TestDriftTellsFlatFromGrowing(t *testing.T) {
	run := func(disk func(i int) int64) []Sample {
		var ss []Sample
		for i := range 9 {
			ss = append(ss, Sample{DiskBytes: disk(i), RSSBytes: 100, HeapBytes: 50, Window: Result{P99: time.Millisecond}})
		}
		return ss
	}
	flat := DriftOf(run(func(i int) int64 {
		if i == 0 {
			return 1 // the warm-up: left out
		}
		return 100 + int64(i%2)*10 // a sawtooth
	}))
	assert.InDelta(t, 1, flat.Disk, 0.01)
	assert.InDelta(t, 1, flat.RSS, 0.01)
	assert.InDelta(t, 1, flat.P99, 0.01)
	growing := DriftOf(run(func(i int) int64 { return int64(100 * (i + 1)) }))
	assert.Greater(t, growing.Disk, 1.5)
	assert.Equal(t, Drift{}, DriftOf(run(func(int) int64 { return 1 })[:2]), "too few samples")
}
