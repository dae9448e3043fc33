package raftlite

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Delivery is one committed broadcast, handed to every node's application in
// the same order. Data must not be modified.
type Delivery struct {
	Index uint64
	Term  uint64
	Data  []byte
}

// Status is a snapshot of a node's view of the cluster.
type Status struct {
	ID          NodeID
	Term        uint64
	Role        Role
	Leader      NodeID
	CommitIndex uint64
	LastIndex   uint64
	// Delivered is the index of the last message handed to Deliveries.
	Delivered uint64
	// HeldEntries is how many entries of the log are held in memory; with
	// an EntryReader persister it stays bounded however long the log grows.
	HeldEntries uint64
	// Dropped counts inbound messages refused as malformed, misaddressed or
	// from a node that is not a member.
	Dropped uint64
}

// Node is one member of a raftlite cluster. One goroutine runs its event
// loop, feeding events to the algorithm (core) and carrying out what it asks;
// a second saves state, so that the disk and the network work in parallel.
type Node struct {
	cfg       Config
	log       *slog.Logger
	core      *core
	transport Transport
	persister Persister

	inbox      chan Message
	proposals  chan *proposal
	saved      chan saveResult
	toSave     chan *saveBatch
	deliveries chan Delivery
	closing    chan struct{}
	done       chan struct{}
	closeOnce  sync.Once
	err        atomic.Pointer[error]

	// Owned by the loop goroutine.
	saving  bool
	unsaved *saveBatch
	spare   *saveBatch // a saved batch, emptied for reuse
	// inlineSave: the persister is in memory, so saves run on the loop.
	inlineSave bool
	halted     bool // a save failed: the loop must stop

	// With an EntryReader, entries out of memory are read back by the
	// fetcher goroutine: for lagging followers, and for deliveries.
	reader        EntryReader
	toFetch       chan fetchJob
	fetched       chan fetchResult
	fromDisk      []Entry // read back for delivery, oldest first
	fetchingToApp bool
	waiters       []*proposal // by Seq, oldest first
	delivered     uint64

	statusMu sync.Mutex
	status   Status
}

type proposal struct {
	data []byte
	seq  uint64
	done chan proposalResult
}

type proposalResult struct {
	index uint64
	err   error
}

// saveBatch is one group commit: state to save, then messages to release.
type saveBatch struct {
	hs        *HardState
	entries   []Entry
	afterSync []Message
}

// add folds a Ready's state and held messages into the batch.
func (b *saveBatch) add(rd *Ready) {
	if rd.HardState != nil {
		b.hs = rd.HardState
	}
	b.entries = mergeWrites(b.entries, rd.Entries)
	b.afterSync = append(b.afterSync, rd.AfterSync...)
}

// fetchJob asks the fetcher for saved entries [lo, hi): for follower to, or
// for delivery when to is None.
type fetchJob struct {
	to     NodeID
	lo, hi uint64
}

type fetchResult struct {
	job     fetchJob
	entries []Entry
	err     error
}

// loadLog reads what the persister saved. With an EntryReader it reads the
// log in pieces and holds in memory only the entries after the saved commit
// index, the ones that may still change; otherwise it loads everything.
func loadLog(p Persister, r EntryReader) (HardState, bootLog, error) {
	if r == nil {
		hs, entries, err := p.Load()
		return hs, bootInMemory(entries, 0), err
	}
	hs, first, last, err := r.LoadState()
	if err != nil {
		return hs, bootLog{}, err
	}
	boot := newBootLog(first-1, 0)
	keepFrom := min(max(hs.Commit+1, first), last+1)
	for lo := first; lo <= last; {
		ents, err := r.Entries(lo, last+1, 4<<20)
		if err != nil {
			return hs, bootLog{}, err
		}
		if len(ents) == 0 || ents[0].Index != lo {
			return hs, bootLog{}, fmt.Errorf("%w: reading the log from %d returned no entries", ErrCorrupt, lo)
		}
		for i := range ents {
			boot.add(&ents[i], ents[i].Index >= keepFrom)
		}
		lo += uint64(len(ents))
	}
	return hs, boot, nil
}

type saveResult struct {
	batch *saveBatch
	err   error
}

// New validates cfg, recovers the persisted state and starts the node.
func New(cfg Config) (*Node, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	reader, _ := cfg.Persister.(EntryReader)
	hs, boot, err := loadLog(cfg.Persister, reader)
	if err != nil {
		return nil, fmt.Errorf("%w: loading state: %w", ErrStorage, err)
	}
	// A new incarnation makes this life's broadcast ids unlike any earlier
	// one's; it must be durable before the first broadcast is accepted.
	hs.Incarnation++
	if err := cfg.Persister.Save(&hs, nil); err != nil {
		return nil, fmt.Errorf("%w: saving incarnation: %w", ErrStorage, err)
	}
	peers := make([]NodeID, 0, len(cfg.Peers))
	for id := range cfg.Peers {
		peers = append(peers, id)
	}
	slices.Sort(peers)
	seed := cfg.RandSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	cc := coreConfig{
		id: cfg.ID, peers: peers,
		electionTimeout: cfg.ElectionTimeout, heartbeatInterval: cfg.HeartbeatInterval,
		maxEntryBytes: cfg.MaxEntryBytes, maxBatchBytes: cfg.MaxBatchBytes, maxInflightBytes: cfg.MaxInflightBytes,
	}
	n := &Node{
		cfg:        cfg,
		log:        cfg.Logger.With("node", cfg.ID),
		core:       newCore(cc, hs, boot, rand.New(rand.NewPCG(seed, uint64(cfg.ID)))),
		transport:  cfg.Transport,
		persister:  cfg.Persister,
		inbox:      make(chan Message, 1024),
		proposals:  make(chan *proposal),
		saved:      make(chan saveResult),
		toSave:     make(chan *saveBatch, 1),
		deliveries: make(chan Delivery, cfg.DeliveryBuffer),
		closing:    make(chan struct{}),
		done:       make(chan struct{}),
		delivered:  cfg.Applied,
		reader:     reader,
		toFetch:    make(chan fetchJob, 16),
		fetched:    make(chan fetchResult),
	}
	_, n.inlineSave = cfg.Persister.(*MemoryPersister)
	if err := n.transport.Start(cfg.ID, cfg.Peers, n.receive); err != nil {
		return nil, fmt.Errorf("raftlite: starting transport: %w", err)
	}
	n.updateStatus()
	go n.run()
	return n, nil
}

// receive is the transport's way in. It blocks while the inbox is full,
// which pushes back on the network rather than growing a queue.
func (n *Node) receive(m Message) {
	select {
	case n.inbox <- m:
	case <-n.closing:
	}
}

// Broadcast submits msg for total-order broadcast from this node, whatever
// its role, and returns once msg is committed, with its position in the
// order. Each successful Broadcast is delivered exactly once on every node.
//
// If ctx ends or the node closes after msg was accepted, the error wraps
// ErrOutcomeUnknown: msg may still commit (once). If ctx ends before msg was
// accepted, the error is ctx's alone and msg will not be delivered.
func (n *Node) Broadcast(ctx context.Context, msg []byte) (uint64, error) {
	if len(msg) > n.cfg.MaxEntryBytes {
		return 0, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(msg), n.cfg.MaxEntryBytes)
	}
	p := &proposal{data: slices.Clone(msg), done: make(chan proposalResult, 1)}
	if p.data == nil {
		p.data = []byte{}
	}
	select {
	case n.proposals <- p:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-n.done:
		return 0, n.closedErr()
	}
	select {
	case r := <-p.done:
		return r.index, r.err
	case <-ctx.Done():
		return 0, fmt.Errorf("%w: %w", ErrOutcomeUnknown, ctx.Err())
	case <-n.done:
		return 0, fmt.Errorf("%w: %w", ErrOutcomeUnknown, n.closedErr())
	}
}

// Deliveries returns the channel of committed messages, in order, each once
// per Node; it is closed when the node stops. A slow reader delays only its
// own deliveries: the node keeps voting and replicating meanwhile.
func (n *Node) Deliveries() <-chan Delivery { return n.deliveries }

// Status returns a snapshot of the node's state.
func (n *Node) Status() Status {
	n.statusMu.Lock()
	defer n.statusMu.Unlock()
	return n.status
}

// Err returns why the node stopped by itself (a storage failure), or nil.
func (n *Node) Err() error {
	if p := n.err.Load(); p != nil {
		return *p
	}
	return nil
}

// Close stops the node and closes its transport and persister. Broadcasts
// still waiting return an error wrapping ErrOutcomeUnknown and ErrClosed.
func (n *Node) Close() error {
	n.closeOnce.Do(func() { close(n.closing) })
	<-n.done
	return n.Err()
}

func (n *Node) closedErr() error {
	if err := n.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return ErrClosed
}

// run is the event loop: wait for an event, take every other event already
// waiting, then carry out what the core asks in one go. Taking events in
// bulk is what turns many broadcasts into one message and one disk sync.
func (n *Node) run() {
	defer n.shutdown()
	saverDone := make(chan struct{})
	go n.saver(saverDone)
	defer func() { close(n.toSave); <-saverDone }()
	if n.reader != nil {
		fetcherDone := make(chan struct{})
		go n.fetcher(fetcherDone)
		defer func() { close(n.toFetch); <-fetcherDone }()
	}

	election := time.NewTimer(time.Hour)
	election.Stop()
	defer election.Stop()
	heartbeat := time.NewTicker(n.cfg.HeartbeatInterval)
	defer heartbeat.Stop()
	n.flush(n.core.takeReady(), election)

	for {
		var deliveries chan Delivery
		next, ok := n.nextDelivery()
		if ok {
			deliveries = n.deliveries
		}
		var proposals chan *proposal
		if len(n.core.pending) < n.cfg.MaxPendingBroadcasts {
			proposals = n.proposals
		}
		select {
		case m := <-n.inbox:
			n.core.onMessage(m)
		case p := <-proposals:
			n.propose(p)
		case <-election.C:
			n.core.onElectionTimeout()
		case <-heartbeat.C:
			n.core.onTick()
		case r := <-n.saved:
			if !n.onSaved(r) {
				return
			}
		case r := <-n.fetched:
			n.onFetched(r)
		case deliveries <- next:
			n.delivered = next.Index
			continue
		case <-n.closing:
			return
		}
		n.drain(proposals)
		n.flush(n.core.takeReady(), election)
		if n.halted {
			return
		}
		if n.reader != nil && n.delivered > logChunk {
			// Keep a chunk behind the application, so that a follower a
			// little behind is still served from memory.
			n.core.evict(n.delivered - logChunk)
		}
		n.updateStatus()
	}
}

// drain handles events that are already waiting, up to a bound that keeps
// one batch from delaying timers for long.
func (n *Node) drain(proposals chan *proposal) {
	for range 256 {
		if len(n.core.pending) >= n.cfg.MaxPendingBroadcasts {
			proposals = nil
		}
		select {
		case m := <-n.inbox:
			n.core.onMessage(m)
		case p := <-proposals:
			n.propose(p)
		default:
			return
		}
	}
}

func (n *Node) propose(p *proposal) {
	p.seq = n.core.onBroadcast(p.data)
	n.waiters = append(n.waiters, p)
}

// nextDelivery returns the next committed message to hand over, skipping
// entries that are not messages.
func (n *Node) nextDelivery() (Delivery, bool) {
	c := n.core
	for n.delivered < c.commit {
		i := n.delivered + 1
		if i <= c.log.offset {
			n.delivered = c.log.offset
			continue
		}
		var e *Entry
		if i >= c.log.memFirst() {
			e = c.log.at(i)
		} else {
			e = n.readBack(i)
			if e == nil {
				return Delivery{}, false
			}
		}
		if e.Kind != EntryData {
			n.delivered = i
			continue
		}
		return Delivery{Index: i, Term: e.Term, Data: e.Data}, true
	}
	return Delivery{}, false
}

// readBack returns entry i, which is no longer in memory, from what the
// fetcher read for delivery, asking it for more when that runs out.
func (n *Node) readBack(i uint64) *Entry {
	for len(n.fromDisk) > 0 && n.fromDisk[0].Index < i {
		n.fromDisk[0] = Entry{}
		n.fromDisk = n.fromDisk[1:]
	}
	if len(n.fromDisk) > 0 && n.fromDisk[0].Index == i {
		return &n.fromDisk[0]
	}
	if !n.fetchingToApp {
		hi := min(n.core.commit+1, n.core.log.memFirst())
		select {
		case n.toFetch <- fetchJob{to: None, lo: i, hi: hi}:
			n.fetchingToApp = true
		default: // the fetcher is busy: ask again on the next event
		}
	}
	return nil
}

// fetcher reads saved entries back for the loop, off the loop.
func (n *Node) fetcher(done chan struct{}) {
	defer close(done)
	for j := range n.toFetch {
		ents, err := n.reader.Entries(j.lo, j.hi, n.cfg.MaxBatchBytes)
		select {
		case n.fetched <- fetchResult{job: j, entries: ents, err: err}:
		case <-n.closing:
		}
	}
}

func (n *Node) onFetched(r fetchResult) {
	if r.err != nil {
		n.log.Warn("reading the log back", "from", r.job.lo, "err", r.err)
		r.entries = nil
	}
	if r.job.to == None {
		n.fetchingToApp = false
		n.fromDisk = r.entries
		return
	}
	n.core.onFetched(r.job.to, r.entries)
}

// flush carries out a Ready.
func (n *Node) flush(rd Ready, election *time.Timer) {
	switch {
	case rd.ElectionTimer > 0:
		election.Reset(rd.ElectionTimer)
	case rd.ElectionTimer < 0:
		election.Stop()
	}
	for _, m := range rd.Messages {
		n.transport.Send(m)
	}
	for _, f := range rd.Fetches {
		select {
		case n.toFetch <- fetchJob{to: f.To, lo: f.Lo, hi: f.Hi}:
		default:
			n.core.onFetched(f.To, nil) // busy: the next heartbeat asks again
		}
	}
	if rd.HardState != nil || len(rd.Entries) > 0 || len(rd.AfterSync) > 0 {
		if !n.saving && n.unsaved == nil && rd.HardState == nil && len(rd.Entries) == 0 {
			// Nothing is being saved: what these messages depend on is durable.
			for _, m := range rd.AfterSync {
				n.transport.Send(m)
			}
		} else {
			if n.unsaved == nil {
				n.unsaved, n.spare = n.spare, nil
				if n.unsaved == nil {
					n.unsaved = &saveBatch{}
				}
			}
			n.unsaved.add(&rd)
		}
	}
	for _, a := range rd.Acked {
		n.resolve(a)
	}
	if n.saving || n.unsaved == nil {
		return
	}
	b := n.unsaved
	n.unsaved = nil
	if !n.inlineSave {
		n.saving = true
		n.toSave <- b
		return
	}
	// An in-memory save cannot block, so it is done here rather than
	// handed to the saver: two goroutine hand-offs fewer per commit.
	err := n.persister.Save(b.hs, b.entries)
	if err == nil {
		for _, m := range b.afterSync {
			n.transport.Send(m)
		}
	}
	if !n.onSaved(saveResult{batch: b, err: err}) {
		n.halted = true
		return
	}
	// rd is not used past this point: the next Ready reuses its arrays.
	n.flush(n.core.takeReady(), election)
}

// resolve completes the waiting Broadcast with sequence a.Seq.
func (n *Node) resolve(a Ack) {
	for len(n.waiters) > 0 && n.waiters[0].seq <= a.Seq {
		p := n.waiters[0]
		n.waiters[0] = nil
		n.waiters = n.waiters[1:]
		if p.seq == a.Seq {
			p.done <- proposalResult{index: a.Index}
		}
	}
}

// onSaved tells the core what is durable now. A failed save stops the node:
// it must not acknowledge what it could not write, and its log may now end
// in a torn record that only a restart's recovery can repair.
func (n *Node) onSaved(r saveResult) bool {
	n.saving = false
	if r.err != nil {
		err := fmt.Errorf("%w: %w", ErrStorage, r.err)
		n.err.Store(&err)
		n.log.Error("stopping: cannot save state", "err", r.err)
		return false
	}
	var index, term uint64
	if k := len(r.batch.entries); k > 0 {
		index, term = r.batch.entries[k-1].Index, r.batch.entries[k-1].Term
	}
	n.core.onPersisted(index, term, r.batch.hs)
	b := r.batch
	clear(b.entries)
	clear(b.afterSync)
	*b = saveBatch{entries: b.entries[:0], afterSync: b.afterSync[:0]}
	n.spare = b
	return true
}

// saver runs group commits one after another, off the event loop.
func (n *Node) saver(done chan struct{}) {
	defer close(done)
	for b := range n.toSave {
		err := n.persister.Save(b.hs, b.entries)
		if err == nil {
			for _, m := range b.afterSync {
				n.transport.Send(m)
			}
		}
		select {
		case n.saved <- saveResult{batch: b, err: err}:
		case <-n.closing:
		}
	}
}

func (n *Node) updateStatus() {
	c := n.core
	n.statusMu.Lock()
	n.status = Status{
		ID: c.cfg.id, Term: c.hs.Term, Role: c.role, Leader: c.leader,
		CommitIndex: c.commit, LastIndex: c.log.lastIndex(),
		Delivered: n.delivered, Dropped: c.dropped, HeldEntries: c.log.lastIndex() + 1 - c.log.memFirst(),
	}
	n.statusMu.Unlock()
}

func (n *Node) shutdown() {
	n.closeOnce.Do(func() { close(n.closing) })
	if err := n.transport.Close(); err != nil {
		n.log.Warn("closing transport", "err", err)
	}
	if err := n.persister.Close(); err != nil {
		n.log.Warn("closing persister", "err", err)
	}
	n.updateStatus()
	close(n.deliveries)
	close(n.done)
}
