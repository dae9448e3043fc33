package raftlite

// bug is a set of known bugs that tests switch on, to prove that the
// simulator and the other checkers catch each one. The checks that inject
// them compile to nothing in normal builds: injected is constant false
// unless the code is built with -tags raftlite_bugs, which the test command
// in the README uses.
type bug uint64

const (
	// bugCommitOldTerms: the leader commits an entry of an earlier term by
	// counting replicas (Raft §5.4.2, Figure 8).
	bugCommitOldTerms bug = 1 << iota
	// bugNoNoop: a new leader appends no entry of its own term.
	bugNoNoop
	// bugForgetVote: a vote is granted without being saved.
	bugForgetVote
	// bugAckBeforeSync: a follower acknowledges entries before they are durable.
	bugAckBeforeSync
	// bugAcceptGaps: the leader appends a broadcast that is not the next
	// from its origin, so one lost on the way is overtaken.
	bugAcceptGaps
	// bugReleaseBeforeSync: the runtime sends the messages that wait on a
	// save (votes, acknowledgements) before the save is durable.
	bugReleaseBeforeSync
	// bugDeliverUncommitted: the leader delivers its entries once they are
	// saved on its own disk, before they commit.
	bugDeliverUncommitted
	// bugDeliverAcrossGap: entries no longer in memory are skipped instead
	// of read back for delivery.
	bugDeliverAcrossGap
	// bugVoteTwice: a node grants a vote whoever it already voted for.
	bugVoteTwice
	// bugVoteForStaleLog: a node grants a vote without checking that the
	// candidate's log is at least as up to date as its own (§5.4.1).
	bugVoteForStaleLog
	// bugCountUnsavedOwnCopy: the leader counts its own copy of an entry
	// towards a quorum before its disk holds it.
	bugCountUnsavedOwnCopy
	// bugTruncateOnStaleRequest: a follower cuts its log after the last
	// entry of a request even when everything matched, so a late or
	// duplicated request cuts entries it had acknowledged, committed ones
	// included.
	bugTruncateOnStaleRequest
	// bugCommitBeyondRequest: a follower takes the leader's commit index up
	// to the end of its own log rather than to the last entry the leader
	// sent, committing entries the leader never confirmed.
	bugCommitBeyondRequest
	// bugForgetSessions: a restarted node forgets who broadcast what
	// before, and as leader takes whatever an origin it no longer knows
	// sends, out of order or again.
	bugForgetSessions
	// bugAcceptRetries: the leader appends a broadcast it already holds
	// when its origin retries it.
	bugAcceptRetries
	// bugHardStateBeforeEntries: a persister that, torn by a crash, keeps
	// the new HardState without all the entries saved with it, breaking
	// the Persister contract (the simulated disk has the switch).
	bugHardStateBeforeEntries
	// bugIgnorePrevTerm: a follower appends a leader's entries without
	// checking that its log matches at the entry before them (§5.3).
	bugIgnorePrevTerm
	// bugAckBatchIndex: a broadcast is acknowledged with the index of the
	// last entry committed with it rather than its own.
	bugAckBatchIndex
	// bugNeverReforward: a follower forwards each broadcast once and never
	// again, so one lost on the way waits for ever.
	bugNeverReforward
	// bugInstallOldSnapshot: a follower installs a snapshot older than its
	// commit index, throwing away its log and its commit index with it.
	bugInstallOldSnapshot
	// bugCompactPastSnapshot: the log is compacted up to the commit index
	// rather than behind the snapshot, dropping entries no snapshot holds.
	bugCompactPastSnapshot
	// bugKeepConflictsOnInstall: a follower that installs a snapshot keeps
	// the entries after its index even when its log disagrees with the
	// snapshot there (§7).
	bugKeepConflictsOnInstall
	// bugSnapshotWithoutSessions: snapshots leave out the exactly-once
	// table, so a node restored from one accepts retries again.
	bugSnapshotWithoutSessions
	// bugPreVoteRaisesTerm: a pre-candidate raises its term, as a
	// candidate does, so that a node cut off keeps climbing terms.
	bugPreVoteRaisesTerm
	// bugLeaderNeverStepsDown: a leader cut off from a quorum goes on
	// leading (check-quorum does nothing).
	bugLeaderNeverStepsDown
	// bugReadWithoutConfirm: a leader serves a read at its commit index
	// without a round of heartbeats to confirm it still leads.
	bugReadWithoutConfirm
	// bugPreCandidateKeepsLeader: a pre-candidate still counts the leader
	// it gave up on as live, and refuses other pre-votes for it
	// (etcd-io/etcd#8334).
	bugPreCandidateKeepsLeader
	// bugDropLowerTermPreVote: a pre-vote from a lower term is dropped
	// rather than refused with the higher term (etcd-io/etcd#8243).
	bugDropLowerTermPreVote
	// bugIgnoreLowerTermLeader: a node at a higher term drops a lower-term
	// leader's requests without telling it its term, so that it stays
	// stranded.
	bugIgnoreLowerTermLeader
	// bugRefuseLeadersPreVote: a follower refuses the pre-vote of the very
	// leader it follows, as in lease (hashicorp/raft#606).
	bugRefuseLeadersPreVote
	// bugLeaseForgetsRestart: with lease reads, a node that just restarted
	// votes at once, though before its crash it may have let a leader
	// count on it for a lease that still runs.
	bugLeaseForgetsRestart
	// bugChangeBeforeOwnTermCommit: a leader appends a membership change
	// before it has committed an entry of its own term, so that leaders of
	// different terms can each append one and form majorities that do not
	// overlap (Ongaro, raft-dev, 2015).
	bugChangeBeforeOwnTermCommit
	// bugLearnerVotes: learners count towards a quorum: a candidate's
	// votes, and a leader's replicas when it commits.
	bugLearnerVotes
	// bugWipedDiskVotes: disk identities are ignored, so that a voter
	// whose disk was wiped votes again in a term it voted in, and its
	// answers count although it lost what it acknowledged.
	bugWipedDiskVotes
)

// injected reports whether bug b is switched on.
func (c *core) injected(b bug) bool { return bugOn(c.cfg.bug, b) }

// bugOn reports whether bug b is in the set.
func bugOn(set, b bug) bool { return bugsCompiled && set&b != 0 }

// injectStaleTruncation is bugTruncateOnStaleRequest: having matched a
// request that ends at last, cut the log (and the disk) after it.
func (c *core) injectStaleTruncation(last uint64) {
	if !c.injected(bugTruncateOnStaleRequest) || last <= c.log.offset || last >= c.log.lastIndex() || last < c.log.memFirst() {
		return
	}
	c.truncateAfter(last)
	c.persistEntries(c.log.slice(last, last+1, c.cfg.maxBatchBytes))
}
