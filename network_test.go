package raftlite_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
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

// netKind builds transports of one kind for a cluster. peers gives nodes 1
// to n addresses, fresh on every call: on loopback they are only
// candidates (see package loopback), which a start may find taken.
type netKind struct {
	name  string
	peers func(n int) map[raftlite.NodeID]string
	make  func(t *testing.T, id raftlite.NodeID) raftlite.Transport
}

func networkKinds(t *testing.T) []netKind {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	network := mem.NewNetwork(1)
	ca, err := tlsutil.NewCA("raftlite test")
	require.NoError(t, err)
	names := func(n int) map[raftlite.NodeID]string {
		peers := map[raftlite.NodeID]string{}
		for i := 1; i <= n; i++ {
			peers[raftlite.NodeID(i)] = fmt.Sprintf("n%d", i)
		}
		return peers
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

// loopbackPeers gives nodes 1 to n candidate addresses on 127.0.0.1, for
// tcp and quic alike.
func loopbackPeers(n int) map[raftlite.NodeID]string {
	peers := map[raftlite.NodeID]string{}
	for i, addr := range loopback.Candidates(n) {
		peers[raftlite.NodeID(i+1)] = addr
	}
	return peers
}

// realCluster is Nodes on real time and a real (or mem) transport.
type realCluster struct {
	t    *testing.T
	kind netKind
	// peers has every node's address; members, when not zero, says that
	// only nodes 1 to members are the first membership, and know only one
	// another's addresses, while the others start with Join.
	peers      map[raftlite.NodeID]string
	members    int
	nodes      map[raftlite.NodeID]*raftlite.Node
	persisters map[raftlite.NodeID]*raftlite.MemoryPersister
	mu         sync.Mutex
	delivered  map[raftlite.NodeID][]string
	readers    sync.WaitGroup
}

// startAll starts nodes 1-3 on fresh addresses and empty persisters, or
// none of them: if one fails to start, it stops the others.
func (c *realCluster) startAll() error { return c.startNodes(3) }

// startNodes starts nodes 1 to n, as startAll does.
func (c *realCluster) startNodes(n int) error {
	c.peers = c.kind.peers(n)
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
	peers, join := c.peers, false
	if c.members > 0 {
		peers, join = maps.Clone(c.peers), int(id) > c.members
		maps.DeleteFunc(peers, func(id raftlite.NodeID, _ string) bool { return !join && int(id) > c.members })
	}
	n, err := raftlite.New(raftlite.Config{ID: id, Peers: peers, Join: join, Transport: c.kind.make(c.t, id),
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

// A cluster grows on every transport: nodes 1-3 start knowing only one
// another's addresses, node 4 starts with Join and every address, and the
// leader adds it (AddVoter, with its address). The others learn that
// address from the configuration entry, and their transports from the
// Node (PeerUpdater): broadcasts from before and after, from node 4 too,
// commit and every node delivers them.
func TestGrowAClusterOnEveryTransport(t *testing.T) {
	for _, kind := range networkKinds(t) {
		t.Run(kind.name, func(t *testing.T) {
			c := &realCluster{t: t, kind: kind, members: 3, nodes: map[raftlite.NodeID]*raftlite.Node{},
				persisters: map[raftlite.NodeID]*raftlite.MemoryPersister{}, delivered: map[raftlite.NodeID][]string{}}
			require.NoError(t, loopback.Retry(func() error { return c.startNodes(4) }))
			defer func() {
				for id := range c.nodes {
					c.stop(id)
				}
				c.readers.Wait()
			}()

			c.broadcast(c.leader(), "before")
			add := raftlite.MembershipChange{Op: raftlite.AddVoter, ID: 4, Addr: c.peers[4]}
			var err error
			c.eventually("node 4 to be added", func() bool {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				err = c.nodes[c.leader()].ChangeMembership(ctx, add)
				// Retry while the leader has committed nothing in its term
				// yet, or leadership moved.
				return !errors.Is(err, raftlite.ErrChangeInProgress) && !errors.Is(err, raftlite.ErrNotLeader) &&
					!errors.Is(err, raftlite.ErrChangeLost)
			})
			require.NoError(t, err)
			c.broadcast(4, "from node 4")
			c.broadcast(c.leader(), "after")
			c.agree([]string{"before", "from node 4", "after"})
			var voters []raftlite.NodeID
			for _, m := range c.nodes[4].Status().Membership.Members {
				if !m.Learner {
					voters = append(voters, m.ID)
				}
			}
			require.Equal(t, []raftlite.NodeID{1, 2, 3, 4}, voters, "%s: node 4's view of the membership", kind.name)
		})
	}
}
