package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftlite/raftlite"
)

var transferMiB = flag.Int("transfer.mib", 64, "size in MiB of the snapshot BenchmarkSnapshotTransferMemory streams (1024 for the 1 GiB figure)")

// transferChunk and transferWindow are the chunk size (MaxBatchBytes) and
// the bytes in flight (MaxInflightBytes) of the transfer measured.
const (
	transferChunk  = 1 << 20
	transferWindow = 4 << 20
)

// BenchmarkSnapshotTransferMemory streams a snapshot of -transfer.mib MiB
// from a leader to a follower that starts on an empty disk, over tcp, with
// the WAL on both sides, the follower's application reading it to the end;
// it reports how far the process's live heap and RSS grew above where they
// were before the follower started, in MiB, and the live heap's growth in
// chunks (MaxBatchBytes): what both sides hold at once, whatever the
// snapshot's size. RSS also holds the garbage the GC lets accumulate
// between cycles (GOGC), which the transfer's copies of each chunk feed.
func BenchmarkSnapshotTransferMemory(b *testing.B) {
	size := int64(*transferMiB) << 20
	for b.Loop() {
		heap, rss, elapsed, err := transferOnce(b.TempDir(), "tcp", size)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(heap)/(1<<20), "heap-growth-MiB")
		b.ReportMetric(float64(rss)/(1<<20), "rss-growth-MiB")
		b.ReportMetric(float64(heap)/transferChunk, "chunks-held")
		b.ReportMetric(float64(size)/(1<<20)/elapsed.Seconds(), "MiB/s")
	}
}

// TestSnapshotTransferStreamsAndRestores is the bounded form: a 3 MiB
// snapshot, in 1 MiB chunks, reaches a follower on an empty disk, whose
// application reads back exactly what the leader's wrote.
func TestSnapshotTransferStreamsAndRestores(t *testing.T) {
	if _, _, _, err := transferOnce(t.TempDir(), "mem", 3<<20+17); err != nil {
		t.Fatal(err)
	}
}

// transferOnce runs one transfer of a snapshot of size bytes and returns
// the peak growth of the heap and of RSS while it ran, and how long it took.
func transferOnce(dir, transport string, size int64) (heap, rss int64, elapsed time.Duration, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	ids := []raftlite.NodeID{1, 2, 3}
	peers, newTransport, err := transports[transport](ids)
	if err != nil {
		return 0, 0, 0, err
	}
	start := func(id raftlite.NodeID) (*raftlite.Node, error) {
		p, _, err := persisters["wal"](filepath.Join(dir, fmt.Sprint("node-", id)), Setup{})
		if err != nil {
			return nil, err
		}
		t, err := newTransport(id)
		if err != nil {
			return nil, errors.Join(err, p.Close())
		}
		return raftlite.New(raftlite.Config{ID: id, Peers: peers, Transport: t, Persister: p,
			ElectionTimeout: 300 * time.Millisecond, RandSeed: uint64(id), TrailingEntries: 1,
			MaxBatchBytes: transferChunk, MaxInflightBytes: transferWindow,
			Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	}
	var nodes []*raftlite.Node
	defer func() {
		for _, n := range nodes {
			err = errors.Join(err, n.Close())
		}
	}()
	for _, id := range ids[:2] {
		n, err := start(id)
		if err != nil {
			return 0, 0, 0, err
		}
		nodes = append(nodes, n)
		go drain(n)
	}
	// A few messages, then the leader's application stores its state and
	// the log is compacted behind it: node 3 can only get the snapshot.
	var index uint64
	for i := range 3 {
		if index, err = nodes[0].Broadcast(ctx, []byte(fmt.Sprint("m", i))); err != nil {
			return 0, 0, 0, err
		}
	}
	leader := nodes[0]
	if leader.Status().Role != raftlite.Leader {
		leader = nodes[1]
	}
	if err := waitFor(ctx, func() bool { return leader.Status().Delivered >= index }); err != nil {
		return 0, 0, 0, err
	}
	err = leader.Snapshot(ctx, index, func(w io.Writer) error {
		_, err := io.Copy(w, &pattern{n: size})
		return err
	})
	if err != nil {
		return 0, 0, 0, err
	}
	if _, err = nodes[0].Broadcast(ctx, []byte("after")); err != nil {
		return 0, 0, 0, err
	}

	runtime.GC()
	baseHeap, baseRSS := heapInUse(), residentBytes()
	var peak peakMemory
	stop := peak.watch(10 * time.Millisecond)
	began := time.Now()
	follower, err := start(3)
	if err != nil {
		stop()
		return 0, 0, 0, err
	}
	nodes = append(nodes, follower)
	restored := make(chan error, 1)
	go func() { restored <- readRestore(follower, size) }()
	err = <-restored
	elapsed = time.Since(began)
	stop()
	if err != nil {
		return 0, 0, 0, err
	}
	return peak.heap - baseHeap, peak.rss - baseRSS, elapsed, nil
}

// readRestore reads node's deliveries until its application has read a
// snapshot whole, checking it is the pattern of size bytes.
func readRestore(node *raftlite.Node, size int64) error {
	for d := range node.Deliveries() {
		if d.Snapshot == nil {
			continue
		}
		want := &pattern{n: size}
		buf, wbuf := make([]byte, 64<<10), make([]byte, 64<<10)
		var got int64
		for {
			k, err := d.Snapshot.Read(buf)
			if _, werr := io.ReadFull(want, wbuf[:k]); werr != nil || string(buf[:k]) != string(wbuf[:k]) {
				return fmt.Errorf("the restored snapshot differs from the one taken at byte %d", got)
			}
			got += int64(k)
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
		}
		if got != size {
			return fmt.Errorf("restored %d bytes of %d", got, size)
		}
		go drain(node)
		return nil
	}
	return errors.New("the follower stopped before it restored a snapshot")
}

func drain(n *raftlite.Node) {
	for d := range n.Deliveries() {
		if d.Snapshot != nil {
			_ = d.Snapshot.Close()
		}
	}
}

func waitFor(ctx context.Context, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// pattern yields n bytes that depend on their offset, holding none.
type pattern struct{ off, n int64 }

func (p *pattern) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.n-p.off)]
	for i := range b {
		o := p.off + int64(i)
		b[i] = byte(o ^ o>>9 ^ o>>17)
	}
	p.off += int64(len(b))
	return len(b), nil
}

// peakMemory samples the heap and RSS until stopped, keeping the highest.
type peakMemory struct {
	mu        sync.Mutex
	heap, rss int64
}

func (p *peakMemory) watch(every time.Duration) (stop func()) {
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		for {
			h, r := heapInUse(), residentBytes()
			p.mu.Lock()
			p.heap, p.rss = max(p.heap, h), max(p.rss, r)
			p.mu.Unlock()
			select {
			case <-done:
				return
			case <-time.After(every):
			}
		}
	}()
	return func() { close(done); <-finished }
}

// heapInUse is the live heap as the last GC found it: what is held, not
// the garbage waiting for the next cycle (which GOGC lets grow to the
// size of the live heap).
func heapInUse() int64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// residentBytes is the process's RSS from /proc, or 0 where there is none.
func residentBytes() int64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
