package raftlite

import "math/rand/v2"

// Disk identity. Raft's safety rests on every voter remembering, across
// crashes, the vote it gave in each term and the entries it acknowledged.
// A node whose storage was wiped or replaced comes back under the same id
// remembering neither: it could vote a second time in a term, and the
// leader could count it as holding entries it lost. So each node's storage
// carries a random HardState.DiskID, every message carries its sender's,
// and the configuration records each member's (Member.DiskID): the leader
// records it once it hears from the member, and AddVoter records it in the
// entry that makes the member a voter. A voter that speaks from another
// disk than the one recorded is no longer that voter: its votes are not
// counted, its vote requests are dropped, and a leader does not count its
// answers towards a quorum, until an operator re-adds it with AddVoter
// (which brings it back through the learner stage, from nothing). This is
// what Kafka's KRaft does with voter directory ids.
//
// What it cannot catch: a member wiped before any leader recorded its
// disk, that is in the first round after it joined, and a node that does
// not yet have the entry that recorded it. Both are windows of a heartbeat
// or so at a member's start.

// diskOK says whether a message from id, sent from disk, comes from the
// storage the configuration in effect recorded for id, or records none.
func (c *core) diskOK(id NodeID, disk uint64) bool {
	x, ok := c.conf().member(id)
	// A message without one comes from a version before disk ids.
	return !ok || x.DiskID == 0 || disk == 0 || x.DiskID == disk || c.injected(bugWipedDiskVotes)
}

// wipedHere says whether this node is a member whose recorded disk is not
// its own: it learned so from the leader, and must not stand or vote.
func (c *core) wipedHere() bool { return !c.diskOK(c.cfg.id, c.hs.DiskID) }

// countsFor says whether a leader may count voter id's answers towards a
// quorum: they come from the disk recorded for it (or none is recorded, or
// it has not answered yet).
func (c *core) countsFor(id NodeID) bool {
	return id == c.cfg.id || c.diskOK(id, c.disks[id])
}

// noteDisk keeps the disk each member sends from. A follower whose disk
// changed lost what it had: where its log ends is unknown again, and what
// it acknowledged before must not count.
func (c *core) noteDisk(m *Message) {
	was := c.disks[m.From]
	if m.DiskID == 0 || was == m.DiskID {
		return
	}
	if _, member := c.conf().member(m.From); !member {
		return // a stranger's vote request: nothing to keep
	}
	if c.disks == nil {
		c.disks = map[NodeID]uint64{}
	}
	c.disks[m.From] = m.DiskID
	if pr := c.progress[m.From]; pr != nil && was != 0 {
		c.endTransfer(m.From, pr)
		*pr = progress{next: c.log.lastIndex() + 1, probing: true, heardTick: pr.heardTick}
	}
}

// recordDisks records, in one configuration entry, the disk of every
// member that has none recorded and that the leader has heard from. It
// goes through the log like any change. A new leader records at once
// those its votes told it of (atStart), in the first entry of its term;
// later it waits until every member yet unrecorded has answered, or an
// election timeout has passed, so that a new cluster records all its
// disks in one or two entries. It reports whether it appended one.
//
// Unlike a change, it need not wait for the previous change, nor for an
// entry of the leader's term to commit: it changes no one's role, so no
// quorum, and the one-at-a-time rule is about quorums that must overlap.
// That lets a new leader record the disks it learned from its votes in the
// first entry of its term, in place of its no-op, before any broadcast.
func (c *core) recordDisks(atStart bool) bool {
	if c.role != Leader || c.handover != nil {
		return false
	}
	// Counted before the configuration is copied: this runs on every
	// advance of the commit index, and nearly always finds nothing to do.
	known, unknown := 0, 0
	for _, x := range c.conf().Members {
		if x.DiskID != 0 {
			continue
		}
		if c.diskOf(x.ID) != 0 {
			known++
		} else {
			unknown++
		}
	}
	if known == 0 || !(atStart || unknown == 0 || c.ticks-c.ledSince >= c.cfg.ticksPerElection()) {
		return false
	}
	next := c.conf().clone()
	for i := range next.Members {
		if x := &next.Members[i]; x.DiskID == 0 {
			x.DiskID = c.diskOf(x.ID)
		}
	}
	c.appendConf(next)
	return true
}

// diskOf returns the disk member id answers from as far as the leader
// knows (its own, for itself), 0 if it does not know.
func (c *core) diskOf(id NodeID) uint64 {
	if id == c.cfg.id {
		return c.hs.DiskID
	}
	return c.disks[id]
}

// wrongDisk says whether member id sends from another disk than the one
// recorded for it.
func (c *core) wrongDisk(id NodeID) bool { return !c.countsFor(id) }

// newDiskID draws a storage's identity: random, so that a wiped disk
// never gets its old one back, and never 0, which means none.
func newDiskID() uint64 {
	for {
		if id := rand.Uint64(); id != 0 {
			return id
		}
	}
}
