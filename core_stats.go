package raftlite

// coreStats counts the core's events for Node.Metrics: plain integers,
// written by the handlers and copied out by the Node's loop, the only
// goroutine that touches the core. Counting is all it does: no handler
// reads these fields to decide anything.
type coreStats struct {
	preVotes      uint64 // pre-vote rounds started (becomePreCandidate)
	elections     uint64 // elections started: the term raised as candidate
	electionsWon  uint64 // elections won: became leader
	leaderChanges uint64 // a leader learnt of that differs from the last one known
	stepDowns     uint64 // stopped leading, for any reason

	forwards       uint64 // broadcasts forwarded to a leader for the first time
	forwardRetries uint64 // broadcasts forwarded again: to a new leader, or after no progress
	forwardedSeq   uint64 // the highest Seq ever forwarded: what tells a retry from a first

	snapshotTransfers  uint64 // snapshot transfers a leader started, to followers its log no longer reaches
	snapshotsInstalled uint64 // snapshots received from a leader and installed

	membershipChanges   uint64 // configuration entries put in effect (appended to this node's log)
	leadershipTransfers uint64 // MsgTimeoutNow sent: this leader handed leadership over
}

// forwarded counts the broadcasts ents, sent to the leader in one
// MsgPropose.
func (s *coreStats) forwarded(ents []Entry) {
	for i := range ents {
		if ents[i].Seq > s.forwardedSeq {
			s.forwards++
			s.forwardedSeq = ents[i].Seq
		} else {
			s.forwardRetries++
		}
	}
}

// newLeader counts a change of the leader known from was to now.
func (s *coreStats) newLeader(was, now NodeID) {
	if now != was && now != None {
		s.leaderChanges++
	}
}
