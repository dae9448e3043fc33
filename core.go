package raftlite

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"time"
)

// Role is a node's part in the current term.
type Role uint8

// The roles of Raft (§5.1).
const (
	// Follower answers leaders and candidates.
	Follower Role = iota
	// Candidate is standing for election.
	Candidate
	// Leader appends broadcasts to the log and replicates it.
	Leader
	// PreCandidate asks whether it could win an election before it
	// stands in one, so that a node that cannot win never raises its term
	// (pre-vote, Raft thesis §9.6).
	PreCandidate
)

// String returns the role's name in lower case.
func (r Role) String() string {
	switch r {
	case Follower:
		return "follower"
	case Candidate:
		return "candidate"
	case Leader:
		return "leader"
	case PreCandidate:
		return "pre-candidate"
	}
	return "unknown"
}

// coreConfig is what the algorithm needs to know; Config holds the rest.
type coreConfig struct {
	id                NodeID
	peers             []NodeID // every voting member, self included, sorted
	electionTimeout   time.Duration
	heartbeatInterval time.Duration
	maxEntryBytes     int
	maxBatchBytes     int
	maxInflightBytes  int
	// trailingEntries is how many entries before a snapshot's index the
	// log keeps, for followers only a little behind.
	trailingEntries uint64
	// snapshotBytesPerTick caps how fast a leader streams a snapshot to
	// one follower, in bytes per heartbeat; 0 does not.
	snapshotBytesPerTick int
	// bootstrap is the membership a node starts with when neither its log
	// nor its snapshot says otherwise; empty, it waits to be added.
	bootstrap Membership
	// preVote: a node that times out asks first whether it could win.
	preVote bool
	// checkQuorum: a leader that has not heard from a quorum for an
	// election timeout steps down, and a node that heard from its leader
	// within one ignores vote requests.
	checkQuorum bool
	// leaseTicks, when not 0, lets a leader serve reads without a round of
	// confirmation for this many ticks after one (lease reads).
	leaseTicks int
	// bug switches on a known bug in tests built with -tags raftlite_bugs;
	// see bugs.go.
	bug bug
}

// ticksPerElection is how many heartbeats make an election timeout.
func (cc *coreConfig) ticksPerElection() int {
	return int(max(cc.electionTimeout/cc.heartbeatInterval, 1))
}

// core is Raft as a pure state machine. Each on* method handles one event
// and records what should happen as a result in c.out; the runtime (Node) or
// the simulator collects it with takeReady and carries it out. Nothing here
// touches a clock, a socket, a file or a goroutine: time arrives as timeout
// and tick events, randomness from the seeded source it is given.
type core struct {
	cfg    coreConfig
	rng    *rand.Rand
	quorum int // of voters

	// The membership: the configurations over the log (see
	// membership.go), the members and voters in effect, by id, and the
	// changes this leader was asked for that have not committed yet.
	confs          []confAt
	members        []NodeID
	voters         []NodeID
	confChanged    bool
	waitingChanges []confChange

	// Stable state: saved before any message that depends on it leaves.
	hs  HardState
	log raftLog

	// Volatile state.
	role     Role
	leader   NodeID
	commit   uint64
	votes    map[NodeID]bool
	refusals map[NodeID]bool // a candidate's, to see that it lost
	// disks is the DiskID each member last sent from (disk.go).
	disks    map[NodeID]uint64
	progress map[NodeID]*progress // leader only
	// stableIndex is the last index known to be durable here; a leader counts
	// its own copy towards a quorum only up to it.
	stableIndex uint64
	// sessions holds, per origin, the last broadcast in the log: what a
	// leader checks a broadcast against. sessionUndo records, for every
	// uncommitted broadcast in the log, what it replaced in sessions, so
	// that cutting the log's tail costs what was cut, not the whole log.
	sessions    map[NodeID]broadcastID
	sessionUndo []sessionChange

	// snapshot describes the latest durable snapshot (zero if none): the
	// log starts at or before its Index. incoming is one being received.
	snapshot SnapshotMeta
	incoming *incomingSnapshot

	// Broadcasts accepted here that are not yet seen committed, oldest first.
	pending        []Entry
	pendingRoom    int // the capacity pending last grew to (pushPending)
	nextSeq        uint64
	forwardedSeq   uint64 // highest pending Seq forwarded to the current leader
	forwardedBytes int    // size of the pending entries up to forwardedSeq
	forwardTicks   int    // ticks since the pending head last made progress
	needReplicate  bool   // the leader appended entries not yet offered to followers

	// ticks counts heartbeats; electionElapsed, those since the election
	// timer was last reset (with checkQuorum, a follower that heard from
	// its leader less than an election timeout ago is in its lease).
	ticks           int
	electionElapsed int
	// ledSince is the tick this node became leader at.
	ledSince int
	// leaseRetry: this pre-candidacy was told when a lease that refused it
	// ends, and will ask again then.
	leaseRetry bool

	reads readState
	// handover is the leadership transfer under way, on a leader.
	handover *transferState

	out          ready
	holdMessages bool // term or vote changed since the last takeReady
	dropped      uint64
	matchBuf     []uint64
	stats        coreStats // for Node.Metrics; see core_stats.go
}

// broadcastID is what sessions keep of an origin's last broadcast.
type broadcastID struct{ incarnation, seq uint64 }

// sessionChange is one undo record: the entry at index set its origin's
// session, which was prev (or absent, if !had).
type sessionChange struct {
	index  uint64
	origin NodeID
	prev   broadcastID
	had    bool
}

// progress is the leader's view of one follower (Raft's nextIndex and
// matchIndex, with pipelining state).
type progress struct {
	match uint64
	next  uint64
	// probing: the follower's log position is unknown; send one request at a
	// time until a reply tells where it stands.
	probing   bool
	probeSent bool
	// fetching: entries for this follower are being read back from disk.
	fetching bool
	// inflight is one (last index, bytes) pair per unacknowledged request.
	inflight      []inflightBatch
	inflightBytes int
	sentCommit    uint64
	// transfer: the follower's next entry is compacted away, and the
	// latest snapshot is being streamed to it instead.
	transfer *snapshotTransfer
	// heardTick is when the follower last answered (in ticks), for
	// checkQuorum; readAck, the latest round of leadership confirmation
	// it echoed.
	heardTick int
	readAck   uint64
}

type inflightBatch struct {
	last  uint64
	bytes int
}

// ready is what the core asks its driver to do after one or more events.
// Its slices are valid until the next takeReady.
type ready struct {
	// HardState, when not nil, and Entries must be saved. Entries replace
	// the persisted log from Entries[0].Index on.
	HardState *HardState
	Entries   []Entry
	// Messages may be sent at once; AfterSync only after everything saved
	// so far (this Ready's state included) is durable.
	Messages  []Message
	AfterSync []Message
	// ElectionTimer: >0 restart it with this duration, <0 stop it, 0 leave it.
	ElectionTimer time.Duration
	// Acked lists this node's own broadcasts now committed.
	Acked []ack
	// Fetches asks for entries that are no longer in memory, to be read
	// back from the Persister and handed to onFetched.
	Fetches []fetch

	// SnapshotReads asks for chunks of the latest snapshot, for followers,
	// to be handed to onSnapshotRead; TransfersEnded lists followers whose
	// transfer is over, so that what reads for it can go.
	SnapshotReads  []snapshotRead
	TransfersEnded []NodeID
	// SnapshotWrites store a snapshot received from the leader; with
	// Discard, DiscardLog(DiscardIndex) comes next, then the save of
	// HardState and Entries, then Compact(Compact) if not zero: the save
	// pipeline does them in this order, after everything queued before.
	SnapshotWrites []snapshotWrite
	Discard        bool
	DiscardIndex   uint64
	Compact        uint64

	// Reads lists this node's reads (onReadIndex) now confirmed, with
	// their read index.
	Reads []readDone
	// Transfers lists, in order, how the leadership transfers asked of
	// this node (onTransferLeadership) ended.
	Transfers []transferOutcome
	// ConfChanges lists the membership changes asked of this node that
	// ended.
	ConfChanges []confOutcome
}

// fetch asks for the saved entries [Lo, Hi), for follower To.
type fetch struct {
	To     NodeID
	Lo, Hi uint64
}

// ack reports that the broadcast with sequence Seq committed at Index, or,
// with InSnapshot, at an index this node does not know (Index is 0): it
// learnt of the commit only from a snapshot.
type ack struct {
	Seq, Index uint64
	InSnapshot bool
}

// bootLog is a node's log as it starts: the latest snapshot, every later
// entry's term, the entries from some point on in memory, and who had
// broadcast what before that point.
type bootLog struct {
	log      raftLog
	snapshot SnapshotMeta
	sessions map[NodeID]broadcastID // as of the snapshot and the entries not held in memory
	// confs holds the configuration entries after the snapshot.
	confs []confAt
	// discard: the saved log ends before the snapshot's Index, or
	// disagrees with it there, so that everything in it is covered or
	// uncommitted (Raft §7). The node must DiscardLog before it saves
	// again: saves continue after the snapshot.
	discard bool
}

// newBootLog starts a log whose first saved entry is first, after the
// snapshot snap (zero if none).
func newBootLog(snap SnapshotMeta, first uint64, chunkSize int) bootLog {
	b := bootLog{log: raftLog{offset: first - 1, chunkSize: chunkSize}, snapshot: snap,
		sessions: sessionsFrom(snap.Sessions)}
	if first-1 >= snap.Index {
		b.log.restartAfter(snap.Index, snap.Term)
	}
	return b
}

// add takes the next saved entry, holding it in memory if keep; once one
// entry is kept, all that follow must be. Entries up to the snapshot's
// Index are kept for their terms only: the snapshot's sessions already
// count them.
func (b *bootLog) add(e *Entry, keep bool) {
	switch {
	case b.discard || e.Index <= b.log.offset:
		return
	case e.Index == b.snapshot.Index && e.Term != b.snapshot.Term:
		b.log.restartAfter(b.snapshot.Index, b.snapshot.Term)
		b.discard, b.confs = true, nil
		return
	}
	if m, ok := decodeConfEntry(e); ok && e.Index > b.snapshot.Index {
		b.confs = append(b.confs, confAt{index: e.Index, conf: m})
	}
	if keep {
		b.log.append(*e)
		return
	}
	b.log.skip(e)
	if e.Index > b.snapshot.Index {
		noteSession(b.sessions, e)
	}
}

// finish is called after the last entry: a log that ends before the
// snapshot's Index (the snapshot covered entries not yet saved here) is
// all covered by it, and the next entry saved follows the snapshot.
func (b *bootLog) finish() {
	if b.log.lastIndex() < b.snapshot.Index {
		b.log.restartAfter(b.snapshot.Index, b.snapshot.Term)
		b.discard, b.confs = true, nil
	}
}

// bootInMemory holds every entry in memory.
func bootInMemory(snap SnapshotMeta, entries []Entry, chunkSize int) bootLog {
	first := snap.Index + 1
	if len(entries) > 0 {
		first = entries[0].Index
	}
	b := newBootLog(snap, first, chunkSize)
	for i := range entries {
		b.add(&entries[i], true)
	}
	b.finish()
	return b
}

func newCore(cfg coreConfig, hs HardState, boot bootLog, rng *rand.Rand) *core {
	c := &core{
		cfg:      cfg,
		rng:      rng,
		hs:       hs,
		log:      boot.log,
		sessions: boot.sessions,
		snapshot: boot.snapshot,
	}
	if c.injected(bugForgetSessions) {
		c.sessions = map[NodeID]broadcastID{}
	}
	base := confAt{conf: cfg.bootstrap.clone()}
	if cfg.bootstrap.Members == nil {
		for _, id := range cfg.peers {
			base.conf.Members = append(base.conf.Members, Member{ID: id})
		}
	}
	if m := boot.snapshot.Membership; m != nil {
		base = confAt{index: boot.snapshot.Index, conf: m.clone()}
	}
	c.setConfs(append([]confAt{base}, boot.confs...))
	// Everything loaded was saved by an earlier life.
	c.stableIndex = c.log.lastIndex()
	// Entries up to the saved commit index are committed: deliver them
	// without waiting for a leader.
	c.commit = max(min(hs.Commit, c.log.lastIndex()), c.snapshot.Index)
	for i := max(c.log.memFirst(), c.snapshot.Index+1); i <= c.log.lastIndex(); i++ {
		if i <= c.commit {
			noteSession(c.sessions, c.log.at(i)) // committed: never cut, so no undo record
		} else {
			c.noteSession(c.log.at(i))
		}
	}
	c.becomeFollower(hs.Term, None)
	hb, e := c.cfg.heartbeatInterval, c.cfg.electionTimeout
	switch {
	case (cfg.preVote && cfg.leaseTicks == 0) || c.quorum == 1:
		// A node that starts asks sooner whether it could win, as etcd's
		// initial election tick advance does: pre-votes disrupt no leader
		// that lives, and a live leader's heartbeat will most likely come
		// first. A cluster that starts, or restarts, whole elects in less
		// than an election timeout. (A cluster of one waits for nobody.)
		c.electionTimerWithin(2*hb, e)
	case cfg.preVote:
		// With lease reads, a node just started must not help elect
		// anyone, itself included, while a lease it may have confirmed
		// before its crash could run: for e - hb (see inLease). Then it
		// asks at once, rather than after one to two timeouts: it may be
		// the one node that can win.
		c.electionTimerWithin(e-hb, e)
	}
	return c
}

// takeReady returns and clears what the core wants done.
func (c *core) takeReady() ready {
	c.moveReads()
	if c.role == Leader {
		c.replicateAll()
	} else {
		c.forwardPending()
	}
	if c.commit > c.hs.Commit && (len(c.out.Entries) > 0 || c.out.HardState != nil) {
		// The commit index rides along with a save that happens anyway: a
		// save of its own would cost a sync for what is only a hint.
		c.hs.Commit = c.commit
		c.stageHardState()
	}
	c.holdMessages = false
	rd := c.out
	// The next Ready reuses these arrays: the driver is done with this one
	// by then, having sent its messages and copied what it saves.
	c.out = ready{Entries: rd.Entries[:0], Messages: rd.Messages[:0], AfterSync: rd.AfterSync[:0],
		Acked: rd.Acked[:0], Fetches: rd.Fetches[:0], SnapshotReads: rd.SnapshotReads[:0],
		TransfersEnded: rd.TransfersEnded[:0], SnapshotWrites: rd.SnapshotWrites[:0], Reads: rd.Reads[:0],
		Transfers: rd.Transfers[:0], ConfChanges: rd.ConfChanges[:0]}
	return rd
}

// --- State transitions -------------------------------------------------

func (c *core) becomeFollower(term uint64, leader NodeID) {
	if c.handover != nil {
		// The target stood (a later term), or we lost our quorum.
		c.endLeadershipTransfer(term > c.hs.Term)
	}
	if term > c.hs.Term {
		c.hs.Term = term
		c.hs.VotedFor = None
		c.saveHardState()
	}
	if c.role == Leader {
		c.readsSteppedDown()
		c.stats.stepDowns++
		c.failChanges()
	}
	c.role = Follower
	for _, f := range c.members {
		if pr := c.progress[f]; pr != nil {
			c.endTransfer(f, pr) // so that what reads for it can go
		}
	}
	c.progress = nil
	c.setLeader(leader)
	c.resetElectionTimer()
}

// deposed: a follower answered from a later term. With pre-vote, a leader
// so deposed asks again soon, not after a whole election timeout: the later
// term is most often a stray candidate's, which followers that heard from
// us lately do not vote for, so that nobody else can win for a while. If a
// leader that lives holds the later term, its followers refuse our pre-vote
// and nothing changes.
func (c *core) deposed(term uint64) {
	wasLeader := c.role == Leader
	c.becomeFollower(term, None)
	if wasLeader && c.cfg.preVote {
		hb := c.cfg.heartbeatInterval
		c.electionTimerWithin(hb, 2*hb)
	}
}

func (c *core) setLeader(l NodeID) {
	c.stats.newLeader(c.leader, l)
	if l != c.leader {
		// A new leader knows nothing of what we forwarded to the old one.
		c.reforward()
		c.readsLeaderChanged()
	}
	c.leader = l
}

// becomePreCandidate asks everyone whether they would vote for us in the
// next term, without moving to it: a node that cannot win, cut off or with
// a stale log, never raises its term to disrupt the cluster.
func (c *core) becomePreCandidate() {
	if c.injected(bugPreVoteRaisesTerm) {
		c.hs.Term++
		c.saveHardState()
	}
	c.role = PreCandidate
	c.stats.preVotes++
	c.leaseRetry = false
	if !c.injected(bugPreCandidateKeepsLeader) {
		// Forget the leader we gave up on: remembering it, we would refuse
		// the others' pre-votes as if it still led, and they ours, for
		// ever (etcd-io/etcd#8334).
		c.setLeader(None)
	}
	c.votes = map[NodeID]bool{}
	c.resetElectionTimer()
	// A pre-vote disturbs nobody: while it goes unanswered (a partition,
	// say), ask again within one election timeout rather than two, so
	// that a node that can win does not sit out most of one after a heal.
	e := c.cfg.electionTimeout
	c.electionTimerWithin(e/2, e)
	for _, p := range c.voters {
		if p != c.cfg.id {
			c.send(Message{Kind: MsgPreVoteRequest, To: p, Term: c.hs.Term + 1, LastIndex: c.log.lastIndex(), LastTerm: c.log.lastTerm()})
		}
	}
	c.onPreVote(c.cfg.id) // ours needs no saving: nothing changed
}

// becomeCandidate stands for election in the next term; transfer says the
// leader handed leadership to us (MsgTimeoutNow).
func (c *core) becomeCandidate(transfer bool) {
	c.hs.Term++
	c.hs.VotedFor = c.cfg.id
	c.saveHardState()
	c.role = Candidate
	c.stats.elections++
	c.setLeader(None)
	// Our own vote counts once it is durable, like everyone else's: see onPersisted.
	c.votes, c.refusals = map[NodeID]bool{}, map[NodeID]bool{}
	c.resetElectionTimer()
	for _, p := range c.voters {
		if p != c.cfg.id {
			c.send(Message{Kind: MsgVoteRequest, To: p, LastIndex: c.log.lastIndex(), LastTerm: c.log.lastTerm(), Transfer: transfer})
		}
	}
}

func (c *core) becomeLeader() {
	c.role = Leader
	c.ledSince = c.ticks
	c.stats.electionsWon++
	c.setLeader(c.cfg.id)
	c.out.ElectionTimer = -1
	c.progress = make(map[NodeID]*progress, len(c.members))
	for _, p := range c.members {
		if p != c.cfg.id {
			c.progress[p] = &progress{next: c.log.lastIndex() + 1, probing: true, heardTick: c.ticks}
		}
	}
	// An entry of our own term lets earlier entries commit (Raft §5.4.2):
	// the record of the disks our votes told us of, if there is one to
	// make (disk.go), or else a no-op.
	if !c.injected(bugNoNoop) && !c.recordDisks(true) {
		c.appendAsLeader(Entry{Kind: EntryNoop})
	}
	for _, e := range c.pending {
		c.acceptBroadcast(e)
	}
}

// --- Helpers -----------------------------------------------------------

// acceptBroadcast appends e unless it is already in the log. It must be the
// next broadcast from its origin: a gap means an earlier one was lost on the
// way, and the origin will resend both in order.
func (c *core) acceptBroadcast(e Entry) {
	if c.handover != nil {
		return // held until the transfer ends: see leadership.go
	}
	last, known := c.sessions[e.Origin]
	next := (!known && c.injected(bugForgetSessions)) ||
		(e.Incarnation == last.incarnation && e.Seq <= last.seq && c.injected(bugAcceptRetries)) ||
		(e.Incarnation == last.incarnation && e.Seq == last.seq+1) ||
		(e.Incarnation > last.incarnation && e.Seq == 1) ||
		(c.injected(bugAcceptGaps) && e.Incarnation == last.incarnation && e.Seq > last.seq)
	if next {
		c.appendAsLeader(e)
	}
}

func noteSession(sessions map[NodeID]broadcastID, e *Entry) {
	if e.Kind == EntryData {
		sessions[e.Origin] = broadcastID{e.Incarnation, e.Seq}
	}
}

// noteSession records e, just added to the log, in sessions, keeping what
// it replaced in case the entry is cut again.
func (c *core) noteSession(e *Entry) {
	if e.Kind != EntryData {
		return
	}
	prev, had := c.sessions[e.Origin]
	c.sessionUndo = append(c.sessionUndo, sessionChange{index: e.Index, origin: e.Origin, prev: prev, had: had})
	noteSession(c.sessions, e)
}

// truncateAfter cuts the log after index i and undoes what the cut
// entries did to sessions.
func (c *core) truncateAfter(i uint64) {
	c.log.truncateAfter(i)
	c.cutConfs(i)
	c.stableIndex = min(c.stableIndex, i)
	u := c.sessionUndo
	for len(u) > 0 && u[len(u)-1].index > i {
		ch := u[len(u)-1]
		if ch.had {
			c.sessions[ch.origin] = ch.prev
		} else {
			delete(c.sessions, ch.origin)
		}
		u = u[:len(u)-1]
	}
	c.sessionUndo = u
}

// forgetSessionUndo drops the undo records of committed entries, which
// are never cut.
func (c *core) forgetSessionUndo() {
	k := 0
	for k < len(c.sessionUndo) && c.sessionUndo[k].index <= c.commit {
		k++
	}
	c.sessionUndo = dropFront(c.sessionUndo, k)
}

// dropFront drops the first k elements of the queue s and moves the rest
// to the front of its array. Reslicing instead (s[k:]) shrinks the room
// left at the back, so that a queue pushed and popped for good grows a new
// array every few hundred pops; moving the few elements left costs less.
// Only for queues that nothing else points into.
func dropFront[T any](s []T, k int) []T {
	m := copy(s, s[k:])
	clear(s[m:])
	return s[:m]
}

// evict lets go of the in-memory entries up to through that are committed
// and durable, which can be read back from the Persister. Only whole chunks
// go, oldest first.
func (c *core) evict(through uint64) {
	c.log.evictThrough(min(through, c.commit, c.stableIndex))
}

func (c *core) appendAsLeader(e Entry) {
	e.Index = c.log.lastIndex() + 1
	e.Term = c.hs.Term
	c.log.append(e)
	c.noteSession(&e)
	c.noteConf(&e)
	c.persistEntries(c.log.slice(e.Index, e.Index+1, e.size()))
	c.needReplicate = true
}

// appendFromLeader adds the entries we lack, cutting a conflicting suffix
// (Raft §5.3). It refuses to cut committed entries, which no correct leader
// asks for.
func (c *core) appendFromLeader(ents []Entry) bool {
	for i := range ents {
		e := &ents[i]
		if e.Index <= c.log.offset {
			continue
		}
		if e.Index <= c.log.lastIndex() {
			if c.log.term(e.Index) == e.Term {
				continue
			}
			if e.Index <= c.commit {
				return false
			}
			c.truncateAfter(e.Index - 1)
		}
		c.log.append(ents[i:]...)
		for k := i; k < len(ents); k++ {
			c.noteSession(&ents[k])
			c.noteConf(&ents[k])
		}
		c.persistEntries(ents[i:])
		return true
	}
	return true
}

// maybeCommit commits the largest index a quorum holds, if it is of the
// current term: older entries commit only beneath one of ours (Raft §5.4.2,
// Figure 8).
func (c *core) maybeCommit() {
	own := c.stableIndex
	if c.injected(bugCountUnsavedOwnCopy) {
		own = c.log.lastIndex()
	}
	c.matchBuf = c.matchBuf[:0]
	if c.isVoter() {
		c.matchBuf = append(c.matchBuf, own)
	}
	counted := c.voters
	if c.injected(bugLearnerVotes) {
		counted = c.members
	}
	for _, id := range counted {
		if pr := c.progress[id]; pr != nil && c.countsFor(id) {
			c.matchBuf = append(c.matchBuf, pr.match)
		}
	}
	if len(c.matchBuf) < c.quorum {
		return
	}
	slices.Sort(c.matchBuf)
	n := c.matchBuf[len(c.matchBuf)-c.quorum]
	if n > c.commit && (c.log.term(n) == c.hs.Term || c.injected(bugCommitOldTerms)) {
		c.advanceCommit(n)
	}
}

func (c *core) advanceCommit(n uint64) {
	if n <= c.commit {
		return
	}
	from := c.commit + 1
	c.commit = n
	c.forgetSessionUndo()
	c.ackOwn(from, n)
	c.resolveChanges()
	c.leaveIfRemoved()
	c.recordDisks(false)
}

// ackOwn releases our own broadcasts that committed in [from, to].
func (c *core) ackOwn(from, to uint64) {
	if len(c.pending) == 0 {
		return
	}
	// Entries out of memory are older than anything this incarnation
	// broadcast: those are held until they commit, and are acknowledged then.
	for i := max(from, c.log.memFirst()); i <= to; i++ {
		e := c.log.at(i)
		if e.Kind != EntryData || e.Origin != c.cfg.id || e.Incarnation != c.hs.Incarnation {
			continue
		}
		for len(c.pending) > 0 && c.pending[0].Seq <= e.Seq {
			p := &c.pending[0]
			if p.Seq == e.Seq {
				index := i
				if c.injected(bugAckBatchIndex) {
					index = to
				}
				c.out.Acked = append(c.out.Acked, ack{Seq: e.Seq, Index: index})
			}
			c.popPending()
		}
	}
}

// pushPending appends e to the pending broadcasts. Their array is only
// ever appended to, never written over, since forwarded messages point
// into it; when it is full the next one is made. Under load a leader's
// pending broadcasts run out and refill all the time, and popPending then
// lets the array go: the next is made about as large as the last, rather
// than grown again from one entry (about 5% of the loop's time).
func (c *core) pushPending(e Entry) {
	if len(c.pending) == cap(c.pending) {
		c.pendingRoom = max(2*len(c.pending), c.pendingRoom*3/4, 8)
		grown := make([]Entry, len(c.pending), c.pendingRoom)
		copy(grown, c.pending)
		c.pending = grown
	}
	c.pending = append(c.pending, e)
}

// popPending drops the oldest pending broadcast, which committed.
func (c *core) popPending() {
	if p := &c.pending[0]; p.Seq <= c.forwardedSeq {
		c.forwardedBytes -= p.size()
	}
	c.pending = c.pending[1:]
	c.forwardTicks = 0
	if len(c.pending) == 0 {
		c.pending = nil
	}
}

// replicateAll offers new entries, or a new commit index, to every follower.
func (c *core) replicateAll() {
	for _, f := range c.members {
		pr := c.progress[f]
		if pr == nil {
			continue
		}
		if c.needReplicate {
			c.sendAppends(f, pr)
		}
		if pr.sentCommit < c.commit && pr.match >= pr.sentCommit && !pr.probing {
			c.sendLogRequest(f, pr, nil)
		}
	}
	c.needReplicate = false
}

// sendAppends sends entries from pr.next on: pipelined up to the in-flight
// byte limit once the follower's position is known, one request at a time
// while probing.
func (c *core) sendAppends(f NodeID, pr *progress) {
	if pr.next <= c.log.offset {
		// The entries the follower needs next were compacted away.
		c.sendSnapshot(f, pr)
		return
	}
	if pr.probing {
		if !pr.probeSent {
			pr.probeSent = true
			c.sendLogRequest(f, pr, c.log.slice(pr.next, c.log.lastIndex()+1, c.cfg.maxBatchBytes))
		}
		return
	}
	for pr.next <= c.log.lastIndex() && pr.inflightBytes < c.cfg.maxInflightBytes {
		if first := c.log.memFirst(); pr.next < first {
			// A follower this far behind is sent entries read back from
			// disk, one batch at a time: see onFetched.
			if !pr.fetching {
				pr.fetching = true
				c.out.Fetches = append(c.out.Fetches, fetch{To: f, Lo: pr.next, Hi: first})
			}
			return
		}
		c.sendBatch(f, pr, c.log.slice(pr.next, c.log.lastIndex()+1, c.cfg.maxBatchBytes))
	}
}

// sendBatch sends ents, which start at pr.next, and counts them in flight.
func (c *core) sendBatch(f NodeID, pr *progress, ents []Entry) {
	bytes := 0
	for i := range ents {
		bytes += ents[i].size()
	}
	c.sendLogRequest(f, pr, ents)
	pr.next += uint64(len(ents))
	pr.inflight = append(pr.inflight, inflightBatch{last: pr.next - 1, bytes: bytes})
	pr.inflightBytes += bytes
}

func (c *core) sendLogRequest(f NodeID, pr *progress, ents []Entry) {
	prev := pr.next - 1
	pr.sentCommit = c.commit
	c.send(Message{Kind: MsgLogRequest, To: f, PrevIndex: prev, PrevTerm: c.log.term(prev),
		Commit: c.commit, Entries: ents, ReadSeq: c.reads.seq})
}

// forwardPending sends the leader the broadcasts it has not been sent yet,
// in order, keeping at most maxInflightBytes of them unconfirmed: like
// replication, forwarding must not flood a queue that drops when full.
// More go as earlier ones are seen committed (ackOwn).
func (c *core) forwardPending() {
	if c.leader == None || len(c.pending) == 0 || c.pending[len(c.pending)-1].Seq <= c.forwardedSeq {
		return
	}
	i, _ := slices.BinarySearchFunc(c.pending, c.forwardedSeq+1, func(e Entry, seq uint64) int {
		return cmp.Compare(e.Seq, seq)
	})
	for i < len(c.pending) && c.forwardedBytes < c.cfg.maxInflightBytes {
		size, j := 0, i
		for j < len(c.pending) && (j == i || size+c.pending[j].size() <= c.cfg.maxBatchBytes) {
			size += c.pending[j].size()
			j++
		}
		c.send(Message{Kind: MsgPropose, To: c.leader, Entries: c.pending[i:j:j]})
		c.stats.forwarded(c.pending[i:j])
		c.forwardedSeq = c.pending[j-1].Seq
		c.forwardedBytes += size
		i = j
	}
}

// reforward makes every pending broadcast due to be forwarded again.
func (c *core) reforward() {
	c.forwardedSeq, c.forwardedBytes = 0, 0
}

func (c *core) persistEntries(ents []Entry) {
	c.out.Entries = mergeWrites(c.out.Entries, ents)
}

// mergeWrites folds a later write into an earlier unsaved one, keeping the
// rule that a write replaces everything from its first index on.
func mergeWrites(dst, src []Entry) []Entry {
	if len(src) == 0 {
		return dst
	}
	if len(dst) > 0 && src[0].Index >= dst[0].Index && src[0].Index <= dst[len(dst)-1].Index+1 {
		dst = dst[:src[0].Index-dst[0].Index]
	} else {
		dst = dst[:0]
	}
	return append(dst, src...)
}

// saveHardState records a change of term or vote: messages sent from now
// until the Ready is taken wait until it is durable.
func (c *core) saveHardState() {
	c.holdMessages = true
	c.stageHardState()
}

func (c *core) stageHardState() {
	hs := c.hs
	c.out.HardState = &hs
}

// send stamps m and queues it. A message that follows a change of term or
// vote, or that acknowledges entries or snapshot chunks, waits until they
// are written: durable, for entries; for chunks, so that a leader sends
// more no faster than the disk takes them, and memory stays bounded.
func (c *core) send(m Message) {
	m.From = c.cfg.id
	m.DiskID = c.hs.DiskID
	if m.Term == 0 { // pre-votes name the term they are about
		m.Term = c.hs.Term
	}
	ackNow := c.injected(bugAckBeforeSync) && m.Kind == MsgLogResponse
	waits := m.Kind == MsgLogResponse || m.Kind == MsgVoteResponse || m.Kind == MsgVoteRequest || m.Kind == MsgSnapshotResponse
	if !ackNow && (c.holdMessages || waits) {
		c.out.AfterSync = append(c.out.AfterSync, m)
	} else {
		c.out.Messages = append(c.out.Messages, m)
	}
}

func (c *core) resetElectionTimer() {
	c.electionElapsed = 0
	e := c.cfg.electionTimeout
	c.electionTimerWithin(e, 2*e)
}

// electionTimerWithin restarts the election timer for a random time in
// [lo, hi).
func (c *core) electionTimerWithin(lo, hi time.Duration) {
	c.out.ElectionTimer = lo + time.Duration(c.rng.Int64N(int64(max(hi-lo, 1))))
}

// valid says whether m is well-formed and addressed to us by a member.
func (c *core) valid(m *Message) bool {
	// A term this large cannot come from counting elections; taking it would
	// let the next election wrap the term around to zero.
	if m.To != c.cfg.id || m.From == c.cfg.id || m.From == None ||
		m.Kind == 0 || m.Kind > maxMessageKind || m.Term >= maxTerm {
		return false
	}
	switch m.Kind {
	case MsgLogRequest, MsgSnapshot, MsgTimeoutNow, MsgReadIndexResponse:
		// From a leader, which a node behind on the configuration may not
		// know yet.
	case MsgVoteRequest, MsgPreVoteRequest:
		// Only voters stand, so that a removed node cannot depose anyone,
		// nor even raise our term. But a node whose log is ahead of ours
		// may know of a membership we have not seen yet (one that made it
		// a voter), and without our vote none may win: heed it. (While we
		// hear from a leader, check-quorum ignores it anyway.)
		newer := m.LastTerm > c.log.lastTerm() || (m.LastTerm == c.log.lastTerm() && m.LastIndex > c.log.lastIndex())
		if !c.conf().isVoter(m.From) && !newer {
			return false
		}
		if !c.diskOK(m.From, m.DiskID) {
			return false // a voter come back from a wiped disk
		}
	default:
		if _, member := c.conf().member(m.From); !member {
			return false
		}
	}
	switch m.Kind {
	case MsgLogRequest:
		for i := range m.Entries {
			e := &m.Entries[i]
			if e.Index != m.PrevIndex+1+uint64(i) || e.Index == 0 || e.Term > m.Term ||
				(i > 0 && e.Term < m.Entries[i-1].Term) || (i == 0 && e.Term < m.PrevTerm) ||
				len(e.Data) > c.cfg.maxEntryBytes {
				return false
			}
		}
	case MsgLogResponse:
		if (m.Success && m.Match > c.log.lastIndex()) || m.ReadSeq > c.reads.seq {
			return false
		}
	case MsgPropose:
		for i := range m.Entries {
			e := &m.Entries[i]
			if e.Origin != m.From || e.Seq == 0 || e.Kind != EntryData || len(e.Data) > c.cfg.maxEntryBytes {
				return false
			}
		}
	case MsgSnapshot:
		first := m.Offset == 0
		if m.LastIndex == 0 || m.LastTerm > m.Term || len(m.Data) > c.cfg.maxBatchBytes || first != (m.Snapshot != nil) ||
			(first && (m.Snapshot.Index != m.LastIndex || m.Snapshot.Term != m.LastTerm)) {
			return false
		}
	}
	return true
}

// inLease says whether we heard from a leader other than from less than an
// election timeout ago (or are that leader), so that a vote for from could
// depose a leader that lives. from itself may be that leader: one that
// stepped down must be able to stand again (hashicorp/raft#606).
func (c *core) inLease(from NodeID) bool {
	if c.cfg.leaseTicks > 0 && c.ticks < c.cfg.ticksPerElection()-1 && !c.injected(bugLeaseForgetsRestart) {
		// Just started: before a crash we may have let a leader count on
		// us for a lease that still runs.
		return true
	}
	if c.leader == None || (c.leader == from && !c.injected(bugRefuseLeadersPreVote)) {
		return false
	}
	return c.role == Leader || c.electionElapsed < c.cfg.ticksPerElection()
}

// quorumHeard says whether a quorum, this leader included, answered within
// the last election timeout.
func (c *core) quorumHeard() bool {
	heard := 0
	for _, id := range c.voters {
		if pr := c.progress[id]; id == c.cfg.id || (pr != nil && c.ticks-pr.heardTick < c.cfg.ticksPerElection() && c.countsFor(id)) {
			heard++
		}
	}
	return heard >= c.quorum
}

// maxTerm bounds the terms the core accepts from the network.
const maxTerm = 1 << 62
