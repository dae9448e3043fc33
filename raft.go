package raftlite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Delivery is one committed broadcast, handed to every node's application in
// the same order.
type Delivery struct {
	// Index is the message's position in the log, the same on every node.
	// Indices increase but are not consecutive: entries that carry no
	// message (a new leader's no-op) are not delivered.
	Index uint64
	// Term is the term of the leader that appended the message.
	Term uint64
	// ID names the broadcast: the node that accepted it and its place
	// among that node's broadcasts. An application that was told a
	// broadcast's outcome is unknown (OutcomeUnknownError) watches for it.
	ID BroadcastID
	// Data is the message. It is shared between deliveries and must not
	// be modified.
	Data []byte

	// Snapshot, when not nil, replaces the application's state: this node
	// no longer has the log for what the application lacks (it was behind
	// its leader's compaction point, or restarted with Config.Applied
	// below the latest snapshot). Index and Term are the snapshot's; ID
	// and Data are empty. The deliveries that follow continue from Index.
	// Read it to the end, or Close it.
	Snapshot *Snapshot
	// SnapshotDue asks the application to take a snapshot as of Index
	// (Node.Snapshot), now that the log has grown by Config.SnapshotEvery
	// entries since the latest. It is a hint: an application that never
	// takes one keeps the whole log.
	SnapshotDue bool
}

// BroadcastID names one broadcast across the cluster's whole history.
type BroadcastID struct {
	// Origin is the node that accepted the broadcast.
	Origin NodeID `msgpack:"o"`
	// Incarnation names the life of Origin that accepted it: it changes
	// every time the node starts (see HardState.Incarnation).
	Incarnation uint64 `msgpack:"n"`
	// Seq counts the broadcasts accepted by that life, from 1.
	Seq uint64 `msgpack:"q"`
}

// Status is a snapshot of a node's view of the cluster.
type Status struct {
	// ID is this node's id.
	ID NodeID
	// Term is the node's current term.
	Term uint64
	// Role is the node's part in Term.
	Role Role
	// Leader is the leader of Term as far as this node knows, or None.
	Leader NodeID
	// CommitIndex is the last log index this node knows to be committed.
	CommitIndex uint64
	// LastIndex is the last index in this node's log.
	LastIndex uint64
	// Delivered is the index of the last message handed to Deliveries.
	Delivered uint64
	// HeldEntries is how many entries of the log are held in memory; with
	// an EntryReader persister it stays bounded however long the log grows.
	HeldEntries uint64
	// Pending is how many broadcasts accepted here are not yet committed.
	Pending int
	// SnapshotIndex is the index of the latest durable snapshot, 0 if none;
	// the log holds nothing older than TrailingEntries before it.
	SnapshotIndex uint64
	// Dropped counts inbound messages refused as malformed, misaddressed or
	// from a node that is not a member.
	Dropped uint64
	// Followers is, on the leader, its view of each follower, by ID; nil
	// on other nodes.
	Followers []FollowerStatus
	// Membership is the configuration in effect on this node (the latest
	// in its log, committed or not), and MembershipIndex the index of the
	// entry that set it (0: the bootstrap's, or one older than the log).
	Membership      Membership
	MembershipIndex uint64
}

// FollowerStatus is a leader's view of one follower.
type FollowerStatus struct {
	// ID is the follower's id.
	ID NodeID
	// Match is the last index the follower is known to hold as the leader
	// does.
	Match uint64
	// Next is the next index the leader will send it.
	Next uint64
	// Probing is true while the leader does not know where the follower's
	// log ends, and sends it one request at a time.
	Probing bool
	// LastContact is when this node last heard from the follower, in any
	// role; zero if never since it started.
	LastContact time.Time
	// DiskID is the disk the follower answers from (HardState.DiskID), 0
	// until it answers. WrongDisk: it is not the one the configuration
	// records for it; the follower's storage was wiped or replaced, so it
	// neither votes nor counts towards a quorum until it is re-added
	// with AddVoter.
	DiskID    uint64
	WrongDisk bool
}

// Node is one member of a raftlite cluster. One goroutine runs its event
// loop, feeding events to the algorithm (core) and carrying out what it asks;
// a second saves state, so that the disk and the network work in parallel,
// and with an EntryReader a third reads old entries back.
type Node struct {
	cfg       Config
	log       *slog.Logger
	tr        *tracer // nil unless Config.Trace is set
	core      *core
	transport Transport
	persister Persister

	inbox      chan Message
	proposals  proposalQueue
	saved      chan saveResult
	toSave     chan *saveBatch
	deliveries chan Delivery
	closing    chan struct{}
	done       chan struct{}
	closeOnce  sync.Once
	err        atomic.Pointer[error]
	closeErr   error // the transport's and persister's, set before done closes
	// broadcasts holds the Pendings of Broadcast calls that ended, for
	// the next ones. It is the node's, not the package's: a Pending's
	// channel and WaitGroup belong to the synctest bubble, if any, of the
	// node that made them.
	broadcasts sync.Pool

	// Owned by the loop goroutine.
	pipe savePipeline
	// turnTime is the time of the event loop's current turn, zero until
	// clock reads it.
	turnTime time.Time
	// inlineSave: the persister saves in memory, so saves run on the loop.
	inlineSave bool
	halted     bool // a save failed: the loop must stop

	// With an EntryReader, entries out of memory are read back by the
	// fetcher goroutine: for lagging followers, and for deliveries.
	reader  EntryReader
	toFetch chan fetchJob
	fetched chan fetchResult
	app     deliverer
	waiters []*Pending // by Seq, oldest first

	// Snapshots: the application's requests and what it stored, the
	// received snapshot being written (by whoever runs saves), and the
	// one opened for the application to restore from.
	snapshotRequests chan snapshotRequest
	snapshotsTaken   chan snapshotTaken
	sink             snapshotSlot
	restoring        *Snapshot
	restoringIndex   uint64
	heard            map[NodeID]time.Time
	metrics          *nodeMetrics // what Metrics reads; see metrics.go

	// ReadIndex calls, and the ones waiting for the core, by read number.
	readCalls   chan readIndexCall
	readWaiters map[uint64]chan uint64
	lastRead    uint64
	lastTick    time.Time
	handed      uint64 // the index of the last message handed over

	transferCalls   chan transferCall
	transferWaiters []chan error // oldest first
	changeCalls     chan changeCall
	changeWaiters   map[uint64]chan error
	lastChange      uint64

	// peers is what the transport was last told to reach (transportPeers),
	// as of the committed configuration set at peersCommitted.
	peers           map[NodeID]string
	peersCommitted  uint64
	peersWarned     bool
	transportClosed bool

	statusMu sync.Mutex
	status   Status
	// lastHanded is handed as of status; deliveredChanged is closed, and
	// replaced, when status.Delivered moves and someone waits for it.
	lastHanded       uint64
	deliveredChanged chan struct{}
	deliveredWaited  bool
}

// New validates cfg, recovers the persisted state and starts the node.
//
// New takes ownership of cfg.Transport and cfg.Persister: the Node closes
// them when it stops, and if New returns an error it has already closed
// them. cfg.Peers is copied.
func New(cfg Config) (n *Node, err error) {
	defer func() {
		if err != nil {
			err = errors.Join(err, closeAll(cfg.Transport, cfg.Persister))
		}
	}()
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	reader, _ := cfg.Persister.(EntryReader)
	hs, boot, err := loadLog(cfg.Persister, reader, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: loading state: %w", ErrStorage, err)
	}
	if boot.discard {
		// An install that crashed before it discarded the log it
		// disagreed with: finish it before anything is saved after it.
		if err := cfg.Persister.DiscardLog(boot.snapshot.Index); err != nil {
			return nil, fmt.Errorf("%w: discarding a log the latest snapshot replaces: %w", ErrStorage, err)
		}
	}
	hs.Incarnation = nextIncarnation(hs.Incarnation, time.Now())
	if hs.DiskID == 0 {
		// New storage, or storage that was wiped: from now on it is
		// this one (disk.go).
		hs.DiskID = newDiskID()
	}
	if err := cfg.Persister.Save(&hs, nil); err != nil {
		return nil, fmt.Errorf("%w: saving incarnation: %w", ErrStorage, err)
	}
	seed := cfg.RandSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	n = &Node{
		cfg:        cfg,
		log:        cfg.Logger.With("node", cfg.ID),
		tr:         newTracer(traceWriter(&cfg), cfg.ID, nil),
		core:       newCore(cfg.coreConfig(), hs, boot, rand.New(rand.NewPCG(seed, uint64(cfg.ID)))),
		transport:  cfg.Transport,
		persister:  cfg.Persister,
		inbox:      make(chan Message, 1024),
		proposals:  newProposalQueue(cfg.MaxPendingBroadcasts),
		saved:      make(chan saveResult),
		toSave:     make(chan *saveBatch, 1),
		deliveries: make(chan Delivery, cfg.DeliveryBuffer),
		closing:    make(chan struct{}),
		done:       make(chan struct{}),
		app:        deliverer{delivered: cfg.Applied, bugs: cfg.bugs, snapshotEvery: cfg.SnapshotEvery},
		reader:     reader,
		toFetch:    make(chan fetchJob, 16),
		fetched:    make(chan fetchResult),
		heard:      map[NodeID]time.Time{},
		metrics:    newNodeMetrics(),

		snapshotRequests: make(chan snapshotRequest),
		snapshotsTaken:   make(chan snapshotTaken),

		readCalls:        make(chan readIndexCall),
		transferCalls:    make(chan transferCall),
		changeCalls:      make(chan changeCall),
		changeWaiters:    map[uint64]chan error{},
		readWaiters:      map[uint64]chan uint64{},
		handed:           cfg.Applied,
		deliveredChanged: make(chan struct{}),
	}
	if m, ok := cfg.Persister.(MemorySaver); ok {
		n.inlineSave = m.SavesInMemory()
	}
	// A node that restarts with a later membership in its log or snapshot
	// than Config.Peers starts its transport with that membership's addresses.
	n.peers, n.peersCommitted = n.transportPeers(), n.core.committedConfIndex()
	if err := n.transport.Start(cfg.ID, maps.Clone(n.peers), n.receive); err != nil {
		return nil, fmt.Errorf("raftlite: starting transport: %w", err)
	}
	n.updateStatus()
	go n.run()
	return n, nil
}

// nextIncarnation returns the incarnation of a node's new life, given the
// last one it saved: later than both that one and the clock, so that it
// never repeats an earlier life's even when the disk that held the last
// one was lost (as long as the clock has moved forward since).
func nextIncarnation(saved uint64, now time.Time) uint64 {
	return max(saved+1, uint64(max(now.UnixNano(), 0)))
}

func closeAll(t Transport, p Persister) error {
	var errs []error
	if t != nil {
		if err := t.Close(); err != nil {
			errs = append(errs, fmt.Errorf("raftlite: closing transport: %w", err))
		}
	}
	if p != nil {
		if err := p.Close(); err != nil {
			errs = append(errs, fmt.Errorf("raftlite: closing persister: %w", err))
		}
	}
	return errors.Join(errs...)
}

// receive is the transport's way in. It blocks while the inbox is full,
// which pushes back on the network rather than growing a queue.
func (n *Node) receive(m Message) {
	// A send to one channel costs less than a select of two: try it
	// first, as there is nearly always room.
	select {
	case n.inbox <- m:
		return
	default:
	}
	select {
	case n.inbox <- m:
	case <-n.closing:
	}
}

// Broadcast submits msg for total-order broadcast from this node, whatever
// its role, and returns once msg is committed, with its position in the
// order (or 0 in the rare case Pending.Wait describes). Each successful
// Broadcast is delivered exactly once on every node. It is Submit followed
// by Wait.
//
// If ctx is done before msg is accepted, Broadcast returns ctx's error and
// msg is never delivered. If ctx ends or the node closes after msg was
// accepted, the error is an *OutcomeUnknownError (errors.Is
// ErrOutcomeUnknown): msg may still commit, once, and its ID says which
// delivery to watch for.
func (n *Node) Broadcast(ctx context.Context, msg []byte) (uint64, error) {
	// The Pending never reaches the caller, so it comes from a pool and
	// goes back once the node is done with it: two allocations (the
	// Pending and its channel) fewer per broadcast.
	p, _ := n.broadcasts.Get().(*Pending)
	if p == nil {
		p = &Pending{done: make(chan struct{}, 1), reusable: true}
	}
	if err := n.submit(ctx, msg, p); err != nil {
		n.recycle(p)
		return 0, err
	}
	index, answered, err := p.wait(ctx)
	if answered {
		// The node let go of p when it answered.
		n.recycle(p)
	}
	return index, err
}

// Submit accepts msg for total-order broadcast and returns without waiting
// for it to commit. Messages submitted through one Node are delivered in
// the order Submit accepted them (FIFO-total order): a caller that submits
// one message after another's Submit returned gets them delivered in that
// order, across leader changes and retries. If the node stops before a
// message commits, neither it nor any message submitted after it through
// this node's current life is delivered unless it commits.
//
// Submit waits while MaxPendingBroadcasts of this node's broadcasts are
// uncommitted. If ctx is done before msg is accepted, Submit returns ctx's
// error and msg is never delivered; msg is copied.
func (n *Node) Submit(ctx context.Context, msg []byte) (*Pending, error) {
	p := &Pending{done: make(chan struct{})}
	if err := n.submit(ctx, msg, p); err != nil {
		return nil, err
	}
	return p, nil
}

// submit hands a copy of msg to the event loop in p.
func (n *Node) submit(ctx context.Context, msg []byte, p *Pending) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(msg) > n.cfg.MaxEntryBytes {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(msg), n.cfg.MaxEntryBytes)
	}
	p.data = make([]byte, len(msg))
	copy(p.data, msg)
	p.accepted.Add(1)
	if err := n.proposals.push(ctx, p); err != nil {
		p.accepted.Done()
		return err
	}
	return nil
}

// Pending is a broadcast accepted by Submit.
type Pending struct {
	data     []byte
	id       BroadcastID
	accepted sync.WaitGroup // done once id is set
	done     chan struct{}  // closed once index or err is set
	index    uint64
	err      error
	start    time.Time // when the node accepted it, for Metrics.CommitLatency
	// reusable: the Pending of a Broadcast, never seen by the caller.
	// Its done channel has room for one value, which resolve sends
	// instead of closing it, so that the channel can serve again.
	reusable bool
}

// ID returns the broadcast's id, which its Delivery carries: zero if the
// node stopped before the broadcast reached its log.
func (p *Pending) ID() BroadcastID {
	p.accepted.Wait()
	return p.id
}

// Done returns a channel that is closed once the outcome is known: the
// broadcast committed, or the node stopped before it did.
func (p *Pending) Done() <-chan struct{} { return p.done }

// Wait waits until the broadcast commits and returns its index. If ctx ends
// first, or the node stops first, the error is an *OutcomeUnknownError;
// but if the node stopped before the broadcast reached its log, the error
// wraps ErrClosed alone, and the broadcast is never delivered.
//
// The index is 0, with a nil error, in one case: this node learnt that the
// broadcast committed only from a snapshot that contains it, sent by a
// leader that had compacted its log past it before this node caught up.
// The broadcast was delivered (inside that snapshot) exactly once.
func (p *Pending) Wait(ctx context.Context) (uint64, error) {
	index, _, err := p.wait(ctx)
	return index, err
}

// wait is Wait, and says whether the outcome is the node's answer rather
// than the end of ctx.
func (p *Pending) wait(ctx context.Context) (index uint64, answered bool, err error) {
	select {
	case <-p.done:
		return p.index, true, p.err
	default:
	}
	select {
	case <-p.done:
		return p.index, true, p.err
	case <-ctx.Done():
		return 0, false, &OutcomeUnknownError{ID: p.ID(), Err: ctx.Err()}
	}
}

func (p *Pending) resolve(index uint64, err error) {
	p.index, p.err = index, err
	if p.reusable {
		p.done <- struct{}{}
		return
	}
	close(p.done)
}

// recycle puts the Pending of a Broadcast back in the pool, once neither
// the node nor the caller holds it.
func (n *Node) recycle(p *Pending) {
	*p = Pending{done: p.done, reusable: true}
	n.broadcasts.Put(p)
}

// Deliveries returns the channel of committed messages, in order, each once
// per Node; it is closed when the node stops. A slow reader delays only its
// own deliveries: the node keeps voting and replicating meanwhile.
func (n *Node) Deliveries() <-chan Delivery { return n.deliveries }

// Status returns a snapshot of the node's state.
func (n *Node) Status() Status {
	n.statusMu.Lock()
	defer n.statusMu.Unlock()
	s := n.status
	s.Followers = slices.Clone(s.Followers)
	s.Membership = s.Membership.clone()
	return s
}

// Err returns why the node stopped by itself (a storage failure), or nil.
func (n *Node) Err() error {
	if p := n.err.Load(); p != nil {
		return *p
	}
	return nil
}

// Close stops the node and closes its transport and persister. A leader
// first hands leadership over (TransferLeadership), waiting up to an
// election timeout. Broadcasts still waiting end with an
// *OutcomeUnknownError wrapping ErrClosed, or with ErrClosed alone for
// those not yet in the log, which are never delivered. Close returns why the node had
// stopped by itself, if it had, joined with the errors of closing the
// transport and the persister.
func (n *Node) Close() error {
	n.handOverBeforeClose()
	return n.closeNow()
}

// closeNow stops the node without handing leadership over, as a crash would.
func (n *Node) closeNow() error {
	n.closeOnce.Do(func() { close(n.closing) })
	<-n.done
	return errors.Join(n.Err(), n.closeErr)
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
	stop := n.startHelpers()
	defer stop()

	election := time.NewTimer(time.Hour)
	election.Stop()
	defer election.Stop()
	heartbeat := time.NewTicker(n.cfg.HeartbeatInterval)
	defer heartbeat.Stop()
	n.flush(n.core.takeReady(), election)

	hot := 0 // turns in a row that took their event in takeHot
	for {
		n.turnTime = time.Time{}
		var deliveries chan Delivery
		next, ok := n.app.next(n.core, n.fetchForApp, n.openForRestore)
		if n.halted {
			return
		}
		if ok {
			deliveries = n.deliveries
		}
		n.publishDelivered()
		// Most turns under load find a message or a proposal waiting:
		// taking it with a receive of its own costs far less than the
		// full select, which locks every channel below. The full select
		// still runs at least every hotTurns+1 turns, so that timers,
		// saves and the other events are never held up for long.
		if hot < hotTurns && n.takeHot() {
			hot++
		} else {
			hot = 0
			select {
			case m := <-n.inbox:
				n.onMessage(m)
			case <-n.proposals.wake:
				n.yieldToCallers()
				n.propose()
			case <-election.C:
				n.tr.event(n.core, "onElectionTimeout")
				n.core.onElectionTimeout()
			case now := <-heartbeat.C:
				n.onHeartbeat(now)
			case call := <-n.readCallsIfRoom():
				n.takeRead(call)
			case call := <-n.transferCalls:
				n.takeTransfer(call)
			case call := <-n.changeCalls:
				n.takeChange(call)
			case r := <-n.saved:
				if !n.onSaved(r) {
					return
				}
			case r := <-n.fetched:
				n.onFetched(r)
			case deliveries <- next:
				n.handedOver(&next)
				n.handOverMore()
				continue
			case req := <-n.snapshotRequests:
				req.reply <- n.planSnapshot(req.index)
			case taken := <-n.snapshotsTaken:
				n.tr.snapshotTaken(n.core, taken.meta)
				n.core.onSnapshotTaken(taken.meta)
				n.updateStatus()
				close(taken.seen) // so that Status shows it once Snapshot returns
			case <-n.closing:
				return
			}
		}
		n.drain()
		n.flush(n.core.takeReady(), election)
		n.proposals.settle(len(n.core.pending))
		if n.halted {
			return
		}
		n.evict()
		n.updateStatus()
	}
}

// hotTurns bounds the turns in a row that the event loop takes its
// event in takeHot, without the full select.
const hotTurns = 4

// takeHot takes a message or the queued proposals, if waiting already,
// and reports whether it took any.
func (n *Node) takeHot() bool {
	select {
	case m := <-n.inbox:
		n.onMessage(m)
		return true
	default:
	}
	select {
	case <-n.proposals.wake:
		n.yieldToCallers()
		n.propose()
		return true
	default:
	}
	return false
}

// handedOver records that the application was handed next.
func (n *Node) handedOver(next *Delivery) {
	if next.Snapshot != nil {
		n.log.Info("the application restores a snapshot", "index", next.Index, "term", next.Term)
		n.metrics.snapshotRestored()
	}
	n.tr.deliver(n.core, next)
	n.app.handedOver(next)
	n.handed = next.Index
	n.restoring = nil
}

// handOverMore hands the application what else is committed, as long as
// Deliveries has room. Under load, one turn of the loop's select per
// delivery (three nodes, so three turns per broadcast) was much of the
// loop's cost; the channel's buffer bounds how long timers wait.
func (n *Node) handOverMore() {
	for {
		next, ok := n.app.next(n.core, n.fetchForApp, n.openForRestore)
		if !ok || n.halted {
			return
		}
		select {
		case n.deliveries <- next:
			n.handedOver(&next)
		default:
			return
		}
	}
}

// startHelpers starts the saver and, with an EntryReader, the fetcher, and
// returns what stops them.
func (n *Node) startHelpers() (stop func()) {
	saverDone := make(chan struct{})
	go n.saver(saverDone)
	fetcherDone := make(chan struct{})
	go n.fetcher(fetcherDone)
	return func() {
		close(n.toSave)
		close(n.toFetch)
		<-saverDone
		<-fetcherDone
	}
}

// drain handles events that are already waiting, up to a bound that keeps
// one batch from delaying timers for long.
func (n *Node) drain() {
	for range 256 {
		select {
		case m := <-n.inbox:
			n.onMessage(m)
		case <-n.proposals.wake:
			n.propose()
		case call := <-n.readCallsIfRoom():
			n.takeRead(call)
		default:
			return
		}
	}
}

// clock returns the time of the event loop's current turn, read from the
// system clock once per turn. Last contact and the commit latency's
// histogram need no finer time, and a read per message and two per
// broadcast were some 5% of the loop's time under load: a latency is
// now off by at most the turn's length, tens of microseconds.
func (n *Node) clock() time.Time {
	if n.turnTime.IsZero() {
		n.turnTime = time.Now()
	}
	return n.turnTime
}

// onMessage hands m to the core, noting when its sender was last heard of.
func (n *Node) onMessage(m Message) {
	if _, peer := n.peers[m.From]; peer {
		n.heard[m.From] = n.clock()
		n.metrics.received(m.From, m.Kind)
	}
	n.tr.message(n.core, &m)
	n.core.onMessage(m)
}

// yieldToCallers lets the callers that are ready to run submit before the
// loop takes the queue, when broadcasts of this node are under way already.
//
// The first caller to submit wakes the loop, and Go runs the goroutine a
// goroutine wakes next: the loop took that one broadcast and replicated
// it alone while the other callers, woken by the last commit, waited
// behind it. With 64 clients a turn took 1.3 broadcasts and each follower
// got a message and sent an acknowledgement per 1.4 entries. Yielding
// once puts the loop behind them: a turn takes 14, and durable commits
// on tcp went from 35k/s to 50k/s. Only while others are uncommitted: a
// lone caller's broadcast is taken at once.
func (n *Node) yieldToCallers() {
	if len(n.core.pending) > 0 {
		runtime.Gosched()
	}
}

// propose hands the core every broadcast queued.
func (n *Node) propose() {
	batch := n.proposals.take()
	for _, p := range batch {
		n.tr.broadcast(n.core, p.data)
		seq := n.core.onBroadcast(p.data)
		p.id = BroadcastID{Origin: n.cfg.ID, Incarnation: n.core.hs.Incarnation, Seq: seq}
		p.data = nil
		p.start = n.clock()
		n.metrics.accepted()
		p.accepted.Done()
	}
	n.waiters = append(n.waiters, batch...)
	n.proposals.done(batch)
}

// resolve completes the waiting broadcasts that acks acknowledge, in
// order of Seq.
func (n *Node) resolve(acks []ack) {
	k := 0
	for _, a := range acks {
		for k < len(n.waiters) && n.waiters[k].id.Seq <= a.Seq {
			p := n.waiters[k]
			k++
			if p.id.Seq == a.Seq {
				// Metrics first: once resolved, a Broadcast's p is reused.
				n.metrics.committed(n.clock().Sub(p.start))
				p.resolve(a.Index, nil)
			}
		}
	}
	n.waiters = dropFront(n.waiters, k)
}

// evict lets committed entries leave memory once they are delivered, with
// an EntryReader to read them back.
func (n *Node) evict() {
	if n.reader != nil && n.app.delivered > logChunk {
		// Keep a chunk behind the application, so that a follower a
		// little behind is still served from memory.
		n.core.evict(n.app.delivered - logChunk)
	}
}

func (n *Node) updateStatus() {
	c := n.core
	now := Status{
		ID: c.cfg.id, Term: c.hs.Term, Role: c.role, Leader: c.leader,
		CommitIndex: c.commit, LastIndex: c.log.lastIndex(),
		Delivered: n.app.delivered, Dropped: c.dropped, HeldEntries: c.log.lastIndex() + 1 - c.log.memFirst(),
		Pending: len(c.pending), SnapshotIndex: c.snapshot.Index,
		MembershipIndex: c.confIndex(),
	}
	n.statusMu.Lock()
	was := n.status
	n.lastHanded = n.handed
	if n.deliveredWaited && now.Delivered != was.Delivered {
		close(n.deliveredChanged)
		n.deliveredChanged, n.deliveredWaited = make(chan struct{}), false
	}
	// The followers' array is reused from one update to the next; Status
	// hands out copies.
	now.Followers = n.followers(was.Followers[:0])
	now.Membership = was.Membership
	confChanged := c.confChanged || was.ID == None
	if confChanged {
		now.Membership = c.conf().clone()
		c.confChanged = false
	}
	n.status = now
	n.statusMu.Unlock()
	n.updatePeers(confChanged)
	n.metrics.setCore(c.stats)
	n.logChanges(was, now)
}

// publishDelivered makes what the application was handed visible to
// WaitDelivered at once, between full status updates.
func (n *Node) publishDelivered() {
	if n.status.Delivered == n.app.delivered { // only this goroutine writes it
		return
	}
	n.statusMu.Lock()
	{
		n.status.Delivered, n.lastHanded = n.app.delivered, n.handed
		if n.deliveredWaited {
			close(n.deliveredChanged)
			n.deliveredChanged, n.deliveredWaited = make(chan struct{}), false
		}
	}
	n.statusMu.Unlock()
}

// followers appends the leader's view of each follower to dst, by ID.
func (n *Node) followers(dst []FollowerStatus) []FollowerStatus {
	c := n.core
	if c.role != Leader {
		return nil
	}
	for _, id := range c.members {
		if pr := c.progress[id]; pr != nil {
			dst = append(dst, FollowerStatus{ID: id, Match: pr.match, Next: pr.next, Probing: pr.probing, LastContact: n.heard[id],
				DiskID: n.core.disks[id], WrongDisk: n.core.wrongDisk(id)})
		}
	}
	return dst
}

// logChanges tells, at Info, the story of the node's elections, roles and
// leaders, so that a cluster's logs read as what happened.
func (n *Node) logChanges(was, now Status) {
	switch {
	case now.Role == PreCandidate && was.Role != PreCandidate:
		n.log.Info("asking whether it could win an election (pre-vote)", "term", now.Term, "role", now.Role,
			"why", "no word from a leader for an election timeout", "index", now.LastIndex)
	case now.Role == Candidate && (was.Role != Candidate || now.Term != was.Term):
		why := "no word from a leader for an election timeout"
		if n.core.cfg.preVote {
			why = "a quorum said it would vote for it (pre-vote)"
		}
		n.log.Info("starting an election", "term", now.Term, "role", now.Role, "why", why, "index", now.LastIndex)
	case now.Role == Follower && was.Role == Leader && now.Term == was.Term:
		why := "heard from no quorum for an election timeout (check-quorum)"
		if !n.core.isVoter() {
			why = "removed from the membership"
		}
		n.log.Info("stepping down", "term", now.Term, "role", now.Role, "was", was.Role, "why", why)
	case now.Role == Leader && was.Role != Leader:
		votes := slices.Sorted(maps.Keys(n.core.votes))
		n.log.Info("won the election", "term", now.Term, "role", now.Role, "votes", votes, "index", now.LastIndex)
	case now.Role == Follower && (was.Role == Leader || was.Role == Candidate) && was.ID != None:
		n.log.Info("stepping down", "term", now.Term, "role", now.Role, "was", was.Role, "leader", now.Leader)
	}
	for _, f := range now.Followers {
		if f.WrongDisk && !slices.ContainsFunc(was.Followers, func(g FollowerStatus) bool { return g.ID == f.ID && g.WrongDisk }) {
			n.log.Warn("a member answers from another disk than the one it joined with: its storage was wiped or replaced, "+
				"so it neither votes nor counts towards a quorum until it is re-added as a voter",
				"term", now.Term, "role", now.Role, "member", f.ID, "disk", fmt.Sprintf("%016x", f.DiskID))
		}
	}
	if now.SnapshotIndex > was.SnapshotIndex && was.ID != None {
		n.log.Info("snapshot stored, log compacted behind it", "term", now.Term, "role", now.Role, "index", now.SnapshotIndex)
	}
	if now.Leader != was.Leader && now.Leader != None && now.Role == Follower {
		n.log.Info("following a leader", "term", now.Term, "role", now.Role, "leader", now.Leader)
	}
}

// fail stops the node for err, which Err then reports.
func (n *Node) fail(err error) {
	n.err.Store(&err)
	n.log.Error("stopping", "err", err)
	n.halted = true
}

func (n *Node) shutdown() {
	if n.restoring != nil {
		_ = n.restoring.Close() // never handed over
	}
	n.closeOnce.Do(func() { close(n.closing) })
	n.transportClosed = true
	n.closeErr = closeAll(n.transport, n.persister)
	if n.closeErr != nil {
		n.log.Warn("closing", "err", n.closeErr)
	}
	closed := n.closedErr()
	for _, p := range n.waiters {
		p.resolve(0, &OutcomeUnknownError{ID: p.id, Err: closed})
	}
	n.waiters = nil
	// Broadcasts still queued never reached the log: they are never
	// delivered, and their callers can know it.
	for _, p := range n.proposals.close(closed) {
		p.data = nil
		p.accepted.Done()
		p.resolve(0, closed)
	}
	n.updateStatus()
	close(n.deliveries)
	close(n.done)
}
