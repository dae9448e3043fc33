package raftlite

import "time"

// The simulator's checks, each named, so that a test can say which one
// must catch a given bug (bugs_test.go).
const (
	checkElectionSafety     = "election safety"      // at most one leader per term
	checkLeaderCompleteness = "leader completeness"  // a new leader holds every committed entry
	checkLogMatching        = "log matching"         // same index and term: same entry, same history
	checkStateMachineSafety = "state machine safety" // one entry committed per index, ever
	checkCommittedKept      = "committed kept"       // a node's commit index never falls, its log keeps what committed
	checkDurableQuorum      = "durable quorum"       // an entry commits only once a majority's disks hold it
	checkExactlyOnce        = "exactly once"         // a broadcast commits at most once
	checkFIFO               = "FIFO"                 // an origin's broadcasts commit in its order, without gaps
	checkAcknowledgement    = "acknowledgement"      // Broadcast's index holds what was broadcast
	checkDelivery           = "delivery"             // each node delivers the committed messages, in order, no gap
	checkLiveness           = "liveness"             // once faults stop, everything pending commits
	checkStorage            = "storage"              // the simulated disk accepts every save
	checkSavedCommit        = "saved commit"         // a disk's saved commit index covers only entries it holds as committed
	checkAppState           = "application state"    // every application's state, snapshots included, agrees at every index
	checkSnapshot           = "snapshot"             // a snapshot is of committed state and the log never disagrees with it
	checkNoPanic            = "no panic"             // nothing panics
	checkPreVote            = "pre-vote"             // with pre-vote, a node's term rises only to one it heard of
	checkQuorumLeader       = "check quorum"         // with check-quorum, a leader cut off from a quorum steps down
	checkRead               = "linearizable read"    // a read index covers everything committed before the read
)

// checkCommits: commit indexes never fall, and every node commits the same
// entry at each index, each broadcast at most once and in its origin's
// order, and only once a majority's disks hold it.
func (c *simCluster) checkCommits(n *simNode) {
	co := n.core
	if co.commit < n.lastCommit {
		c.fail(checkCommittedKept, "node %d commit index fell from %d to %d", n.id, n.lastCommit, co.commit)
		return
	}
	if co.commit > co.log.lastIndex() ||
		(n.lastCommit > co.log.offset && co.log.term(n.lastCommit) != c.terms[n.lastCommit-1]) {
		c.fail(checkCommittedKept, "node %d lost committed entries: commit %d, log ends at %d", n.id, co.commit, co.log.lastIndex())
		return
	}
	if !c.checkSnapshot(n) {
		return
	}
	for i := max(n.lastCommit, co.log.offset) + 1; i <= co.commit; i++ {
		e := n.entryAt(i)
		fp := fingerprintOf(e)
		if i <= uint64(len(c.committed)) {
			if c.committed[i-1] != fp || c.terms[i-1] != e.Term {
				c.fail(checkStateMachineSafety, "node %d committed %+v (term %d) at index %d where %+v (term %d) was committed",
					n.id, fp, e.Term, i, c.committed[i-1], c.terms[i-1])
				return
			}
			continue
		}
		if !c.checkDurable(n, i, e.Term) {
			return
		}
		if e.Kind == EntryData {
			if at, dup := c.once[fp]; dup {
				c.fail(checkExactlyOnce, "broadcast %+v committed twice, at %d and %d", fp, at, i)
				return
			}
			c.once[fp] = i
			if !c.checkFIFO(fp, i) {
				return
			}
		}
		h := uint64(0)
		if len(c.hashes) > 0 {
			h = c.hashes[len(c.hashes)-1]
		}
		if e.Kind == EntryData {
			h = appFold(h, BroadcastID{e.Origin, e.Incarnation, e.Seq}, e.Data)
			if at, probe := c.probes[string(e.Data)]; probe && at >= c.lastFault && c.recovery == 0 {
				c.recovery = max(c.s.Now()-c.lastFault, time.Nanosecond)
			}
		}
		if e.Kind == EntryConfig {
			simConfChanges.Add(1)
		}
		c.committed = append(c.committed, fp)
		c.terms = append(c.terms, e.Term)
		c.hashes = append(c.hashes, h)
	}
	n.lastCommit = co.commit
}

// checkDiskKeepsCommitted: a save never cuts or overwrites an entry that
// has committed (a save replaces the log from its first entry on).
func (c *simCluster) checkDiskKeepsCommitted(n *simNode, b *saveBatch) {
	if len(b.entries) == 0 {
		return
	}
	first := b.entries[0].Index
	for i := first; i <= min(n.disk.lastIndex(), uint64(len(c.committed))); i++ {
		k := i - first
		if n.disk.holds(i, c.terms[i-1]) && (k >= uint64(len(b.entries)) || b.entries[k].Term != c.terms[i-1]) {
			c.fail(checkCommittedKept, "node %d's save from index %d cuts committed entry %d", n.id, first, i)
			return
		}
	}
}

// checkSavedCommit: after a crash, the commit index n's disk saved covers
// only entries that the disk holds as they committed, for the next life
// delivers them before it hears from anyone.
func (c *simCluster) checkSavedCommit(n *simNode) {
	d := n.disk
	for i := uint64(1); i <= min(d.hs.Commit, uint64(len(c.committed))); i++ {
		if !d.covers(i, c.terms[i-1]) {
			c.fail(checkSavedCommit, "node %d's disk saved commit index %d but does not hold committed entry %d", n.id, d.hs.Commit, i)
			return
		}
	}
	if d.hs.Commit > max(d.lastIndex(), d.snapshotIndex()) {
		c.fail(checkSavedCommit, "node %d's disk saved commit index %d but holds only %d entries", n.id, d.hs.Commit, d.lastIndex())
	}
}

// checkDurable: when index i first commits (on n, its leader), a majority
// of the disks of the voters of n's membership hold it.
func (c *simCluster) checkDurable(n *simNode, i, term uint64) bool {
	holders := 0
	for _, id := range n.core.voters {
		m := c.nodes[id]
		if m.disk.covers(i, term) || (m.lostDisk != nil && m.lostDisk.covers(i, term)) {
			holders++
		}
	}
	if quorum := len(n.core.voters)/2 + 1; holders < quorum {
		c.fail(checkDurableQuorum, "index %d (term %d) committed while only %d voters' disks of %v hold it, fewer than %d",
			i, term, holders, n.core.voters, quorum)
		return false
	}
	return true
}

// checkFIFO: an origin's broadcasts commit in the order it accepted them,
// with no gap within one of its lives (FIFO-total order).
func (c *simCluster) checkFIFO(fp fingerprint, i uint64) bool {
	last, seen := c.lastFrom[fp.origin]
	next := (seen && fp.incarnation == last.incarnation && fp.seq == last.seq+1) ||
		((!seen || fp.incarnation > last.incarnation) && fp.seq == 1)
	if !next {
		c.fail(checkFIFO, "broadcast %+v committed at %d after %+v from the same origin", fp, i, last)
		return false
	}
	c.lastFrom[fp.origin] = fp
	return true
}

// checkAcks: a node acknowledges only what its clients broadcast, at the
// index where it committed.
func (c *simCluster) checkAcks(n *simNode, acks []ack) {
	for _, a := range acks {
		payload, ok := n.clientSeqs[a.Seq]
		if !ok {
			c.fail(checkAcknowledgement, "node %d acknowledged seq %d that no client sent", n.id, a.Seq)
			continue
		}
		delete(n.clientSeqs, a.Seq)
		want := fingerprint{EntryData, n.id, n.core.hs.Incarnation, a.Seq, payload}
		if at, ok := c.once[want]; a.InSnapshot && ok && a.Index == 0 {
			c.acked[payload] = at
			continue
		}
		if a.Index > uint64(len(c.committed)) || c.committed[a.Index-1] != want {
			c.fail(checkAcknowledgement, "node %d acknowledged %q at index %d, which is not what committed there", n.id, payload, a.Index)
		}
		c.acked[payload] = a.Index
	}
}

// checkAcknowledged, at the end: every broadcast a client saw succeed is in
// the committed log.
func (c *simCluster) checkAcknowledged() {
	for payload, idx := range c.acked {
		if idx > uint64(len(c.committed)) {
			c.fail(checkAcknowledgement, "acknowledged %q at %d but only %d entries committed", payload, idx, len(c.committed))
		}
	}
}

// checkDelivery: what a node hands its application is the next committed
// message after the last one it handed over, skipping only entries that
// are not messages.
func (c *simCluster) checkDelivery(n *simNode, d Delivery) {
	if d.Index > uint64(len(c.committed)) {
		c.fail(checkDelivery, "node %d delivered index %d, which has not committed", n.id, d.Index)
		return
	}
	got := fingerprint{EntryData, d.ID.Origin, d.ID.Incarnation, d.ID.Seq, string(d.Data)}
	if c.committed[d.Index-1] != got {
		c.fail(checkDelivery, "node %d delivered %+v at %d where %+v committed", n.id, got, d.Index, c.committed[d.Index-1])
		return
	}
	for i := n.delivered + 1; i < d.Index; i++ {
		if c.committed[i-1].kind == EntryData {
			c.fail(checkDelivery, "node %d delivered index %d, skipping the message at %d", n.id, d.Index, i)
			return
		}
	}
}

// checkNode: one leader per term, leaders hold every committed entry, and
// logs match (entries with the same index and term are the same and follow
// the same history).
func (c *simCluster) checkNode(n *simNode) {
	co := n.core
	if co.role == Leader {
		if l := c.leaders[co.hs.Term]; l != n.id && !c.opts.noSingleVote {
			// A new leader: first how it won, then whether it is alone.
			if c.checkSingleVote(n); c.failed() {
				return
			}
		}
		if l, ok := c.leaders[co.hs.Term]; ok && l != n.id {
			c.fail(checkElectionSafety, "two leaders in term %d: %d and %d", co.hs.Term, l, n.id)
			return
		} else if !ok {
			c.leaders[co.hs.Term] = n.id
			c.tracef("node %d leads term %d", n.id, co.hs.Term)
			if c.s.Now() < simChaos && c.s.Chance(c.swarm.crashNewLeader) {
				c.crashSoon(n, 30*time.Millisecond, 300*time.Millisecond, "soon after its election")
			}
			if c.s.Now() < simChaos && c.swarm.changeGap > 0 && c.s.Chance(0.3) {
				// A change asked of a leader that has committed nothing
				// of its own yet: it must wait (Ongaro, raft-dev, 2015).
				c.s.After(0, func() {
					if n.alive && n.core.role == Leader {
						c.changeMembership(n)
					}
				})
			}
			for i := max(co.log.offset, 1); i <= uint64(len(c.committed)); i++ {
				if co.log.term(i) != c.terms[i-1] && (i > co.log.offset || co.log.offsetTerm != 0) {
					c.fail(checkLeaderCompleteness, "leader %d of term %d lacks committed entry %d", n.id, co.hs.Term, i)
					return
				}
			}
		}
	}
	if n.checkedLen > co.log.lastIndex() || co.log.term(n.checkedLen) != n.checkedTerm {
		n.checkedLen = co.commit
		n.checkedTerm = co.log.term(co.commit)
	}
	for i := max(n.checkedLen, co.log.offset) + 1; i <= co.log.lastIndex(); i++ {
		if i-1 == co.log.offset && co.log.offsetTerm == 0 && i > 1 {
			continue // the term before the log's start is not known here
		}
		e := n.entryAt(i)
		key := [2]uint64{i, e.Term}
		val := [2]any{fingerprintOf(e), co.log.term(i - 1)}
		if old, ok := c.logAt[key]; ok && old != val {
			c.fail(checkLogMatching, "node %d has %v at (index %d, term %d), another node had %v", n.id, val, i, e.Term, old)
			return
		}
		c.logAt[key] = val
	}
	n.checkedLen, n.checkedTerm = co.log.lastIndex(), co.log.lastTerm()
}

// checkAppState: n's application state as of the last index it was handed
// (by message or by snapshot) is every other's at that index.
func (c *simCluster) checkAppState(n *simNode) {
	i := n.delivered
	if i == 0 {
		return
	}
	if i > uint64(len(c.hashes)) {
		c.fail(checkAppState, "node %d's application is at index %d, beyond what committed (%d)", n.id, i, len(c.hashes))
		return
	}
	if n.appHash != c.hashes[i-1] {
		c.fail(checkAppState, "node %d's application state at index %d differs from what the committed log gives", n.id, i)
	}
}

// checkSnapshot: n's latest snapshot, in its core and on its disk, is of
// a committed entry, and the log starts no later than it.
func (c *simCluster) checkSnapshot(n *simNode) bool {
	for _, s := range []SnapshotMeta{n.core.snapshot, n.disk.snapshotMeta()} {
		if s.Index == 0 {
			continue
		}
		if s.Index > uint64(len(c.committed)) || c.terms[s.Index-1] != s.Term {
			c.fail(checkSnapshot, "node %d has a snapshot at (%d, term %d), which did not commit", n.id, s.Index, s.Term)
			return false
		}
	}
	if co := n.core; co.log.offset > co.snapshot.Index {
		c.fail(checkSnapshot, "node %d's log starts after %d, beyond its snapshot at %d", n.id, co.log.offset, co.snapshot.Index)
		return false
	}
	return true
}

// simRead is a read asked of a node: floor is the highest index committed
// anywhere when it was asked.
type simRead struct {
	floor uint64
	asked time.Duration
}

// checkReads: a read index covers every entry committed, anywhere, before
// the read was asked, and is itself committed.
func (c *simCluster) checkReads(n *simNode, done []readDone) {
	for _, r := range done {
		read, ok := n.reads[r.ID]
		if !ok {
			c.fail(checkRead, "node %d answered read %d, which it was not asked", n.id, r.ID)
			return
		}
		delete(n.reads, r.ID)
		if r.Index < read.floor || r.Index > uint64(len(c.committed)) {
			c.fail(checkRead, "node %d answered a read asked at %v with index %d: %d had committed by then, %d by now",
				n.id, read.asked, r.Index, read.floor, len(c.committed))
			return
		}
	}
}

// checkPreVote: with pre-vote, a node raises its term only to one it heard
// of: from another node, in the pre-votes of a quorum (which name the term
// they grant), or from its leader handing over (MsgTimeoutNow, the next
// term). A cluster of one needs nobody's word.
func (c *simCluster) checkPreVote(n *simNode) {
	alone := len(n.core.voters) == 1 && n.core.isVoter()
	if c.swarm.preVote && !alone && n.core.hs.Term > n.maxTermHeard {
		c.fail(checkPreVote, "node %d is in term %d, but heard of none above %d", n.id, n.core.hs.Term, n.maxTermHeard)
	}
}

// checkLeaderQuorum: with check-quorum, a leader steps down once it cannot
// have heard from a quorum of its voters for an election timeout (give or
// take the heartbeats it counts in): when fewer than a quorum, itself
// included, were alive and linked to it both ways at any moment of that
// window. (Partitions that shift can leave no moment with a quorum linked
// while the leader hears from one over the window: that is no failure.)
func (c *simCluster) checkLeaderQuorum() {
	if !c.swarm.checkQuorum {
		return
	}
	now := c.s.Now()
	for _, n := range c.nodes[1:] {
		if n.linkedAt == nil {
			n.linkedAt = make([]time.Duration, len(c.nodes))
		}
		for _, m := range c.nodes[1:] {
			if n.alive && m.alive && (m == n || (c.net.Linked(int(n.id), int(m.id)) && c.net.Linked(int(m.id), int(n.id)))) {
				n.linkedAt[m.id] = now
			}
		}
	}
	window := simElection + 3*simHeartbeat
	for _, n := range c.nodes[1:] {
		if !n.alive || n.core.role != Leader {
			continue
		}
		if n.leaderSince == 0 || n.leaderTerm != n.core.hs.Term || n.leaderConf != n.core.confIndex() {
			// A new leadership, or new voters to hear from: the window
			// starts again.
			n.leaderSince, n.leaderTerm, n.leaderConf = now, n.core.hs.Term, n.core.confIndex()
		}
		if now-n.leaderSince <= window {
			continue
		}
		reach := 0
		for _, id := range n.core.voters {
			if now-n.linkedAt[id] <= window {
				reach++
			}
		}
		if reach < n.core.quorum {
			c.fail(checkQuorumLeader, "node %d still leads term %d, though only %d of its voters %v could reach it in the last %v",
				n.id, n.core.hs.Term, reach, n.core.voters, window)
			return
		}
	}
}

// recoveryBound is how soon after the last fault heals a broadcast must
// commit with pre-vote and check-quorum on (the default, with or without
// lease reads), in election timeouts.
const recoveryBound = 2

// checkRecovery, at the end: a broadcast made when the last fault healed
// committed, with pre-vote and check-quorum within recoveryBound election
// timeouts.
func (c *simCluster) checkRecovery() {
	if c.failure != "" {
		return
	}
	if c.recovery == 0 {
		c.fail(checkLiveness, "the broadcast made when the last fault healed, at %v, never committed", c.lastFault)
		return
	}
	// The bound assumes every node may stand; a wiped one that the
	// operator has not re-added yet may not (it answers as a learner).
	if r := float64(c.recovery) / float64(simElection); c.swarm.preVote && c.swarm.checkQuorum && r >= recoveryBound && !c.wipedAtHeal {
		c.fail(checkLiveness, "a broadcast made when the last fault healed, at %v, took %.2f election timeouts to commit (bound %d)",
			c.lastFault, r, recoveryBound)
	}
}
