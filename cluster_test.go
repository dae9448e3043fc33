package raftlite_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/transport/mem"
	"github.com/stretchr/testify/require"
)

// cluster runs real Nodes on a mem network. Tests use it inside a
// testing/synctest bubble, so that its timers run on virtual time.
type cluster struct {
	t          *testing.T
	net        *mem.Network
	peers      map[raftlite.NodeID]string
	ids        []raftlite.NodeID
	nodes      map[raftlite.NodeID]*raftlite.Node
	persisters map[raftlite.NodeID]*raftlite.MemoryPersister

	mu        sync.Mutex
	delivered map[raftlite.NodeID][]raftlite.Delivery // per node, all lives concatenated per life
	readers   sync.WaitGroup
}

func newCluster(t *testing.T, size int, seed uint64) *cluster {
	c := &cluster{
		t: t, net: mem.NewNetwork(seed), peers: map[raftlite.NodeID]string{},
		nodes: map[raftlite.NodeID]*raftlite.Node{}, persisters: map[raftlite.NodeID]*raftlite.MemoryPersister{},
		delivered: map[raftlite.NodeID][]raftlite.Delivery{},
	}
	for i := 1; i <= size; i++ {
		id := raftlite.NodeID(i)
		c.ids = append(c.ids, id)
		c.peers[id] = fmt.Sprintf("node-%d", i)
		c.persisters[id] = raftlite.NewMemoryPersister()
	}
	for _, id := range c.ids {
		c.start(id)
	}
	t.Cleanup(c.stopAll)
	return c
}

// start (re)starts node id on its persister; deliveries of this life replace
// those of earlier lives, since each life delivers from the start.
func (c *cluster) start(id raftlite.NodeID) {
	n, err := raftlite.New(raftlite.Config{
		ID: id, Peers: c.peers, Transport: c.net.Transport(id), Persister: c.persisters[id],
		RandSeed: uint64(id)*7919 + uint64(len(c.delivered[id])),
	})
	require.NoError(c.t, err)
	c.nodes[id] = n
	c.mu.Lock()
	c.delivered[id] = nil
	c.mu.Unlock()
	c.readers.Add(1)
	go func() {
		defer c.readers.Done()
		for d := range n.Deliveries() {
			c.mu.Lock()
			c.delivered[id] = append(c.delivered[id], d)
			c.mu.Unlock()
		}
	}()
}

func (c *cluster) stop(id raftlite.NodeID) {
	if n := c.nodes[id]; n != nil {
		require.NoError(c.t, n.Close())
		delete(c.nodes, id)
	}
}

func (c *cluster) stopAll() {
	for _, id := range c.ids {
		c.stop(id)
	}
	c.readers.Wait()
}

// leader waits (in virtual time) until exactly one live node believes it
// leads in the highest term, and returns it.
func (c *cluster) leader() raftlite.NodeID {
	c.t.Helper()
	for range 100 {
		time.Sleep(100 * time.Millisecond)
		byTerm := map[uint64][]raftlite.NodeID{}
		var top uint64
		for id, n := range c.nodes {
			if s := n.Status(); s.Role == raftlite.Leader {
				byTerm[s.Term] = append(byTerm[s.Term], id)
				top = max(top, s.Term)
			}
		}
		for term, ls := range byTerm {
			require.LessOrEqual(c.t, len(ls), 1, "term %d has leaders %v", term, ls)
		}
		if len(byTerm[top]) == 1 {
			return byTerm[top][0]
		}
	}
	c.t.Fatalf("no leader elected")
	return 0
}

func (c *cluster) broadcast(from raftlite.NodeID, msg string) uint64 {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	idx, err := c.nodes[from].Broadcast(ctx, []byte(msg))
	require.NoError(c.t, err, "broadcast %q from %d", msg, from)
	return idx
}

// deliveredData returns what node id delivered in its current life.
func (c *cluster) deliveredData(id raftlite.NodeID) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, d := range c.delivered[id] {
		out = append(out, string(d.Data))
	}
	return out
}

// waitDelivered waits until every live node has delivered want messages.
func (c *cluster) waitDelivered(want int) {
	c.t.Helper()
	for range 200 {
		done := true
		for id := range c.nodes {
			if len(c.deliveredData(id)) < want {
				done = false
			}
		}
		if done {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	for id := range c.nodes {
		c.t.Logf("node %d delivered %d: %v", id, len(c.deliveredData(id)), c.nodes[id].Status())
	}
	c.t.Fatalf("not every node delivered %d messages", want)
}

// checkSameOrder asserts that every live node delivered the same sequence.
func (c *cluster) checkSameOrder() []string {
	c.t.Helper()
	var ref []string
	for _, id := range c.ids {
		if c.nodes[id] == nil {
			continue
		}
		got := c.deliveredData(id)
		if ref == nil {
			ref = got
		}
		require.True(c.t, slices.Equal(ref, got), "node %d delivered %v, another %v", id, got, ref)
	}
	return ref
}
