package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime/pprof"
	"time"

	"github.com/raftlite/raftlite/bench"
)

// runBench prints the bench matrix as benchstat-compatible lines, with a
// progress line on stderr while it runs.
func runBench(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 20000, "committed broadcasts per setup (sequential setups run n/10)")
	count := fs.Int("count", 1, "runs of each setup (for benchstat)")
	match := fs.String("run", "", "only setups whose name matches this regexp (with -scale, of the scale table, e.g. '^nodes=3/')")
	every := fs.Duration("progress", time.Second, "how often to show a running setup's progress on stderr (0: never)")
	scale := fs.Bool("scale", false, "run the scale table instead (README, \"How cost grows\"): nodes 3,5,7 x clients 1,64,1024\n"+
		"x size 128,4096,65536 B, durable on tcp, then the largest message the default Config accepts (1 MiB),\n"+
		"each for -for; adds MB/s, CPU per commit, cores busy and waited for, peak RSS, and the disk's\n"+
		"sequential write bandwidth (about 4 minutes on 2 cores)")
	loadFor := fs.Duration("for", 5*time.Second, "with -scale: how long each setup's clients broadcast")
	seqMiB := fs.Int("seqwrite", 256, "with -scale: MiB written (in 1 MiB writes, then one fdatasync) to measure the disk's sequential bandwidth")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file (go tool pprof -top)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		stop, err := profileCPU(*cpuProfile)
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		defer stop()
	}
	re, err := regexp.Compile(*match)
	if err != nil {
		return fmt.Errorf("bench: --run: %w", err)
	}
	dir, err := os.MkdirTemp("", "raftlite-bench-")
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	floor, err := bench.MeasureFloor(dir, 500)
	if err != nil {
		return fmt.Errorf("bench: measuring the floor: %w", err)
	}
	printFloor(stdout, floor)
	if *scale {
		return runScale(ctx, dir, floor, scaleRun{match: re, count: *count, loadFor: *loadFor, seqBytes: int64(*seqMiB) << 20, every: *every}, stdout, stderr)
	}
	setups := selectSetups(re)
	for i, s := range setups {
		for range *count {
			label := fmt.Sprintf("[%d/%d] %s", i+1, len(setups), s)
			fmt.Fprintf(stderr, "\r%-90s", label)
			total := *n
			if s.Clients == 1 {
				total = max(*n/10, 100)
			}
			p := progress{w: stderr, label: label, total: total, every: *every}
			var r bench.Result
			err := runOne(ctx, s, dir, p.show, func(ctx context.Context, c *bench.Cluster) (err error) {
				r, err = c.Load(ctx, total)
				return err
			})
			if err != nil {
				return fmt.Errorf("%s: %w", s, err)
			}
			printResult(stdout, s, r, floor)
		}
	}
	fmt.Fprintln(stderr)
	return nil
}

// selectSetups returns the setups of the matrix that this build can run
// and whose names match re.
func selectSetups(re *regexp.Regexp) []bench.Setup {
	var setups []bench.Setup
	for _, s := range bench.Matrix() {
		if bench.Available(s) && re.MatchString(s.String()) {
			setups = append(setups, s)
		}
	}
	return setups
}

// printFloor prints the floor as a comment and as a benchstat line: each
// way of writing (append, fallocate, overwrite) alone and for a quorum.
func printFloor(stdout io.Writer, floor bench.Floor) {
	fmt.Fprintf(stdout, "# floor: %v\n", floor)
	fmt.Fprint(stdout, "BenchmarkFloor 1")
	for _, m := range []struct {
		name string
		s    bench.SyncFloor
	}{{"append", floor.Append}, {"fallocate", floor.Fallocate}, {"overwrite", floor.Overwrite}} {
		fmt.Fprintf(stdout, " %d %s-fsync-p50-ns %d %s-quorum-p50-ns", m.s.Alone.Nanoseconds(), m.name, m.s.Quorum.Nanoseconds(), m.name)
	}
	fmt.Fprintf(stdout, " %d rtt-p50-ns\n", floor.LoopbackRTT.Nanoseconds())
}

// printResult prints one run as a benchstat line, with p50 as a multiple
// of the floor a commit cannot beat: a round trip and, if the setup
// persists to disk, a quorum's syncs of blocks the log overwrites (and, as
// p50/append-floor, of blocks it appends).
func printResult(stdout io.Writer, s bench.Setup, r bench.Result, floor bench.Floor) {
	floorNs := floor.LoopbackRTT
	extra := ""
	if s.Persister == "wal" {
		floorNs = floor.Overwrite.Commit(floor.LoopbackRTT)
		extra = fmt.Sprintf(" %.3f fsyncs/op %.2f p50/append-floor", float64(r.Syncs)/float64(r.Commits),
			float64(r.P50)/float64(floor.Append.Commit(floor.LoopbackRTT)))
	}
	fmt.Fprintf(stdout, "BenchmarkCommit/%s %d %d ns/op %.0f commits/s %d p50-ns %d p90-ns %d p99-ns %.2f p50/floor%s\n",
		s, r.Commits, r.Elapsed.Nanoseconds()/int64(r.Commits), r.PerSecond(),
		r.P50.Nanoseconds(), r.P90.Nanoseconds(), r.P99.Nanoseconds(), float64(r.P50)/float64(floorNs), extra)
}

// progress shows on stderr how far a setup's load has got, on the line
// that names the setup: stdout keeps only benchstat lines.
type progress struct {
	w     io.Writer
	label string
	total int
	every time.Duration
}

// show prints the progress of the load on c every p.every until loaded
// is closed.
func (p *progress) show(c *bench.Cluster, loaded <-chan struct{}) {
	if p.every <= 0 {
		<-loaded
		return
	}
	start, base := time.Now(), c.Loaded()
	tick := time.NewTicker(p.every)
	defer tick.Stop()
	for {
		select {
		case <-loaded:
			return
		case <-tick.C:
			done := c.Loaded() - base
			if p.total <= 0 { // a load bounded by time
				fmt.Fprintf(p.w, "\r%-90s %d committed, %v", p.label, done, time.Since(start).Round(time.Second))
				continue
			}
			fmt.Fprintf(p.w, "\r%-90s %d/%d committed (%.0f%%), %v", p.label, done, p.total,
				100*float64(done)/float64(p.total), time.Since(start).Round(time.Second))
		}
	}
}

// runOne starts a cluster for s, runs load on it while show reports
// progress, and verifies what every node delivered.
func runOne(ctx context.Context, s bench.Setup, dir string,
	show func(c *bench.Cluster, loaded <-chan struct{}), load func(context.Context, *bench.Cluster) error) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	sub, err := os.MkdirTemp(dir, "run-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(sub)
	c, err := bench.Start(ctx, s, sub)
	if err != nil {
		return err
	}
	defer c.Close()
	// The progress report ends before runOne returns, so that it never
	// writes over what comes next.
	loaded, shown := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(shown)
		show(c, loaded)
	}()
	err = load(ctx, c)
	close(loaded)
	<-shown
	if err != nil {
		return err
	}
	return c.Verify(ctx)
}

// profileCPU starts a CPU profile into path; stop ends it and closes the
// file.
func profileCPU(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		return nil, errors.Join(err, f.Close())
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
