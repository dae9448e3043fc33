package bench

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/raftlite/raftlite"
)

// BenchmarkRoundTrip sends one message from node 1 to node 2 and back
// through a transport, many times in turn, and reports the p50. Node 2
// replies at once, or after it overwrites 4 KiB of a file and fdatasyncs
// it, as a follower does before it acknowledges; there the figure that
// matters is rtt-after-sync-p50-ns less sync-p50-ns: what a commit pays
// for the transport once the cores have gone idle during a disk sync.
// It is how quic's extra cost on the WAL was told apart from its cost in
// memory (README, "Benchmarks").
func BenchmarkRoundTrip(b *testing.B) {
	longRun(b)
	for _, kind := range []string{"tcp", "quic", "mem"} {
		for _, syncFirst := range []bool{false, true} {
			name := kind + "/reply=at-once"
			if syncFirst {
				name = kind + "/reply=after-fdatasync"
			}
			b.Run(name, func(b *testing.B) { roundTrips(b, kind, syncFirst) })
		}
	}
}

func roundTrips(b *testing.B, kind string, syncFirst bool) {
	ids := []raftlite.NodeID{1, 2}
	nw, err := transports[kind](ids, Setup{Transport: kind})
	if err != nil {
		b.Fatal(err)
	}
	if nw.close != nil {
		defer nw.close()
	}
	f, err := os.Create(filepath.Join(b.TempDir(), "log"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 4096)
	if _, err := f.Write(block); err != nil { // overwritten from now on
		b.Fatal(err)
	}
	if err := fdatasync(f); err != nil {
		b.Fatal(err)
	}
	var (
		mu    sync.Mutex
		syncs []time.Duration
	)
	a, err := nw.newTransport(1)
	if err != nil {
		b.Fatal(err)
	}
	z, err := nw.newTransport(2)
	if err != nil {
		b.Fatal(err)
	}
	back := make(chan time.Time, 1)
	if err := z.Start(2, nw.peers(2), func(m raftlite.Message) {
		if syncFirst {
			start := time.Now()
			if _, err := f.WriteAt(block, 0); err == nil {
				_ = fdatasync(f)
			}
			mu.Lock()
			syncs = append(syncs, time.Since(start))
			mu.Unlock()
		}
		z.Send(raftlite.Message{Kind: raftlite.MsgLogResponse, From: 2, To: 1, Term: m.Term})
	}); err != nil {
		b.Fatal(err)
	}
	defer z.Close()
	if err := a.Start(1, nw.peers(1), func(raftlite.Message) { back <- time.Now() }); err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	// The first round trips wait for the connections: resend until one
	// comes back.
	for warm := false; !warm; {
		a.Send(raftlite.Message{Kind: raftlite.MsgLogRequest, From: 1, To: 2, Term: 1})
		select {
		case <-back:
			warm = true
		case <-time.After(50 * time.Millisecond):
		}
	}
	for len(back) > 0 {
		<-back
	}
	mu.Lock()
	syncs = syncs[:0]
	mu.Unlock()
	rtts := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		a.Send(raftlite.Message{Kind: raftlite.MsgLogRequest, From: 1, To: 2, Term: 1})
		select {
		case end := <-back:
			rtts = append(rtts, end.Sub(start))
		case <-time.After(10 * time.Second):
			b.Fatal("no reply in 10 s")
		}
	}
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	if syncFirst {
		b.ReportMetric(float64(median(rtts)), "rtt-after-sync-p50-ns")
		b.ReportMetric(float64(median(syncs)), "sync-p50-ns")
	} else {
		b.ReportMetric(float64(median(rtts)), "rtt-p50-ns")
	}
}
