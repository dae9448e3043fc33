package raftlite_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/transport/mem"
	"github.com/raftlite/raftlite/wal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// On the write-ahead log, a node holds only the recent part of a long log
// in memory. A follower that was down the whole time is brought up to date
// from entries the leader reads back from disk, and a node restarted with
// Config.Applied delivers the rest of the log from its own disk.
func TestLongLogLeavesMemoryAndIsReadBack(t *testing.T) {
	const total = 3*4096 + 500 // more than three chunks of the in-memory log // more than three chunks of the in-memory log
	dirs := map[raftlite.NodeID]string{1: t.TempDir(), 2: t.TempDir(), 3: t.TempDir()}
	synctest.Test(t, func(t *testing.T) {
		net := mem.NewNetwork(1)
		peers := map[raftlite.NodeID]string{1: "", 2: "", 3: ""}
		nodes := map[raftlite.NodeID]*raftlite.Node{}
		var mu sync.Mutex
		delivered := map[raftlite.NodeID][]raftlite.Delivery{}
		readers := map[raftlite.NodeID]chan struct{}{}
		start := func(id raftlite.NodeID, applied uint64) {
			log, err := wal.Open(dirs[id], wal.Options{SegmentSize: 256 << 10})
			require.NoError(t, err)
			n, err := raftlite.New(raftlite.Config{ID: id, Peers: peers, Transport: net.Transport(id), Persister: log,
				Applied: applied, RandSeed: uint64(id)})
			require.NoError(t, err)
			nodes[id] = n
			mu.Lock()
			delivered[id] = nil
			mu.Unlock()
			done := make(chan struct{})
			readers[id] = done
			go func() {
				defer close(done)
				for d := range n.Deliveries() {
					mu.Lock()
					delivered[id] = append(delivered[id], d)
					mu.Unlock()
				}
			}()
		}
		stop := func(id raftlite.NodeID) {
			require.NoError(t, nodes[id].Close())
			delete(nodes, id)
			<-readers[id]
		}
		count := func(id raftlite.NodeID) int {
			mu.Lock()
			defer mu.Unlock()
			return len(delivered[id])
		}
		waitFor := func(id raftlite.NodeID, want int) {
			for range 600 {
				if count(id) >= want {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
			t.Fatalf("node %d delivered %d of %d: %+v", id, count(id), want, nodes[id].Status())
		}
		for id := range peers {
			start(id, 0)
		}
		defer func() {
			for id := range nodes {
				stop(id)
			}
		}()
		stop(3)

		// A long log, written while node 3 is down.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var wg sync.WaitGroup
		for k := range 64 {
			wg.Go(func() {
				for j := k; j < total; j += 64 {
					_, err := nodes[1+raftlite.NodeID(j%2)].Broadcast(ctx, fmt.Appendf(nil, "m%05d", j))
					assert.NoError(t, err)
				}
			})
		}
		wg.Wait()
		waitFor(1, total)
		waitFor(2, total)
		for _, id := range []raftlite.NodeID{1, 2} {
			held := nodes[id].Status().HeldEntries
			assert.Less(t, held, uint64(2*4096), "node %d holds %d entries of a log of %d", id, held, total)
		}

		// Node 3 catches up from what the leader reads back from disk.
		start(3, 0)
		waitFor(3, total)

		// Node 2 restarts knowing its application processed the first
		// half: it delivers only the rest, read back from its own disk.
		mu.Lock()
		ref := slices.Clone(delivered[1])
		mu.Unlock()
		half := ref[total/2-1].Index
		stop(2)
		start(2, half)
		waitFor(2, total-total/2)

		mu.Lock()
		defer mu.Unlock()
		assert.Equal(t, ref, delivered[3], "node 3 delivered the same sequence")
		assert.Equal(t, ref[total/2:], delivered[2], "node 2 delivered exactly what followed Applied")
	})
}
