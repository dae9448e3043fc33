package raftlite

import (
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/raftlite/raftlite/internal/sim"
)

// Simulation is a cluster of raftlite nodes on virtual time, for learning
// and experiments: the algorithm of the Node, with its own save pipeline
// and delivery logic, on an in-memory disk and a network with small random
// delays, driven one event at a time by a seeded scheduler. The same
// configuration and the same calls take exactly the same steps, so a
// trace (SimulationConfig.Trace) comes out the same, byte for byte, every
// run: a learner can read, and reread, what a node did and why.
//
// Time passes only inside Run, RunUntil and Broadcast, and only as fast as
// the events need: seconds of a cluster's life take milliseconds. A
// Simulation is not safe for concurrent use.
type Simulation struct {
	cfg   SimulationConfig
	s     *sim.Scheduler
	net   *sim.Network
	nodes []*simulated // nodes[i] has id i+1
}

// SimulationConfig configures a Simulation. The zero value is three nodes
// with the Node's default timing, seed 0, no trace.
type SimulationConfig struct {
	// Nodes is how many nodes there are, with ids 1 to Nodes. Default 3.
	Nodes int
	// Seed draws every random choice: election timeouts, network delays
	// and disk latencies. Another seed, another (equally valid) history.
	Seed uint64
	// ElectionTimeout and HeartbeatInterval are as in Config, in virtual
	// time. Defaults 500ms and a tenth of ElectionTimeout.
	ElectionTimeout   time.Duration
	HeartbeatInterval time.Duration
	// Trace, when not nil, receives the learning trace of every node, as
	// Config.Trace describes it, each line after the virtual time.
	Trace io.Writer
}

// simulated is one node of a Simulation.
type simulated struct {
	id      NodeID
	core    *core
	disk    *MemoryPersister
	pipe    savePipeline
	sink    snapshotSlot
	app     deliverer
	tr      *tracer
	stopped bool
	timer   int // bumped on every change of the election timer

	delivered []Delivery
	committed map[uint64]uint64 // this node's broadcasts by Seq: the index they committed at
}

// NewSimulation starts a simulated cluster at virtual time zero, every
// node a follower with an empty log.
func NewSimulation(cfg SimulationConfig) (*Simulation, error) {
	setDefault(&cfg.Nodes, 3)
	setDefault(&cfg.ElectionTimeout, 500*time.Millisecond)
	setDefault(&cfg.HeartbeatInterval, cfg.ElectionTimeout/10)
	switch {
	case cfg.Nodes < 1:
		return nil, fmt.Errorf("%w: Nodes must be at least 1, not %d", ErrInvalidConfig, cfg.Nodes)
	case cfg.HeartbeatInterval <= 0 || cfg.HeartbeatInterval*2 > cfg.ElectionTimeout:
		return nil, fmt.Errorf("%w: HeartbeatInterval (%v) must be positive and at most half of ElectionTimeout (%v)",
			ErrInvalidConfig, cfg.HeartbeatInterval, cfg.ElectionTimeout)
	}
	s := sim.New(cfg.Seed)
	sm := &Simulation{cfg: cfg, s: s, net: sim.NewNetwork(s, 500*time.Microsecond, 3*time.Millisecond)}
	peers := map[NodeID]string{}
	for i := 1; i <= cfg.Nodes; i++ {
		peers[NodeID(i)] = fmt.Sprintf("node-%d", i)
	}
	for i := 1; i <= cfg.Nodes; i++ {
		n, err := sm.start(NodeID(i), peers)
		if err != nil {
			return nil, err
		}
		sm.nodes = append(sm.nodes, n)
	}
	for _, n := range sm.nodes {
		sm.afterEvent(n)
	}
	return sm, nil
}

// start boots node id as New does: load the (empty) disk, save a new
// incarnation, build the core; its heartbeat starts at a random phase.
func (sm *Simulation) start(id NodeID, peers map[NodeID]string) (*simulated, error) {
	cfg := (&Config{ID: id, Peers: peers, ElectionTimeout: sm.cfg.ElectionTimeout,
		HeartbeatInterval: sm.cfg.HeartbeatInterval}).withDefaults()
	disk := NewMemoryPersister()
	hs, boot, err := loadLog(disk, nil, 0)
	if err != nil {
		return nil, err
	}
	hs.Incarnation = nextIncarnation(hs.Incarnation, time.Unix(0, int64(sm.s.Now())))
	hs.DiskID = uint64(id)<<32 | 1 // as New draws one, but the same every run
	if err := disk.Save(&hs, nil); err != nil {
		return nil, err
	}
	n := &simulated{id: id, disk: disk, committed: map[uint64]uint64{},
		core: newCore(cfg.coreConfig(), hs, boot, rand.New(rand.NewPCG(sm.cfg.Seed, uint64(id)))),
		tr:   newTracer(sm.cfg.Trace, id, sm.traceTime)}
	var tick func()
	tick = func() {
		if n.stopped {
			return
		}
		n.tr.tickEvent(n.core)
		n.core.onTick()
		sm.afterEvent(n)
		sm.s.After(sm.cfg.HeartbeatInterval, tick)
	}
	sm.s.After(sm.s.Between(0, sm.cfg.HeartbeatInterval), tick)
	return n, nil
}

// traceTime puts the virtual time before a trace line.
func (sm *Simulation) traceTime(b []byte) []byte {
	return fmt.Appendf(b, "%9.3fms  ", float64(sm.s.Now())/float64(time.Millisecond))
}

// Now returns the virtual time since the simulation started.
func (sm *Simulation) Now() time.Duration { return sm.s.Now() }

// Run lets d of virtual time pass.
func (sm *Simulation) Run(d time.Duration) { sm.s.RunUntil(sm.s.Now()+d, nil) }

// RunUntil lets virtual time pass until done returns true, checked after
// every event, or until limit has passed, and reports whether done did.
func (sm *Simulation) RunUntil(done func() bool, limit time.Duration) bool {
	if done() {
		return true
	}
	return sm.s.RunUntil(sm.s.Now()+limit, done)
}

// Broadcast submits msg on node id, whatever its role, and lets time pass
// until it commits, as Node.Broadcast waits; it returns the message's
// index. It fails if the node is stopped, or if msg has not committed
// within 20 election timeouts (ErrOutcomeUnknown: it may still).
func (sm *Simulation) Broadcast(id NodeID, msg []byte) (uint64, error) {
	n, err := sm.node(id)
	if err != nil {
		return 0, err
	}
	if n.stopped {
		return 0, fmt.Errorf("node %d: %w", id, ErrClosed)
	}
	data := slices.Clone(msg)
	n.tr.broadcast(n.core, data)
	seq := n.core.onBroadcast(data)
	sm.afterEvent(n)
	committed := func() bool { _, ok := n.committed[seq]; return ok }
	if !sm.RunUntil(committed, 20*sm.cfg.ElectionTimeout) {
		return 0, fmt.Errorf("node %d: not committed after %v: %w", id, 20*sm.cfg.ElectionTimeout, ErrOutcomeUnknown)
	}
	return n.committed[seq], nil
}

// Stop stops node id, as a crash would: it handles no more events, and
// the messages it sent that are still on the way are lost.
func (sm *Simulation) Stop(id NodeID) error {
	n, err := sm.node(id)
	if err != nil {
		return err
	}
	if !n.stopped {
		n.tr.note(n.core, "stops: it handles no more events")
	}
	n.stopped = true
	return nil
}

// Status returns node id's view of the cluster, as Node.Status does (a
// stopped node's as it stopped). FollowerStatus.LastContact is zero.
func (sm *Simulation) Status(id NodeID) Status {
	n, err := sm.node(id)
	if err != nil {
		return Status{}
	}
	c := n.core
	s := Status{ID: id, Term: c.hs.Term, Role: c.role, Leader: c.leader, CommitIndex: c.commit,
		LastIndex: c.log.lastIndex(), Delivered: n.app.delivered, HeldEntries: c.log.lastIndex() + 1 - c.log.memFirst(),
		Pending: len(c.pending), SnapshotIndex: c.snapshot.Index, Dropped: c.dropped}
	if c.role == Leader {
		for _, f := range c.cfg.peers {
			if pr := c.progress[f]; pr != nil {
				s.Followers = append(s.Followers, FollowerStatus{ID: f, Match: pr.match, Next: pr.next, Probing: pr.probing})
			}
		}
	}
	return s
}

// Deliveries returns what node id has delivered to its application so
// far, in order. The simulated application takes each delivery as soon as
// the node offers it.
func (sm *Simulation) Deliveries(id NodeID) []Delivery {
	n, err := sm.node(id)
	if err != nil {
		return nil
	}
	return slices.Clone(n.delivered)
}

func (sm *Simulation) node(id NodeID) (*simulated, error) {
	if id < 1 || int(id) > len(sm.nodes) {
		return nil, fmt.Errorf("%w: no node %d in a simulation of %d", ErrInvalidConfig, id, len(sm.nodes))
	}
	return sm.nodes[id-1], nil
}

// afterEvent carries out what n's core asks, as the Node's flush does.
func (sm *Simulation) afterEvent(n *simulated) {
	rd := n.core.takeReady()
	n.tr.ready(n.core, &rd)
	if rd.ElectionTimer != 0 {
		n.timer++
		if rd.ElectionTimer > 0 {
			timer := n.timer
			sm.s.After(rd.ElectionTimer, func() {
				if !n.stopped && n.timer == timer {
					n.tr.event(n.core, "onElectionTimeout")
					n.core.onElectionTimeout()
					sm.afterEvent(n)
				}
			})
		}
	}
	for _, m := range rd.Messages {
		sm.send(m)
	}
	n.pipe.queue(&rd, sm.send)
	if b := n.pipe.next(); b != nil {
		sm.save(n, b)
	}
	for _, a := range rd.Acked {
		n.committed[a.Seq] = a.Index
	}
	// The log is never compacted nor evicted from memory here, so the
	// core asks for no reading back: no Fetches, no SnapshotReads.
	sm.deliver(n)
}

// save runs the group commit b after a disk's delay, as the Node's saver
// does, releasing the messages that waited on it.
func (sm *Simulation) save(n *simulated, b *saveBatch) {
	b.beforeSave(sm.send, n.core.cfg.bug)
	sm.s.After(sm.s.Between(200*time.Microsecond, time.Millisecond), func() {
		if n.stopped {
			return
		}
		if err := b.persist(n.disk, &n.sink); err != nil {
			panic(fmt.Sprintf("raftlite: simulation: node %d: saving in memory: %v", n.id, err)) // cannot happen
		}
		b.afterSave(sm.send, n.core.cfg.bug)
		n.tr.persisted(n.core, b)
		n.pipe.saved(b, n.core)
		sm.afterEvent(n)
	})
}

func (sm *Simulation) send(m Message) {
	from := sm.nodes[m.From-1]
	sm.net.Send(int(m.From), int(m.To), func() {
		to := sm.nodes[m.To-1]
		if to.stopped || from.stopped {
			return
		}
		to.tr.message(to.core, &m)
		to.core.onMessage(m)
		sm.afterEvent(to)
	})
}

// deliver hands n's application everything its delivery logic offers.
func (sm *Simulation) deliver(n *simulated) {
	never := func(uint64, uint64) bool { return false }
	noSnapshot := func(SnapshotMeta) (*Snapshot, bool) { return nil, false }
	for {
		d, ok := n.app.next(n.core, never, noSnapshot)
		if !ok {
			return
		}
		n.tr.deliver(n.core, &d)
		n.app.handedOver(&d)
		n.delivered = append(n.delivered, d)
	}
}
