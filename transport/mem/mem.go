package mem

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/raftlite/raftlite"
)

// queueLimit bounds the messages waiting for one node; beyond it new ones
// are dropped, as a real network would under overload.
const queueLimit = 1 << 16

// Network connects the Transports made from it.
type Network struct {
	mu        sync.Mutex
	rng       *rand.Rand
	nodes     map[raftlite.NodeID]*Transport
	known     map[raftlite.NodeID]bool // every id given a Transport or named in a fault
	cut       map[link]bool            // links that lose every message
	down      map[raftlite.NodeID]bool // nodes that neither send nor receive
	dropRate  float64
	dupRate   float64
	reorder   float64
	delayMin  time.Duration
	delayMax  time.Duration
	sent      map[raftlite.MessageKind]uint64
	delivered uint64
	dropped   uint64
}

// NewNetwork returns a reliable network whose random faults, once enabled,
// are drawn from seed.
func NewNetwork(seed uint64) *Network {
	return &Network{
		rng:   rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		nodes: map[raftlite.NodeID]*Transport{},
		known: map[raftlite.NodeID]bool{},
		cut:   map[link]bool{},
		down:  map[raftlite.NodeID]bool{},
		sent:  map[raftlite.MessageKind]uint64{},
	}
}

// Transport returns a new Transport for node id. A Transport made earlier
// for the same id stops receiving: this is how a test restarts a node.
func (n *Network) Transport(id raftlite.NodeID) *Transport {
	n.mu.Lock()
	n.learn(id)
	n.mu.Unlock()
	return &Transport{net: n, id: id, wake: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{})}
}

// SetLoss makes each message be dropped with probability drop, and
// delivered twice with probability dup.
func (n *Network) SetLoss(drop, dup float64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.dropRate, n.dupRate = drop, dup
}

// SetDelay delays each message by a duration drawn from [min, max].
func (n *Network) SetDelay(min, max time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.delayMin, n.delayMax = min, max
}

// SetReorder lets a message overtake earlier ones with probability p; at
// zero (the default) messages between a pair arrive in the order sent.
func (n *Network) SetReorder(p float64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.reorder = p
}

// Stats counts messages on the network.
type Stats struct {
	Sent      uint64 // messages handed to Send, of every kind
	Delivered uint64
	Dropped   uint64 // lost to faults, closed nodes or full queues
	ByKind    map[raftlite.MessageKind]uint64
}

// Stats returns the counts so far.
func (n *Network) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := Stats{Delivered: n.delivered, Dropped: n.dropped, ByKind: map[raftlite.MessageKind]uint64{}}
	for k, v := range n.sent {
		s.Sent += v
		s.ByKind[k] = v
	}
	return s
}

// Transport is one node's attachment to a Network.
type Transport struct {
	net     *Network
	id      raftlite.NodeID
	deliver func(raftlite.Message)
	queue   inbox // guarded by net.mu
	closed  bool  // guarded by net.mu
	// peers are the ids Send reaches: Start's, then SetPeers'. Guarded by
	// net.mu.
	peers   map[raftlite.NodeID]bool
	wake    chan struct{}
	stop    chan struct{}
	stopped chan struct{}
	once    sync.Once
	traffic traffic // guarded by net.mu
}

type queued struct {
	m    raftlite.Message
	from raftlite.NodeID // the sending Transport's id, whatever m.From says
	at   time.Time       // zero: at once
}

// inbox is a FIFO that reuses its array: a queue that only ever reslices
// its front would reallocate on nearly every message.
type inbox struct {
	items []queued
	head  int
}

func (q *inbox) len() int { return len(q.items) - q.head }

func (q *inbox) front() *queued { return &q.items[q.head] }

// insert puts x at position pos from the front (len() to append).
func (q *inbox) insert(pos int, x queued) {
	if q.head > 0 && len(q.items) == cap(q.items) {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	at := q.head + pos
	q.items = append(q.items, queued{})
	copy(q.items[at+1:], q.items[at:])
	q.items[at] = x
}

func (q *inbox) pop() raftlite.Message {
	m := q.items[q.head].m
	q.items[q.head] = queued{}
	if q.head++; q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	}
	return m
}

func (q *inbox) reset() { *q = inbox{} }

// Start implements raftlite.Transport. The transport sends only to the
// ids in peers (until SetPeers changes them); their addresses are ignored.
func (t *Transport) Start(self raftlite.NodeID, peers map[raftlite.NodeID]string, deliver func(raftlite.Message)) error {
	t.deliver = deliver
	t.net.mu.Lock()
	t.setPeers(peers)
	if old := t.net.nodes[t.id]; old != nil && old != t {
		old.closed = true
		old.queue.reset()
	}
	t.net.nodes[t.id] = t
	t.net.mu.Unlock()
	go t.run()
	return nil
}

// SetPeers implements raftlite.PeerUpdater: from now on the transport
// sends only to the ids in peers, and drops (as "unroutable") what is sent
// to others, as tcp does to a node whose address it does not know. Nodes
// are still found by id; addresses are ignored. Messages from any node are
// delivered.
func (t *Transport) SetPeers(peers map[raftlite.NodeID]string) {
	t.net.mu.Lock()
	defer t.net.mu.Unlock()
	t.setPeers(peers)
}

func (t *Transport) setPeers(peers map[raftlite.NodeID]string) {
	t.peers = make(map[raftlite.NodeID]bool, len(peers))
	for id := range peers {
		t.peers[id] = true
	}
}

// Send implements raftlite.Transport.
func (t *Transport) Send(m raftlite.Message) {
	n := t.net
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sent[m.Kind]++
	if !t.peers[m.To] {
		n.dropped++
		t.traffic.unroutable++
		return
	}
	dst := n.nodes[m.To]
	if t.closed || dst == nil || dst.closed || !n.linked(t.id, m.To) || n.rng.Float64() < n.dropRate ||
		dst.queue.len() >= queueLimit {
		n.dropped++
		t.traffic.dropped++
		return
	}
	t.traffic.count(&t.traffic.sent, m.To)
	copies := 1
	if n.rng.Float64() < n.dupRate {
		copies = 2
	}
	for range copies {
		delay := n.delayMin
		if n.delayMax > n.delayMin {
			delay += time.Duration(n.rng.Int64N(int64(n.delayMax - n.delayMin + 1)))
		}
		q := queued{m: m, from: t.id}
		if delay > 0 {
			q.at = time.Now().Add(delay)
		}
		pos := dst.queue.len()
		if pos > 0 && n.reorder > 0 && n.rng.Float64() < n.reorder {
			pos = n.rng.IntN(pos)
		}
		dst.queue.insert(pos, q)
	}
	select {
	case dst.wake <- struct{}{}:
	default:
	}
}

// run hands queued messages to the node in order, each no earlier than its
// delivery time, taking every message that is due under one lock.
func (t *Transport) run() {
	defer close(t.stopped)
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	var batch []raftlite.Message
	for {
		n := t.net
		var wait time.Duration
		n.mu.Lock()
		for len(batch) < 256 && t.queue.len() > 0 && !t.closed {
			if at := t.queue.front().at; !at.IsZero() {
				if wait = time.Until(at); wait > 0 {
					break
				}
			}
			from := t.queue.front().from
			m := t.queue.pop()
			if n.linked(from, t.id) {
				n.delivered++
				t.traffic.count(&t.traffic.received, from)
				batch = append(batch, m)
			} else {
				n.dropped++
				t.traffic.dropped++
			}
		}
		idle := t.queue.len() == 0
		n.mu.Unlock()
		if len(batch) > 0 {
			for i := range batch {
				t.deliver(batch[i])
				batch[i] = raftlite.Message{}
			}
			batch = batch[:0]
			continue
		}
		var tick <-chan time.Time
		if !idle {
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			tick = timer.C
		}
		select {
		case <-t.wake:
		case <-tick:
		case <-t.stop:
			return
		}
	}
}

// Close implements raftlite.Transport. It waits for a deliver call in
// progress to return.
func (t *Transport) Close() error {
	t.once.Do(func() {
		t.net.mu.Lock()
		t.closed = true
		t.queue.reset()
		if t.net.nodes[t.id] == t {
			delete(t.net.nodes, t.id)
		}
		t.net.mu.Unlock()
		close(t.stop)
		if t.deliver != nil {
			<-t.stopped
		}
	})
	return nil
}
