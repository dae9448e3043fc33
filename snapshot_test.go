package raftlite_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/transport/mem"
)

// snapApp is an application as the README shows it: its state is what it
// was handed, it snapshots when asked (from its delivery loop, so the state
// is exactly as of the index) and restores from the snapshots it is handed.
type snapApp struct {
	mu        sync.Mutex
	index     uint64
	state     []string // "index:data", in order
	restores  int
	snapshots int
	errs      []error
}

type snapState struct {
	Index uint64
	State []string
}

// run applies n's deliveries until n closes; done closes then.
func (a *snapApp) run(n *raftlite.Node) (done chan struct{}) {
	done = make(chan struct{})
	go func() {
		defer close(done)
		for d := range n.Deliveries() {
			a.apply(n, d)
		}
	}()
	return done
}

func (a *snapApp) apply(n *raftlite.Node, d raftlite.Delivery) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case d.Snapshot != nil:
		var s snapState
		if err := json.NewDecoder(d.Snapshot).Decode(&s); err != nil || s.Index != d.Index {
			a.errs = append(a.errs, fmt.Errorf("restoring the snapshot at %d: %v (it says %d)", d.Index, err, s.Index))
		}
		_, _ = io.Copy(io.Discard, d.Snapshot) // to the end, which releases it
		a.state, a.restores = s.State, a.restores+1
	case d.Index <= a.index:
		a.errs = append(a.errs, fmt.Errorf("handed index %d again, after %d", d.Index, a.index))
	default:
		a.state = append(a.state, fmt.Sprintf("%d:%s", d.Index, d.Data))
	}
	a.index = d.Index
	if d.SnapshotDue {
		err := n.Snapshot(context.Background(), d.Index, func(w io.Writer) error {
			return json.NewEncoder(w).Encode(snapState{Index: d.Index, State: a.state})
		})
		if err != nil && !errors.Is(err, raftlite.ErrClosed) {
			a.errs = append(a.errs, err)
		}
		a.snapshots++
	}
}

func (a *snapApp) at() (uint64, []string, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	require.Empty(nil, a.errs)
	return a.index, append([]string(nil), a.state...), a.restores
}

// snapCluster runs nodes that snapshot often, in small chunks.
type snapCluster struct {
	t     *testing.T
	net   *mem.Network
	peers map[raftlite.NodeID]string
	disks map[raftlite.NodeID]*raftlite.MemoryPersister
	nodes map[raftlite.NodeID]*raftlite.Node
	apps  map[raftlite.NodeID]*snapApp
	done  map[raftlite.NodeID]chan struct{}
}

func newSnapCluster(t *testing.T, size int) *snapCluster {
	c := &snapCluster{t: t, net: mem.NewNetwork(7), peers: map[raftlite.NodeID]string{},
		disks: map[raftlite.NodeID]*raftlite.MemoryPersister{}, nodes: map[raftlite.NodeID]*raftlite.Node{},
		apps: map[raftlite.NodeID]*snapApp{}, done: map[raftlite.NodeID]chan struct{}{}}
	for i := 1; i <= size; i++ {
		id := raftlite.NodeID(i)
		c.peers[id] = fmt.Sprint(id)
		c.disks[id] = raftlite.NewMemoryPersister()
	}
	for id := range c.peers {
		c.start(id, &snapApp{})
	}
	t.Cleanup(func() {
		for id := range c.nodes {
			c.stop(id)
		}
	})
	return c
}

// start runs node id with app, which tells the node how far it applied.
func (c *snapCluster) start(id raftlite.NodeID, app *snapApp) {
	n, err := raftlite.New(raftlite.Config{
		ID: id, Peers: c.peers, Transport: c.net.Transport(id), Persister: c.disks[id],
		RandSeed: uint64(id), Applied: app.index,
		SnapshotEvery: 20, TrailingEntries: 5, MaxBatchBytes: 256,
	})
	require.NoError(c.t, err)
	c.nodes[id], c.apps[id], c.done[id] = n, app, app.run(n)
}

func (c *snapCluster) stop(id raftlite.NodeID) {
	require.NoError(c.t, c.nodes[id].Close())
	<-c.done[id]
	delete(c.nodes, id)
}

func (c *snapCluster) broadcast(n int, prefix string) uint64 {
	var last uint64
	for i := range n {
		for id, node := range c.nodes {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			index, err := node.Broadcast(ctx, fmt.Appendf(nil, "%s-%d", prefix, i))
			cancel()
			require.NoError(c.t, err, "broadcast through node %d", id)
			last = index
			break
		}
	}
	return last
}

// agree waits until every running node's application is at index, and
// returns their (equal) state.
func (c *snapCluster) agree(index uint64) []string {
	var want []string
	for id := range c.nodes {
		for {
			at, state, _ := c.apps[id].at()
			if at >= index {
				if want == nil {
					want = state
				}
				require.Equal(c.t, want, state, "node %d's application state", id)
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return want
}

// A follower that was down while the others compacted their logs comes
// back to a leader that no longer has the entries it lacks: it is sent
// the leader's snapshot in chunks, its application restores it, and it
// carries on from there with exactly the others' state.
func TestAFollowerBehindTheCompactionPointIsSentASnapshot(t *testing.T) {
	scenario(t, func(t *testing.T) {
		c := newSnapCluster(t, 3)
		c.agree(c.broadcast(5, "before"))
		app3 := c.apps[3]
		c.stop(3)
		last := c.broadcast(120, "while-down")
		c.agree(last)
		for id, n := range c.nodes {
			assert.Greater(t, n.Status().SnapshotIndex, uint64(100), "node %d compacted", id)
		}
		c.start(3, app3)
		last = c.broadcast(5, "after")
		state := c.agree(last)
		_, _, restores := app3.at()
		assert.Equal(t, 1, restores, "node 3 restored the leader's snapshot")
		assert.Len(t, state, 5+120+5, "every message once")
	})
}

// A node restarted with Applied below its latest snapshot no longer has
// the log for what its application lacks: the application is handed the
// snapshot first, then the messages after it, and ends where it was.
func TestARestartBelowTheSnapshotRestoresIt(t *testing.T) {
	scenario(t, func(t *testing.T) {
		c := newSnapCluster(t, 1)
		last := c.broadcast(90, "m")
		want := c.agree(last)
		snap := c.nodes[1].Status().SnapshotIndex
		require.Greater(t, snap, uint64(5))
		c.stop(1)
		_, entries, err := c.disks[1].Load()
		require.NoError(t, err)
		assert.Less(t, len(entries), 20+5+2, "the persister keeps what follows the compaction point only")

		fresh := &snapApp{}
		c.start(1, fresh)
		assert.Equal(t, want, c.agree(last))
		_, _, restores := fresh.at()
		assert.Equal(t, 1, restores)
	})
}

// Node.Snapshot takes only an index it has delivered and that is after
// the latest snapshot.
func TestSnapshotRefusesIndicesItCannotTake(t *testing.T) {
	scenario(t, func(t *testing.T) {
		c := newSnapCluster(t, 1)
		last := c.broadcast(3, "m")
		c.agree(last)
		n := c.nodes[1]
		write := func(w io.Writer) error { _, err := w.Write([]byte("state")); return err }
		require.ErrorIs(t, n.Snapshot(context.Background(), last+1, write), raftlite.ErrSnapshotIndex)
		require.NoError(t, n.Snapshot(context.Background(), last, write))
		require.ErrorIs(t, n.Snapshot(context.Background(), last, write), raftlite.ErrSnapshotIndex)
		failing := errors.New("the application failed")
		last = c.broadcast(1, "more")
		c.agree(last)
		require.ErrorIs(t, n.Snapshot(context.Background(), last, func(io.Writer) error { return failing }), failing)
		assert.Equal(t, last-1, n.Status().SnapshotIndex, "a failed snapshot is not stored")
	})
}
