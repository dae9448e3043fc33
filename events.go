package raftlite

import "time"

// The event handlers: Raft as Kleppmann's lecture notes state it, one
// handler per event, each followed by the effects it records in c.out.

// onElectionTimeout starts an election: nothing was heard from a leader for
// an election timeout (Raft §5.2). With pre-vote it first asks whether it
// could win (Raft thesis §9.6).
func (c *core) onElectionTimeout() {
	switch {
	case c.role == Leader:
	case !c.isVoter() && !c.confAsOf(c.commit).isVoter(c.cfg.id), c.wipedHere():
		// A learner, or not (or no longer) a member. A voter whose
		// removal is in its log but not committed still stands: until
		// it commits, the others may need it to (Raft thesis §4.2.2).
		// Nor does a voter whose disk was wiped (disk.go).
		c.resetElectionTimer()
	case c.cfg.preVote:
		c.becomePreCandidate()
	default:
		c.becomeCandidate(false)
	}
}

// onTick is the heartbeat: a leader asserts itself and retransmits to
// followers; any node resends broadcasts that seem lost.
func (c *core) onTick() {
	c.ticks++
	c.electionElapsed++
	if c.role == Leader {
		if c.cfg.checkQuorum && !c.quorumHeard() && !c.injected(bugLeaderNeverStepsDown) {
			// Cut off from a quorum for an election timeout: another
			// leader may well be elected, and ours must not go on as if
			// it led (check-quorum).
			c.becomeFollower(c.hs.Term, None)
			return
		}
		c.renewLease()
		c.transferTick()
		c.recordDisks(false)
		for _, f := range c.members {
			if pr := c.progress[f]; pr != nil {
				c.promoteCaughtUp(f, pr)
				c.watchTransfer(f, pr)
				// A heartbeat carries no entries. To a follower whose
				// position is unknown it is the probe: the batch goes once
				// the follower has answered, not every heartbeat to a
				// follower that may be dead.
				c.sendLogRequest(f, pr, nil)
				pr.probeSent = pr.probing
			}
		}
		return
	}
	c.retryReads()
	if in := c.incoming; in != nil {
		if in.idle++; in.idle >= c.cfg.transferTimeoutTicks() {
			c.abortIncoming() // the leader gave up on it, or died
		}
	}
	if len(c.pending) > 0 {
		c.forwardTicks++
		if c.forwardTicks >= c.cfg.ticksPerElection() && !c.injected(bugNeverReforward) {
			c.forwardTicks = 0
			c.reforward()
		}
	}
}

// onBroadcast accepts an application message for total-order broadcast and
// returns its sequence number within this node's incarnation.
func (c *core) onBroadcast(data []byte) uint64 {
	c.nextSeq++
	e := Entry{Kind: EntryData, Origin: c.cfg.id, Incarnation: c.hs.Incarnation, Seq: c.nextSeq, Data: data}
	c.pushPending(e)
	if c.role == Leader {
		c.acceptBroadcast(e)
	}
	return c.nextSeq
}

// onPersisted: the driver finished saving state up to (index, term), and hs
// if it saved one.
func (c *core) onPersisted(index, term uint64, hs *HardState) {
	if index > c.stableIndex && c.log.term(index) == term {
		c.stableIndex = index
		if c.role == Leader {
			c.maybeCommit()
		}
	}
	if hs != nil && c.role == Candidate && hs.Term == c.hs.Term && hs.VotedFor == c.cfg.id {
		c.onVote(c.cfg.id)
	}
}

// onFetched: entries asked for by a Fetch were read back from disk. They
// go to the follower if it still needs them from there; an empty result
// (the read failed) leaves the retry to the next heartbeat.
func (c *core) onFetched(to NodeID, ents []Entry) {
	pr := c.progress[to]
	if c.role != Leader || pr == nil {
		return
	}
	pr.fetching = false
	if len(ents) == 0 || pr.probing || ents[0].Index != pr.next || pr.inflightBytes >= c.cfg.maxInflightBytes {
		return
	}
	size := 0
	for i := range ents {
		if size += ents[i].size(); size > c.cfg.maxBatchBytes && i > 0 {
			ents = ents[:i]
			break
		}
	}
	c.sendBatch(to, pr, ents)
	c.sendAppends(to, pr)
}

// onMessage validates m and hands it to its handler. Anything malformed or
// from a stranger is dropped and counted, never trusted.
func (c *core) onMessage(m Message) {
	if !c.valid(&m) {
		c.dropped++
		return
	}
	c.noteDisk(&m)
	switch m.Kind {
	case MsgVoteRequest:
		c.onVoteRequest(m)
	case MsgVoteResponse:
		c.onVoteResponse(m)
	case MsgLogRequest:
		c.onLogRequest(m)
	case MsgLogResponse:
		c.onLogResponse(m)
	case MsgPropose:
		c.onPropose(m)
	case MsgSnapshot:
		c.onSnapshot(m)
	case MsgSnapshotResponse:
		c.onSnapshotResponse(m)
	case MsgPreVoteRequest:
		c.onPreVoteRequest(m)
	case MsgPreVoteResponse:
		c.onPreVoteResponse(m)
	case MsgReadIndex:
		c.onReadIndexRequest(m)
	case MsgReadIndexResponse:
		c.onReadIndexResponse(m)
	case MsgTimeoutNow:
		c.onTimeoutNow(m)
	}
}

// onVoteRequest decides whether to vote for a candidate (Raft §5.2, §5.4.1).
func (c *core) onVoteRequest(m Message) {
	if m.Term > c.hs.Term && c.cfg.checkQuorum && !m.Transfer && c.inLease(m.From) {
		// We heard from a live leader less than an election timeout ago:
		// the candidate is a node that lost touch, not a sign that the
		// leader is gone (unless the leader handed over to it). Ignore
		// it, term and all.
		return
	}
	if m.Term > c.hs.Term {
		// A higher term is no news of a live leader: keep the election timer
		// running (unless we led and had none), or a candidate whose log is
		// too stale to win would keep postponing the nodes that could.
		timer, wasLeader := c.out.ElectionTimer, c.role == Leader
		c.becomeFollower(m.Term, None)
		if !wasLeader {
			c.out.ElectionTimer = timer
		}
	}
	upToDate := m.LastTerm > c.log.lastTerm() ||
		(m.LastTerm == c.log.lastTerm() && m.LastIndex >= c.log.lastIndex()) ||
		c.injected(bugVoteForStaleLog)
	grant := m.Term == c.hs.Term && upToDate && !c.wipedHere() &&
		(c.hs.VotedFor == None || c.hs.VotedFor == m.From || c.injected(bugVoteTwice))
	if grant {
		c.hs.VotedFor = m.From
		if !c.injected(bugForgetVote) {
			c.saveHardState()
		}
		c.resetElectionTimer()
	}
	c.send(Message{Kind: MsgVoteResponse, To: m.From, Success: grant})
}

// onVoteResponse counts a vote; a quorum makes this node leader.
func (c *core) onVoteResponse(m Message) {
	if m.Term > c.hs.Term {
		c.becomeFollower(m.Term, None)
		return
	}
	if c.role == Candidate && m.Term == c.hs.Term && m.Success && c.diskOK(m.From, m.DiskID) {
		c.onVote(m.From)
	}
	if c.role == Candidate && m.Term == c.hs.Term && !m.Success {
		c.refusals[m.From] = true
		if c.countVoters(c.refusals) > len(c.voters)-c.quorum {
			// Lost: the votes split, or our log is behind. Ask again
			// sooner than a whole election timeout, at a random moment
			// of the next one, so that the losers of a split do not meet
			// again.
			c.electionTimerWithin(c.cfg.heartbeatInterval, c.cfg.electionTimeout)
			c.refusals = map[NodeID]bool{}
		}
	}
}

func (c *core) onVote(from NodeID) {
	c.votes[from] = true
	if c.countVoters(c.votes) >= c.quorum || c.injected(bugLearnerVotes) && len(c.votes) >= c.quorum {
		c.becomeLeader()
	}
}

// onLogRequest appends a leader's entries if our log matches up to where they
// start (Raft §5.3), and learns the commit index.
func (c *core) onLogRequest(m Message) {
	if m.Term > c.hs.Term || (m.Term == c.hs.Term && c.role != Follower) {
		c.becomeFollower(m.Term, m.From)
	}
	if m.Term < c.hs.Term {
		if c.injected(bugIgnoreLowerTermLeader) {
			return
		}
		// Our term tells a stale leader to step down. A node stranded at a
		// higher term (its pre-votes refused while the leader lives) needs
		// this to force the election that lets it rejoin.
		c.send(Message{Kind: MsgLogResponse, To: m.From, PrevIndex: m.PrevIndex})
		return
	}
	c.setLeader(m.From)
	c.resetElectionTimer()
	if m.PrevIndex > c.log.lastIndex() {
		c.send(Message{Kind: MsgLogResponse, To: m.From, PrevIndex: m.PrevIndex, Match: c.log.lastIndex() + 1, ReadSeq: m.ReadSeq})
		return
	}
	if m.PrevIndex >= c.log.offset && c.log.term(m.PrevIndex) != m.PrevTerm && !c.injected(bugIgnorePrevTerm) {
		// Hint where the conflicting term starts so the leader skips it whole.
		c.send(Message{Kind: MsgLogResponse, To: m.From, PrevIndex: m.PrevIndex,
			Match: c.log.firstIndexOfTerm(m.PrevIndex), HintTerm: c.log.term(m.PrevIndex), ReadSeq: m.ReadSeq})
		return
	}
	last := m.PrevIndex + uint64(len(m.Entries))
	if !c.appendFromLeader(m.Entries) {
		c.dropped++
		return
	}
	c.injectStaleTruncation(last)
	if c.injected(bugCommitBeyondRequest) {
		last = c.log.lastIndex()
	}
	c.advanceCommit(min(m.Commit, last))
	c.send(Message{Kind: MsgLogResponse, To: m.From, PrevIndex: m.PrevIndex, Success: true, Match: last, ReadSeq: m.ReadSeq})
}

// onLogResponse advances a follower's progress, or backs up after a rejection.
func (c *core) onLogResponse(m Message) {
	if m.Term > c.hs.Term {
		c.deposed(m.Term)
		return
	}
	pr := c.progress[m.From]
	if c.role != Leader || m.Term != c.hs.Term || pr == nil {
		return
	}
	pr.heardTick = c.ticks
	c.onReadAck(pr, m.ReadSeq)
	if m.Success {
		c.onLogAccepted(m.From, pr, m.Match)
	} else {
		c.onLogRejected(m.From, pr, m)
	}
}

func (c *core) onLogAccepted(f NodeID, pr *progress, match uint64) {
	k := 0
	for k < len(pr.inflight) && pr.inflight[k].last <= match {
		pr.inflightBytes -= pr.inflight[k].bytes
		k++
	}
	pr.inflight = dropFront(pr.inflight, k)
	if match > pr.match {
		pr.match = match
		c.maybeCommit()
	}
	if pr.transfer != nil && match >= pr.transfer.meta.Index {
		// The follower installed the snapshot, or caught up without it.
		c.endTransfer(f, pr)
	}
	if pr.probing && match+1 >= pr.next {
		// The reply to our probe: we know where the follower stands.
		pr.probing = false
	}
	pr.next = max(pr.next, match+1)
	c.sendAppends(f, pr)
	c.tellIfCaughtUp(f)
	c.promoteCaughtUp(f, pr)
}

func (c *core) onLogRejected(f NodeID, pr *progress, m Message) {
	// A rejection of a request sent before we last backed up is stale.
	if m.PrevIndex < pr.match || (pr.probing && m.PrevIndex+1 != pr.next) {
		return
	}
	next := m.Match
	if m.HintTerm != 0 {
		if i := c.log.lastIndexOfTerm(m.HintTerm); i != 0 {
			next = i + 1
		}
	}
	if next <= pr.match {
		// The follower lacks entries it acknowledged: it lost its disk,
		// or this is a late copy of an older reply. Counting on them
		// would probe the same index for ever; start from where it says.
		pr.match = max(next, 1) - 1
	}
	pr.next = min(max(min(next, m.PrevIndex), pr.match+1, 1), c.log.lastIndex()+1)
	pr.probing, pr.probeSent = true, false
	pr.inflight, pr.inflightBytes = pr.inflight[:0], 0
	c.sendAppends(f, pr)
}

// onPropose takes broadcasts another node forwarded. A non-leader drops them:
// their origin retries with whoever leads next.
func (c *core) onPropose(m Message) {
	if c.role != Leader {
		return
	}
	for _, e := range m.Entries {
		c.acceptBroadcast(e)
	}
}

// onSnapshotTaken: the application's snapshot at meta.Index is durable, so
// the log before it (but for TrailingEntries) can go.
func (c *core) onSnapshotTaken(meta SnapshotMeta) {
	if meta.Index <= c.snapshot.Index {
		return
	}
	c.snapshot = meta
	c.compactBehind(meta.Index)
}

// onSnapshotRead: a chunk of the latest snapshot was read back for a
// follower (ok false: the read failed, or the snapshot changed). It goes
// out if the transfer still wants it; a failed transfer starts over later.
func (c *core) onSnapshotRead(to NodeID, r snapshotRead, data []byte, eof, ok bool) {
	pr := c.progress[to]
	if c.role != Leader || pr == nil || pr.transfer == nil {
		return
	}
	t := pr.transfer
	if !t.reading || t.meta.Index != r.Index || t.sent != r.Offset {
		return
	}
	t.reading = false
	if !ok {
		c.endTransfer(to, pr)
		return
	}
	t.crc = crcUpdate(t.crc, data)
	m := Message{Kind: MsgSnapshot, To: to, LastIndex: t.meta.Index, LastTerm: t.meta.Term,
		Offset: t.sent, Data: data, Done: eof}
	if t.sent == 0 {
		meta := t.meta
		m.Snapshot = &meta
	}
	if eof {
		m.Checksum, t.eof = t.crc, true
	}
	t.sent += uint64(len(data))
	c.send(m)
	c.readSnapshotChunk(to, t)
}

// onSnapshot takes a chunk of the leader's snapshot (Raft §7,
// InstallSnapshot): chunks are written as they come, in order, and the
// whole is checked before it is stored; onSnapshotStored installs it.
func (c *core) onSnapshot(m Message) {
	if m.Term < c.hs.Term {
		c.send(Message{Kind: MsgSnapshotResponse, To: m.From}) // tells a stale leader our term
		return
	}
	if m.Term > c.hs.Term || c.role != Follower {
		c.becomeFollower(m.Term, m.From)
	}
	c.setLeader(m.From)
	c.resetElectionTimer()
	if m.LastIndex <= c.commit && !c.injected(bugInstallOldSnapshot) {
		// Everything in it is committed here already.
		c.send(Message{Kind: MsgLogResponse, To: m.From, PrevIndex: m.LastIndex, Success: true, Match: m.LastIndex})
		return
	}
	if m.Offset == 0 {
		c.abortIncoming()
		c.incoming = &incomingSnapshot{from: m.From, term: m.Term, meta: cloneSnapshotMeta(*m.Snapshot)}
		meta := c.incoming.meta
		c.out.SnapshotWrites = append(c.out.SnapshotWrites, snapshotWrite{Begin: &meta})
	}
	in := c.incoming
	if in == nil || in.from != m.From || in.term != m.Term || in.meta.Index != m.LastIndex || in.next != m.Offset {
		// A chunk was lost, or belongs to an older transfer: start over.
		c.send(Message{Kind: MsgSnapshotResponse, To: m.From, Match: m.Offset})
		return
	}
	in.idle = 0
	in.crc = crcUpdate(in.crc, m.Data)
	in.next += uint64(len(m.Data))
	c.out.SnapshotWrites = append(c.out.SnapshotWrites, snapshotWrite{Data: m.Data})
	if m.Done && in.crc != m.Checksum {
		c.abortIncoming()
		c.send(Message{Kind: MsgSnapshotResponse, To: m.From, Match: m.Offset})
		return
	}
	if m.Done {
		c.out.SnapshotWrites = append(c.out.SnapshotWrites, snapshotWrite{Done: true})
	}
	c.send(Message{Kind: MsgSnapshotResponse, To: m.From, Success: true, Match: in.next})
}

// onSnapshotStored: the snapshot received from the leader is durable.
// Installing it answers the leader as appending entries would.
func (c *core) onSnapshotStored(meta SnapshotMeta) {
	if c.incoming != nil && c.incoming.meta.Index == meta.Index {
		c.incoming = nil
	}
	if meta.Index <= c.snapshot.Index && !c.injected(bugInstallOldSnapshot) {
		return
	}
	if meta.Index <= c.commit && !c.injected(bugInstallOldSnapshot) {
		// Replication overtook it: it only becomes the latest snapshot.
		c.snapshot = meta
	} else {
		c.installSnapshot(meta)
	}
	if c.leader != None {
		c.send(Message{Kind: MsgLogResponse, To: c.leader, PrevIndex: meta.Index, Success: true, Match: meta.Index})
	}
}

// onSnapshotResponse: a follower took snapshot chunks up to m.Match, or
// could not take one, and the transfer starts over.
func (c *core) onSnapshotResponse(m Message) {
	if m.Term > c.hs.Term {
		c.deposed(m.Term)
		return
	}
	pr := c.progress[m.From]
	if c.role != Leader || m.Term != c.hs.Term || pr == nil {
		return
	}
	pr.heardTick = c.ticks
	if pr.transfer == nil {
		return
	}
	if !m.Success {
		c.endTransfer(m.From, pr)
		return
	}
	t := pr.transfer
	t.idle = 0
	t.acked = max(t.acked, min(m.Match, t.sent))
	c.readSnapshotChunk(m.From, t)
}

// onPreVoteRequest answers whether we would vote for m.From in term
// m.Term, without changing our own term or vote: a pre-vote is a question.
func (c *core) onPreVoteRequest(m Message) {
	if m.Term < c.hs.Term {
		if c.injected(bugDropLowerTermPreVote) {
			return
		}
		// Refuse with our term, so that the asker catches up to it: left
		// unanswered, a node behind by a term could never stand again
		// (etcd-io/etcd#8243).
		c.send(Message{Kind: MsgPreVoteResponse, To: m.From})
		return
	}
	upToDate := m.LastTerm > c.log.lastTerm() || (m.LastTerm == c.log.lastTerm() && m.LastIndex >= c.log.lastIndex())
	// In our own term we would vote only as a real vote would; in a later
	// one, for any up-to-date log, unless we still hear from a leader.
	free := c.hs.VotedFor == m.From || (c.hs.VotedFor == None && c.leader == None) || m.Term > c.hs.Term
	if upToDate && free && !c.inLease(m.From) && !c.wipedHere() {
		c.send(Message{Kind: MsgPreVoteResponse, To: m.From, Term: m.Term, Success: true})
		return
	}
	refusal := Message{Kind: MsgPreVoteResponse, To: m.From}
	if upToDate && free && c.role == Follower {
		// Only our lease stands in the way: say when it runs out, so that
		// the asker can ask again then rather than a whole election
		// timeout later.
		refusal.Match = uint64(max(c.cfg.ticksPerElection()-c.electionElapsed, 1))
	}
	c.send(refusal)
}

// onPreVoteResponse counts a pre-vote; a quorum starts the real election.
// A refusal from a later term brings us up to that term.
func (c *core) onPreVoteResponse(m Message) {
	switch {
	case !m.Success && m.Term > c.hs.Term:
		wasAsking := c.role == PreCandidate
		c.becomeFollower(m.Term, None)
		if wasAsking && !c.injected(bugDropLowerTermPreVote) {
			// We were only behind in term: ask again from it now rather
			// than after another election timeout.
			c.becomePreCandidate()
		}
	case c.role == PreCandidate && m.Success && m.Term == c.hs.Term+1 && c.diskOK(m.From, m.DiskID):
		c.onPreVote(m.From)
	case c.role == PreCandidate && !m.Success && m.Match > 0 && !c.leaseRetry:
		// Refused for a lease alone: ask again just after it ends.
		c.leaseRetry = true
		hb := c.cfg.heartbeatInterval
		ticks := min(m.Match, uint64(c.cfg.ticksPerElection()))
		c.electionTimerWithin(time.Duration(ticks)*hb, time.Duration(ticks+1)*hb)
	}
}

func (c *core) onPreVote(from NodeID) {
	c.votes[from] = true
	if c.countVoters(c.votes) >= c.quorum {
		c.becomeCandidate(false)
	}
}
