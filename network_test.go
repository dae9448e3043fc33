package raftlite_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/internal/loopback"
	"github.com/raftlite/raftlite/transport/mem"
	"github.com/raftlite/raftlite/transport/quic"
	"github.com/raftlite/raftlite/transport/tcp"
	"github.com/raftlite/raftlite/transport/tlsutil"
	"github.com/stretchr/testify/require"
)

// netKind builds transports of one kind for a three-node cluster. peers
// gives the nodes' addresses, fresh on every call: on loopback they are
// only candidates (see package loopback), which a start may find taken.
type netKind struct {
	name  string
	peers func() map[raftlite.NodeID]string
	make  func(t *testing.T, id raftlite.NodeID) raftlite.Transport
}

func networkKinds(t *testing.T) []netKind {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	network := mem.NewNetwork(1)
	ca, err := tlsutil.NewCA("raftlite test")
	require.NoError(t, err)
	names := func() map[raftlite.NodeID]string {
		return map[raftlite.NodeID]string{1: "n1", 2: "n2", 3: "n3"}
	}
	return []netKind{
		{"mem", names, func(t *testing.T, id raftlite.NodeID) raftlite.Transport { return network.Transport(id) }},
		{"tcp", loopbackPeers,
			func(t *testing.T, id raftlite.NodeID) raftlite.Transport {
				cfg, err := ca.Config(id)
				require.NoError(t, err)
				return tcp.New(tcp.Config{ClusterID: "test", TLS: cfg, Logger: quiet, MaxBackoff: 50 * time.Millisecond})
			}},
		{"quic", loopbackPeers,
			func(t *testing.T, id raftlite.NodeID) raftlite.Transport {
				cfg, err := ca.Config(id)
				require.NoError(t, err)
				return quic.New(quic.Config{ClusterID: "test", TLS: cfg, Logger: quiet, MaxBackoff: 50 * time.Millisecond})
			}},
	}
}

// loopbackPeers gives nodes 1-3 candidate addresses on 127.0.0.1, for tcp
// and quic alike.
func loopbackPeers() map[raftlite.NodeID]string {
	addrs := loopback.Candidates(3)
	return map[raftlite.NodeID]string{1: addrs[0], 2: addrs[1], 3: addrs[2]}
}

// realCluster is three Nodes on real time and a real (or mem) transport.
type realCluster struct {
	t          *testing.T
	kind       netKind
	peers      map[raftlite.NodeID]string
	nodes      map[raftlite.NodeID]*raftlite.Node
	persisters map[raftlite.NodeID]*raftlite.MemoryPersister
	mu         sync.Mutex
	delivered  map[raftlite.NodeID][]string
	readers    sync.WaitGroup
}

// startAll starts nodes 1-3 on fresh addresses and empty persisters, or
// none of them: if one fails to start, it stops the others.
func (c *realCluster) startAll() error {
	c.peers = c.kind.peers()
	for id := range c.peers {
		c.persisters[id] = raftlite.NewMemoryPersister()
		if err := c.tryStart(id); err != nil {
			for id := range c.nodes {
				c.stop(id)
			}
			return fmt.Errorf("%s: starting node %d: %w", c.kind.name, id, err)
		}
	}
	return nil
}

// start restarts node id on its address and persisted state.
func (c *realCluster) start(id raftlite.NodeID) {
	c.t.Helper()
	require.NoError(c.t, c.tryStart(id), "%s: restarting node %d on %s", c.kind.name, id, c.peers[id])
}

func (c *realCluster) tryStart(id raftlite.NodeID) error {
	n, err := raftlite.New(raftlite.Config{ID: id, Peers: c.peers, Transport: c.kind.make(c.t, id),
		Persister: c.persisters[id], ElectionTimeout: 150 * time.Millisecond, HeartbeatInterval: 30 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	c.nodes[id] = n
	c.mu.Lock()
	c.delivered[id] = nil
	c.mu.Unlock()
	c.readers.Go(func() {
		for d := range n.Deliveries() {
			c.mu.Lock()
			c.delivered[id] = append(c.delivered[id], string(d.Data))
			c.mu.Unlock()
		}
	})
	return nil
}

func (c *realCluster) stop(id raftlite.NodeID) {
	require.NoError(c.t, c.nodes[id].Close())
	delete(c.nodes, id)
}

// eventually polls cond against a real-time deadline: these tests run on a
// real network, where virtual time is not available.
func (c *realCluster) eventually(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: timed out waiting for %s", c.kind.name, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (c *realCluster) leader() raftlite.NodeID {
	c.t.Helper()
	var l raftlite.NodeID
	c.eventually("a leader", func() bool {
		var leaders []raftlite.NodeID
		for id, n := range c.nodes {
			if n.Status().Role == raftlite.Leader {
				leaders = append(leaders, id)
			}
		}
		if len(leaders) == 1 {
			l = leaders[0]
			return true
		}
		return false
	})
	return l
}

func (c *realCluster) broadcast(id raftlite.NodeID, msg string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_, err := c.nodes[id].Broadcast(ctx, []byte(msg))
	require.NoError(c.t, err, "%s: broadcast %q from %d", c.kind.name, msg, id)
}

// agree waits until every running node delivered the same want messages.
func (c *realCluster) agree(want []string) {
	c.t.Helper()
	c.eventually(fmt.Sprintf("every node to deliver %d messages", len(want)), func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for id := range c.nodes {
			if !slices.Equal(c.delivered[id], want) {
				return false
			}
		}
		return true
	})
}

// The same story on every transport: elect, agree, lose the leader, restart
// a node on its persisted state, and heal a node cut off by closing its
// transport and opening a new one on the same address.
func TestClusterOnEveryTransport(t *testing.T) {
	for _, kind := range networkKinds(t) {
		t.Run(kind.name, func(t *testing.T) {
			c := &realCluster{t: t, kind: kind, nodes: map[raftlite.NodeID]*raftlite.Node{},
				persisters: map[raftlite.NodeID]*raftlite.MemoryPersister{}, delivered: map[raftlite.NodeID][]string{}}
			// A port another process holds fails a start with EADDRINUSE;
			// Retry starts the cluster again on new candidates.
			require.NoError(t, loopback.Retry(c.startAll))
			defer func() {
				for id := range c.nodes {
					c.stop(id)
				}
				c.readers.Wait()
			}()

			// Election and agreement, from every node.
			l := c.leader()
			var want []string
			for id := raftlite.NodeID(1); id <= 3; id++ {
				msg := fmt.Sprintf("first from %d", id)
				c.broadcast(id, msg)
				want = append(want, msg)
			}
			c.agree(want)

			// Leader failover.
			c.stop(l)
			l2 := c.leader()
			require.NotEqual(t, l, l2)
			c.broadcast(l2, "after failover")
			want = append(want, "after failover")
			c.agree(want)

			// Restart of the old leader on its persisted state: it catches up
			// and delivers everything from the start.
			c.start(l)
			c.agree(want)

			// Partition healing: a follower's transport is closed (the node
			// with it); the rest carry on; a new transport on the same address
			// rejoins it.
			var f raftlite.NodeID
			for id := range c.nodes {
				if id != c.leader() {
					f = id
					break
				}
			}
			c.stop(f)
			c.broadcast(c.leader(), "while cut off")
			want = append(want, "while cut off")
			c.start(f)
			c.broadcast(f, "after healing")
			want = append(want, "after healing")
			c.agree(want)
		})
	}
}
