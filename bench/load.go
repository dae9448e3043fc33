package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"golang.org/x/sync/errgroup"
)

// Running is a load without end: the setup's clients broadcast until Stop,
// and each commit's latency is kept only until the window it falls in is
// read (Window), so that memory does not grow with the run.
type Running struct {
	c       *Cluster
	cancel  context.CancelFunc
	done    chan struct{} // closed once every client returned
	err     error         // the first client's failure, set before done closes
	commits atomic.Int64

	mu     sync.Mutex
	window []time.Duration // latencies since the window began
	spare  []time.Duration // the previous window's, reused
	since  time.Time
	syncs  int64
}

// Run starts a load without end on the cluster.
func (c *Cluster) Run(ctx context.Context) (*Running, error) {
	target, err := c.target(ctx)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &Running{c: c, cancel: cancel, done: make(chan struct{}), since: time.Now(), syncs: c.totalSyncs()}
	// One client failing stops the load: its figures would no longer be
	// the setup's.
	g, ctx := errgroup.WithContext(ctx)
	first := c.clients
	c.clients += max(c.setup.Clients, 1)
	for k := range max(c.setup.Clients, 1) {
		g.Go(func() error {
			err := c.runClient(ctx, target, first+k, -1, func(_ uint64, _ []byte, took time.Duration) bool {
				r.mu.Lock()
				r.window = append(r.window, took)
				r.commits.Add(1) // after: a window read once n commits are counted holds them
				r.mu.Unlock()
				return true
			})
			if err != nil {
				return fmt.Errorf("bench: client %d: %w", k, err)
			}
			return nil
		})
	}
	go func() {
		r.err = g.Wait()
		close(r.done)
	}()
	return r, nil
}

// Commits returns how many broadcasts the load committed so far.
func (r *Running) Commits() int64 { return r.commits.Load() }

// Window returns the figures of the commits since the last call (or since
// Run), and starts a new window.
func (r *Running) Window() Result {
	syncs := r.c.totalSyncs()
	r.mu.Lock()
	lat, since := r.window, r.since
	r.window, r.spare = r.spare[:0], lat
	r.since = time.Now()
	syncsBefore := r.syncs
	r.syncs = syncs
	r.mu.Unlock()
	return summarize(lat, time.Since(since), syncs-syncsBefore)
}

// WaitCommits waits until the load has committed n broadcasts in all. It
// fails if the load stopped.
func (r *Running) WaitCommits(ctx context.Context, n int64) error {
	stopped := false
	err := poll(ctx, time.Millisecond, func() bool {
		select {
		case <-r.done:
			stopped = true
			return true
		default:
			return r.Commits() >= n
		}
	})
	if err == nil && stopped {
		err = errors.Join(errors.New("bench: the load stopped"), r.err)
	}
	return err
}

// Stop stops the load, waits for its clients to return and returns why
// one failed, if one did.
func (r *Running) Stop() error {
	r.cancel()
	<-r.done
	return r.err
}

// NodeSample is one node as a Sample saw it.
type NodeSample struct {
	SnapshotIndex uint64 // Status.SnapshotIndex
	HeldEntries   uint64 // Status.HeldEntries
	Delivered     uint64 // Status.Delivered
}

// Sample is one interval of a Running load and the process at its end.
type Sample struct {
	At     time.Duration // since the load started
	Window Result        // the interval's commits
	// DiskBytes is the size of all files in the nodes' data directories.
	DiskBytes int64
	// RSSBytes is the process's resident set (VmRSS); HeapBytes the Go
	// heap's live and unswept objects (runtime.MemStats.HeapAlloc).
	RSSBytes, HeapBytes uint64
	Nodes               []NodeSample
}

// Sample takes a sample of the load r, which started at start, and starts
// its next window.
func (c *Cluster) Sample(r *Running, start time.Time) (Sample, error) {
	s := Sample{At: time.Since(start), Window: r.Window()}
	var err error
	if s.DiskBytes, err = dirBytes(c.dir); err != nil {
		return s, err
	}
	if s.RSSBytes, err = rss(); err != nil {
		return s, err
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.HeapBytes = ms.HeapAlloc
	for _, n := range c.nodes {
		st := n.Status()
		s.Nodes = append(s.Nodes, NodeSample{SnapshotIndex: st.SnapshotIndex, HeldEntries: st.HeldEntries, Delivered: st.Delivered})
	}
	return s, nil
}

// Endless runs a load without end on the cluster and takes n samples of
// it, one each time next returns (next waits for the time, or the
// commits, a sample should cover), handing each to each. Then it stops
// the load and checks that the applications agree (Agree).
func (c *Cluster) Endless(ctx context.Context, n int, next func(*Running) error, each func(Sample)) ([]Sample, error) {
	r, err := c.Run(ctx)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	var samples []Sample
	for len(samples) < n {
		err := next(r)
		var s Sample
		if err == nil {
			s, err = c.Sample(r, start)
		}
		if err != nil {
			return samples, errors.Join(err, r.Stop())
		}
		samples = append(samples, s)
		each(s)
	}
	if err := r.Stop(); err != nil {
		return samples, err
	}
	return samples, c.Agree(ctx)
}

// dirBytes is the size of the files under dir; files removed while it
// looks are not counted.
func dirBytes(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		total += info.Size()
		return nil
	})
	return total, err
}

// rss returns the process's resident set size, from /proc/self/status (0
// where there is none).
func rss() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, sc.Err()
}

// watchMemory samples the live heap and RSS every so often until stop,
// which returns the highest of each; it returns them as they are now
// first, after a GC, as the base to compare with.
func watchMemory(every time.Duration) (heap, rss int64, stop func() (peakHeap, peakRSS int64)) {
	runtime.GC()
	heap, rss = liveHeap(), residentBytes()
	peakHeap, peakRSS := heap, rss
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		for {
			peakHeap, peakRSS = max(peakHeap, liveHeap()), max(peakRSS, residentBytes())
			select {
			case <-done:
				return
			case <-time.After(every):
			}
		}
	}()
	return heap, rss, func() (int64, int64) {
		close(done)
		<-finished
		return peakHeap, peakRSS
	}
}

// liveHeap is the live heap as the last GC found it: what is held, not the
// garbage the GC lets accumulate until its next cycle.
func liveHeap() int64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// residentBytes is rss, 0 if it cannot be read.
func residentBytes() int64 {
	n, _ := rss()
	return int64(n)
}

// Drift compares the second half of an endless run's samples with its
// first, the very first sample (a warm-up) left out: for disk use, RSS,
// heap and p99, the largest of the second half over the largest of the
// first. What stays flat is near 1 or below; what grows with time is well
// above.
type Drift struct {
	Disk float64 // of Sample.DiskBytes
	RSS  float64 // of Sample.RSSBytes
	Heap float64 // of Sample.HeapBytes
	P99  float64 // of Sample.Window.P99
}

// DriftOf returns the drift of samples; it is zero if there are fewer
// than three.
func DriftOf(samples []Sample) Drift {
	if len(samples) < 3 {
		return Drift{}
	}
	s := samples[1:]
	first, second := s[:len(s)/2], s[len(s)/2:]
	ratio := func(f func(Sample) float64) float64 {
		top := func(ss []Sample) float64 {
			m := 0.0
			for _, x := range ss {
				m = max(m, f(x))
			}
			return m
		}
		if a := top(first); a > 0 {
			return top(second) / a
		}
		return 0
	}
	return Drift{
		Disk: ratio(func(x Sample) float64 { return float64(x.DiskBytes) }),
		RSS:  ratio(func(x Sample) float64 { return float64(x.RSSBytes) }),
		Heap: ratio(func(x Sample) float64 { return float64(x.HeapBytes) }),
		P99:  ratio(func(x Sample) float64 { return float64(x.Window.P99) }),
	}
}

// WriteSamples writes samples as a table, p99 also as a multiple of
// floor (a commit's own floor: a loopback round trip and, with the WAL, a
// disk sync).
func WriteSamples(w io.Writer, samples []Sample, floor time.Duration) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "t\tcommits/s\tp99\tp99/floor\tdisk MB\tRSS MB\theap MB\tsnapshot index per node\theld entries per node\t")
	const mb = 1 << 20
	for _, s := range samples {
		var snaps, held []string
		for _, n := range s.Nodes {
			snaps = append(snaps, strconv.FormatUint(n.SnapshotIndex, 10))
			held = append(held, strconv.FormatUint(n.HeldEntries, 10))
		}
		fmt.Fprintf(tw, "%v\t%.0f\t%v\t%.1f\t%.1f\t%.1f\t%.1f\t%s\t%s\t\n",
			s.At.Round(time.Second), s.Window.PerSecond(), s.Window.P99.Round(10*time.Microsecond),
			float64(s.Window.P99)/float64(floor), float64(s.DiskBytes)/mb, float64(s.RSSBytes)/mb,
			float64(s.HeapBytes)/mb, strings.Join(snaps, " "), strings.Join(held, " "))
	}
	return tw.Flush()
}
