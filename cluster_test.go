package raftlite_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/transport/mem"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// scenario runs f in a testing/synctest bubble, so that every timer of the
// nodes, the network and the test itself runs on virtual time, and checks
// afterwards that no goroutine outlived it. (synctest.Test already refuses
// to return while a goroutine of the bubble is alive; goleak also catches
// goroutines started outside the bubble.)
func scenario(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	defer goleak.VerifyNone(t)
	synctest.Test(t, f)
}

// cluster runs real Nodes on a mem network. Tests use it inside a
// testing/synctest bubble, so that its timers run on virtual time.
type cluster struct {
	t          *testing.T
	net        *mem.Network
	peers      map[raftlite.NodeID]string
	ids        []raftlite.NodeID
	nodes      map[raftlite.NodeID]*raftlite.Node
	persisters map[raftlite.NodeID]*raftlite.MemoryPersister // what each node's disk holds durably
	disks      map[raftlite.NodeID]*crashDisk                // each running node's disk
	lives      map[raftlite.NodeID]int
	readerDone map[raftlite.NodeID]chan struct{}
	// taps holds, per node started with tapped transport, a way to inject
	// raw messages as if the network had delivered them.
	taps map[raftlite.NodeID]*tapTransport

	mu        sync.Mutex
	delivered map[raftlite.NodeID][]raftlite.Delivery // per node, this life's deliveries
	// nodes is written under mu, so that clients can read it with node().
	// termLeaders remembers every (term, leader) ever observed, to check
	// that no term ever has two leaders, even at different moments.
	termLeaders map[uint64]raftlite.NodeID
	barriers    int
	// configure, if set, adjusts every node's Config.
	configure func(*raftlite.Config)
	loads     int // steady loads started, to number their payloads
}

func newCluster(t *testing.T, size int, seed uint64) *cluster {
	return newClusterWith(t, size, seed, nil)
}

// newClusterWith starts a cluster whose nodes' Config configure adjusts.
func newClusterWith(t *testing.T, size int, seed uint64, configure func(*raftlite.Config)) *cluster {
	c := &cluster{configure: configure,
		t: t, net: mem.NewNetwork(seed), peers: map[raftlite.NodeID]string{},
		nodes: map[raftlite.NodeID]*raftlite.Node{}, persisters: map[raftlite.NodeID]*raftlite.MemoryPersister{},
		disks: map[raftlite.NodeID]*crashDisk{},
		lives: map[raftlite.NodeID]int{}, readerDone: map[raftlite.NodeID]chan struct{}{},
		taps:      map[raftlite.NodeID]*tapTransport{},
		delivered: map[raftlite.NodeID][]raftlite.Delivery{}, termLeaders: map[uint64]raftlite.NodeID{},
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

// startOptions vary how a node is started.
type startOptions struct {
	// applied is Config.Applied: the node delivers only what follows it.
	applied uint64
	// tap wraps the transport so that the test can inject raw messages.
	tap bool
}

// start (re)starts node id on its persister; deliveries of this life replace
// those of earlier lives, since each life delivers from the start.
func (c *cluster) start(id raftlite.NodeID) { c.startWith(id, startOptions{}) }

func (c *cluster) startWith(id raftlite.NodeID, opts startOptions) {
	c.t.Helper()
	require.Nil(c.t, c.nodes[id], "node %d is already running", id)
	c.lives[id]++
	var tr raftlite.Transport = c.net.Transport(id)
	if opts.tap {
		tap := &tapTransport{Transport: tr.(*mem.Transport)}
		c.taps[id] = tap
		tr = tap
	}
	disk := newCrashDisk(c.persisters[id], uint64(id)<<16|uint64(c.lives[id]))
	c.disks[id] = disk
	cfg := raftlite.Config{
		ID: id, Peers: c.peers, Transport: tr, Persister: disk,
		RandSeed: uint64(id)*7919 + uint64(c.lives[id]),
		Applied:  opts.applied,
	}
	if c.configure != nil {
		c.configure(&cfg)
	}
	n, err := raftlite.New(cfg)
	require.NoError(c.t, err)
	c.mu.Lock()
	c.nodes[id] = n
	c.delivered[id] = nil
	c.mu.Unlock()
	done := make(chan struct{})
	c.readerDone[id] = done
	go func() {
		defer close(done)
		for d := range n.Deliveries() {
			c.mu.Lock()
			c.delivered[id] = append(c.delivered[id], d)
			c.mu.Unlock()
		}
	}()
}

// stop crashes node id: the saves its disk had not finished are lost or
// torn, and the node stops. It waits until the node's deliveries are all
// recorded.
func (c *cluster) stop(id raftlite.NodeID) {
	c.t.Helper()
	if n := c.nodes[id]; n != nil {
		c.disks[id].crash()
		if err := raftlite.CloseNow(n); err != nil {
			require.ErrorIs(c.t, err, errCrashed, "node %d stopped for another reason", id)
		}
		c.mu.Lock()
		delete(c.nodes, id)
		c.mu.Unlock()
		<-c.readerDone[id]
		delete(c.taps, id)
	}
}

// node returns node id if it is running. Unlike c.nodes, which only the
// test's goroutine may read, it is safe to call from client goroutines.
func (c *cluster) node(id raftlite.NodeID) *raftlite.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[id]
}

func (c *cluster) stopAll() {
	for _, id := range c.ids {
		c.stop(id)
	}
}

func (c *cluster) live() []raftlite.NodeID {
	var ids []raftlite.NodeID
	for _, id := range c.ids {
		if c.nodes[id] != nil {
			ids = append(ids, id)
		}
	}
	return ids
}

// observe records who leads in which term among the live nodes, and fails if
// a term ever has two leaders. It returns the leaders by term seen now.
func (c *cluster) observe() map[uint64][]raftlite.NodeID {
	c.t.Helper()
	byTerm := map[uint64][]raftlite.NodeID{}
	for _, id := range c.live() {
		s := c.nodes[id].Status()
		if s.Role != raftlite.Leader {
			continue
		}
		byTerm[s.Term] = append(byTerm[s.Term], id)
		if prev, ok := c.termLeaders[s.Term]; ok && prev != id {
			c.t.Fatalf("term %d has two leaders: %d and %d", s.Term, prev, id)
		}
		c.termLeaders[s.Term] = id
	}
	return byTerm
}

// leader waits (in virtual time) until exactly one live node believes it
// leads in the highest term, and returns it.
func (c *cluster) leader() raftlite.NodeID {
	c.t.Helper()
	return c.leaderAmong(c.live())
}

// leaderAmong waits until one of ids leads in a term at least as high as any
// of ids knows, so that it is the leader of that group, and returns it.
func (c *cluster) leaderAmong(ids []raftlite.NodeID) raftlite.NodeID {
	c.t.Helper()
	for range 100 {
		time.Sleep(100 * time.Millisecond)
		c.observe()
		var top uint64
		leader := raftlite.None
		for _, id := range ids {
			n := c.nodes[id]
			if n == nil {
				continue
			}
			s := n.Status()
			switch {
			case s.Term > top:
				top, leader = s.Term, raftlite.None
				if s.Role == raftlite.Leader {
					leader = id
				}
			case s.Term == top && s.Role == raftlite.Leader:
				leader = id
			}
		}
		if leader != raftlite.None {
			return leader
		}
	}
	c.dump()
	c.t.Fatalf("no leader elected among %v", ids)
	return 0
}

// broadcast broadcasts msg from node from and requires it to commit.
func (c *cluster) broadcast(from raftlite.NodeID, msg string) uint64 {
	c.t.Helper()
	idx, err := c.broadcastFor(from, msg, 10*time.Second)
	require.NoError(c.t, err, "broadcast %q from %d", msg, from)
	return idx
}

// broadcastFor broadcasts msg from node from, giving up after d.
func (c *cluster) broadcastFor(from raftlite.NodeID, msg string, d time.Duration) (uint64, error) {
	n := c.nodes[from]
	if n == nil {
		return 0, raftlite.ErrClosed
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return n.Broadcast(ctx, []byte(msg))
}

// deliveries returns what node id delivered in its current life.
func (c *cluster) deliveries(id raftlite.NodeID) []raftlite.Delivery {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.delivered[id])
}

// deliveredData returns the payloads node id delivered in its current life.
func (c *cluster) deliveredData(id raftlite.NodeID) []string {
	var out []string
	for _, d := range c.deliveries(id) {
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
	c.dump()
	c.t.Fatalf("not every node delivered %d messages", want)
}

// waitDeliveredIndex waits until every live node has delivered the message
// at index i.
func (c *cluster) waitDeliveredIndex(i uint64) {
	c.t.Helper()
	for range 400 {
		done := true
		for _, id := range c.live() {
			ds := c.deliveries(id)
			if len(ds) == 0 || ds[len(ds)-1].Index < i {
				done = false
			}
		}
		if done {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.dump()
	c.t.Fatalf("not every node delivered index %d", i)
}

// settle brings the cluster back to health and waits until every live node
// has delivered everything that will ever commit: each live node broadcasts
// a barrier, and as a node's broadcasts commit in the order it accepted them,
// once its barrier is delivered so is everything it accepted before.
func (c *cluster) settle() {
	c.t.Helper()
	c.net.SetLoss(0, 0)
	c.net.SetDelay(0, 0)
	c.net.SetReorder(0)
	c.net.Heal()
	c.leader()
	var top uint64
	for _, id := range c.live() {
		c.barriers++
		top = max(top, c.broadcast(id, fmt.Sprintf("barrier-%d", c.barriers)))
	}
	c.waitDeliveredIndex(top)
}

func (c *cluster) dump() {
	for _, id := range c.live() {
		hs, ents, _ := c.persisters[id].Load()
		var last raftlite.Entry
		if len(ents) > 0 {
			last = ents[len(ents)-1]
		}
		c.t.Logf("node %d delivered %d: %+v; saved %+v, last entry index %d term %d", id, len(c.deliveredData(id)), c.nodes[id].Status(), hs, last.Index, last.Term)
	}
}

// checkSameOrder asserts that every live node delivered the same sequence,
// and returns it.
func (c *cluster) checkSameOrder() []string {
	c.t.Helper()
	var ref []string
	for _, id := range c.live() {
		got := c.deliveredData(id)
		if ref == nil {
			ref = got
		}
		require.True(c.t, slices.Equal(ref, got), "node %d delivered %v, another %v", id, got, ref)
	}
	return ref
}

// checkLog asserts that every live node delivered the same sequence (same
// indexes, terms and payloads), in increasing index order, with no payload
// twice; it returns the sequence without barriers, by payload.
func (c *cluster) checkLog() (seq []raftlite.Delivery, at map[string]raftlite.Delivery) {
	c.t.Helper()
	var ref []raftlite.Delivery
	for i, id := range c.live() {
		got := c.deliveries(id)
		if i == 0 {
			ref = got
			continue
		}
		require.Equal(c.t, len(ref), len(got), "node %d delivered %d messages, node %d %d", id, len(got), c.live()[0], len(ref))
		for k := range got {
			require.True(c.t, got[k].Index == ref[k].Index && got[k].Term == ref[k].Term && string(got[k].Data) == string(ref[k].Data),
				"node %d delivered %+v at position %d, node %d %+v", id, got[k], k, c.live()[0], ref[k])
		}
	}
	at = map[string]raftlite.Delivery{}
	for k, d := range ref {
		if k > 0 {
			require.Greater(c.t, d.Index, ref[k-1].Index, "indexes must increase")
		}
		_, dup := at[string(d.Data)]
		require.False(c.t, dup, "payload %q delivered twice (second at index %d)", d.Data, d.Index)
		at[string(d.Data)] = d
		if !strings.HasPrefix(string(d.Data), "barrier-") {
			seq = append(seq, d)
		}
	}
	return seq, at
}

// tapTransport is a mem Transport that also lets a test hand the node raw
// messages, as if the network had delivered them.
type tapTransport struct {
	*mem.Transport
	mu      sync.Mutex
	deliver func(raftlite.Message)
}

func (t *tapTransport) Start(self raftlite.NodeID, peers map[raftlite.NodeID]string, deliver func(raftlite.Message)) error {
	t.mu.Lock()
	t.deliver = deliver
	t.mu.Unlock()
	return t.Transport.Start(self, peers, deliver)
}

func (t *tapTransport) inject(m raftlite.Message) {
	t.mu.Lock()
	deliver := t.deliver
	t.mu.Unlock()
	deliver(m)
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// withoutPreVoteOrCheckQuorum configures Raft as the paper has it, for the
// tests of what it does without them.
func withoutPreVoteOrCheckQuorum(cfg *raftlite.Config) {
	cfg.DisablePreVote, cfg.DisableCheckQuorum = true, true
}
