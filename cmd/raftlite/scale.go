package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/raftlite/raftlite/bench"
)

// scaleRun is what `raftlite bench -scale` was asked for.
type scaleRun struct {
	match    *regexp.Regexp
	count    int
	loadFor  time.Duration
	seqBytes int64
	every    time.Duration
}

// scaleRow is one run of one setup of the scale table.
type scaleRow struct {
	setup bench.Setup
	cost  bench.Cost
}

// runScale runs the scale table (bench.ScaleMatrix, then bench.Largest)
// after the floor, which runBench printed: benchstat lines on stdout as
// the matrix's, then the same figures as a Markdown table on "# " lines,
// which benchstat skips. Each setup's clients broadcast for run.loadFor,
// so that the table's length does not depend on its slowest setups.
func runScale(ctx context.Context, dir string, floor bench.Floor, run scaleRun, stdout, stderr io.Writer) error {
	fmt.Fprintf(stdout, "# load average at start: %s (%d CPUs)\n", loadAverage(), runtime.NumCPU())
	quorums := make([]string, 0, 3)
	for _, n := range []int{3, 5, 7} {
		q, err := bench.QuorumFsync(dir, n, 200)
		if err != nil {
			return fmt.Errorf("bench: measuring the floor: %w", err)
		}
		quorums = append(quorums, fmt.Sprintf("%d nodes %v", n, q))
	}
	// The nodes of a cluster in one process share one disk: a commit waits
	// for the syncs of a majority of them, served in turn.
	fmt.Fprintf(stdout, "# majority of concurrent fdatasyncs p50: %s\n", strings.Join(quorums, ", "))
	seq, err := bench.SeqWrite(dir, run.seqBytes, 1<<20)
	if err != nil {
		return fmt.Errorf("bench: measuring sequential writes: %w", err)
	}
	fmt.Fprintf(stdout, "# disk sequential write: %.0f MB/s (%d MiB in 1 MiB writes and one fdatasync)\n", seq/1e6, run.seqBytes>>20)
	fmt.Fprintf(stdout, "BenchmarkSeqWrite 1 %.1f MB/s\n", seq/1e6)

	var setups []bench.Setup
	for _, s := range append(bench.ScaleMatrix(), bench.Largest()) {
		if bench.Available(s) && run.match.MatchString(s.String()) {
			setups = append(setups, s)
		}
	}
	var rows []scaleRow
	start := time.Now()
	for i, s := range setups {
		for range run.count {
			label := fmt.Sprintf("[%d/%d %v] %s", i+1, len(setups), time.Since(start).Round(time.Second), s)
			fmt.Fprintf(stderr, "\r%-100s", label)
			p := progress{w: stderr, label: label, every: run.every}
			var cost bench.Cost
			err := runOne(ctx, s, dir, p.show, func(ctx context.Context, c *bench.Cluster) (err error) {
				cost, err = c.LoadCost(ctx, run.loadFor)
				return err
			})
			if err != nil {
				return fmt.Errorf("%s: %w", s, err)
			}
			printCost(stdout, s, cost, floor)
			rows = append(rows, scaleRow{s, cost})
		}
	}
	fmt.Fprintln(stderr)
	fmt.Fprintf(stdout, "# load average at end: %s\n", loadAverage())
	printScaleTable(stdout, rows, seq)
	return nil
}

// printCost prints one run of the scale table as a benchstat line.
func printCost(w io.Writer, s bench.Setup, c bench.Cost, floor bench.Floor) {
	fmt.Fprintf(w, "BenchmarkScale/%s %d %d ns/op %.0f commits/s %.2f MB/s %d p50-ns %d p99-ns %d cpu-ns/op %.2f cores %.2f waiting-cores %d peak-rss-bytes %.3f fsyncs/op %.2f p50/floor\n",
		s, c.Commits, c.Elapsed.Nanoseconds()/int64(max(c.Commits, 1)), c.PerSecond(), c.MBPerSecond(s.Size),
		c.P50.Nanoseconds(), c.P99.Nanoseconds(), c.CPUPerCommit().Nanoseconds(), c.Cores(), c.WaitingCores(), c.PeakRSS,
		float64(c.Syncs)/float64(max(c.Commits, 1)), float64(c.P50)/float64(floor.Overwrite.Commit(floor.LoopbackRTT)))
}

// printScaleTable prints the rows as a Markdown table, each line behind
// "# ", and the largest message's throughput against the disk's sequential
// bandwidth seq (bytes per second).
func printScaleTable(w io.Writer, rows []scaleRow, seq float64) {
	fmt.Fprintln(w, "#")
	fmt.Fprintln(w, "# | nodes | clients | size | commits/s | MB/s | p50 | p99 | CPU/commit | cores busy | cores waited for | fsyncs/commit | peak RSS |")
	fmt.Fprintln(w, "# |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		c := r.cost
		fmt.Fprintf(w, "# | %d | %d | %s | %.0f | %.1f | %s | %s | %s | %.2f | %.2f | %.2f | %d MiB |\n",
			r.setup.Nodes, r.setup.Clients, sizeName(r.setup.Size), c.PerSecond(), c.MBPerSecond(r.setup.Size),
			short(c.P50), short(c.P99), short(c.CPUPerCommit()), c.Cores(), c.WaitingCores(),
			float64(c.Syncs)/float64(max(c.Commits, 1)), c.PeakRSS>>20)
	}
	for _, r := range rows {
		if r.setup != bench.Largest() {
			continue
		}
		mb := r.cost.MBPerSecond(r.setup.Size)
		fmt.Fprintf(w, "#\n# largest message the default Config accepts: %s (MaxEntryBytes), %d clients: %.1f MB/s of payload,"+
			" %.0f%% of the disk's sequential write (%.0f MB/s); the disk takes each message once per node, %.1f MB/s for %d nodes\n",
			sizeName(r.setup.Size), r.setup.Clients, mb, 100*mb*1e6/seq, seq/1e6, mb*float64(r.setup.Nodes), r.setup.Nodes)
	}
}

// sizeName writes a message size as the issue does: 128 B, 4 KiB, 1 MiB.
func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// short rounds d to three significant digits, for a table a reader scans.
func short(d time.Duration) string {
	for unit := time.Duration(1); unit < time.Hour; unit *= 10 {
		if d < 1000*unit {
			return d.Round(unit).String()
		}
	}
	return d.Round(time.Second).String()
}

// loadAverage is the system's 1, 5 and 15 minute load averages, from
// /proc/loadavg: the figures are only as good as the machine was quiet.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
