//go:build raftlite_bugs

package raftlite

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// catalogue lists the known bugs and the simulator check that must catch
// each within the seeds CI runs: -sim.seeds of the mixed profile, or
// -sim.churn-seeds of the leader-churn profile for the bugs that need
// leaders to die at just the wrong moment.
var catalogue = []struct {
	name  string
	bug   bug
	check string
	churn bool
	paper bool // with elections as the paper has them (simOptions.paper)
}{
	{"Figure8AsDrawn", bugCommitOldTerms | bugNoNoop, checkLeaderCompleteness, true, false},
	{"CommitOldTermsByCounting", bugCommitOldTerms, checkLeaderCompleteness, true, false},
	{"CountUnsavedOwnCopy", bugCountUnsavedOwnCopy, checkDurableQuorum, false, false},
	{"VoteNotSaved", bugForgetVote, checkElectionSafety, true, true},
	{"VoteTwice", bugVoteTwice, checkElectionSafety, false, false},
	{"VoteForStaleLog", bugVoteForStaleLog, checkLeaderCompleteness, false, false},
	{"AckBeforeSync", bugAckBeforeSync, checkDurableQuorum, false, false},
	{"ReleaseBeforeSync", bugReleaseBeforeSync, checkDurableQuorum, false, false},
	{"TruncateOnStaleRequest", bugTruncateOnStaleRequest, checkCommittedKept, false, false},
	{"CommitBeyondRequest", bugCommitBeyondRequest, checkStateMachineSafety, false, false},
	{"ForgetSessions", bugForgetSessions, checkFIFO, false, false},
	{"AcceptRetries", bugAcceptRetries, checkExactlyOnce, false, false},
	{"AcceptGaps", bugAcceptGaps, checkFIFO, false, false},
	{"HardStateBeforeEntries", bugHardStateBeforeEntries, checkSavedCommit, false, false},
	{"IgnorePrevTerm", bugIgnorePrevTerm, checkLogMatching, false, false},
	{"AckBatchIndex", bugAckBatchIndex, checkAcknowledgement, false, false},
	{"NeverReforward", bugNeverReforward, checkLiveness, false, false},
	{"DeliverUncommitted", bugDeliverUncommitted, checkDelivery, false, false},
	{"DeliverAcrossGap", bugDeliverAcrossGap, checkDelivery, false, false},
	{"InstallOldSnapshot", bugInstallOldSnapshot, checkCommittedKept, false, false},
	{"CompactPastSnapshot", bugCompactPastSnapshot, checkSnapshot, false, false},
	{"KeepConflictsOnInstall", bugKeepConflictsOnInstall, checkStateMachineSafety, true, false},
	{"SnapshotWithoutSessions", bugSnapshotWithoutSessions, checkExactlyOnce, false, false},
	{"PreVoteRaisesTerm", bugPreVoteRaisesTerm, checkPreVote, false, false},
	{"LeaderNeverStepsDown", bugLeaderNeverStepsDown, checkQuorumLeader, false, false},
	{"ReadWithoutConfirm", bugReadWithoutConfirm, checkRead, false, false},
	{"LearnerCountsTowardsQuorum", bugLearnerVotes, checkDurableQuorum, false, false},
	{"WipedDiskVotes", bugWipedDiskVotes, checkSingleVote, true, true},
	{"VoteTwiceCounted", bugVoteTwice, checkSingleVote, false, false},
	{"ChangeBeforeOwnTermCommit", bugChangeBeforeOwnTermCommit, checkLeaderCompleteness, false, true},
}

// TestBugCatalogue proves each check bites: with a known bug switched on,
// the check named for it fails within the CI seeds. Other checks may fail
// first on other seeds (a bug often breaks several rules); the test reports
// both seeds.
func TestBugCatalogue(t *testing.T) {
	for _, tc := range catalogue {
		t.Run(tc.name, func(t *testing.T) {
			seeds := seedRange(*simSeeds)
			if tc.churn {
				seeds = seedRange(*simChurnSeeds)
			}
			named := func(r simResult) bool { return r.check == tc.check }
			// The single-vote check fires on a double vote as the second
			// leader is elected, a step before election safety sees two:
			// off, so that election safety shows it bites too.
			noSingleVote := tc.check == checkElectionSafety
			_, failures, _ := runSeeds(seeds, simOptions{bug: tc.bug, churn: tc.churn, paper: tc.paper, noSingleVote: noSingleVote}, named)
			require.NotEmpty(t, failures, "no seed of %d caught it", len(seeds))
			i := slices.IndexFunc(failures, named)
			require.GreaterOrEqual(t, i, 0, "%q never failed in %d seeds; first failure: %s", tc.check, len(seeds), firstLine(failures[0].failure))
			t.Logf("first failure at seed %d (%s); %q fails at seed %d", failures[0].seed, failures[0].check, tc.check, failures[i].seed)
		})
	}
}

// Figure 8 as the paper draws it: without the no-op, and counting replicas
// of an old term's entry, the leader commits an entry that S5 could still
// overwrite.
func TestFigure8BugCommitsAnEntryThatCanBeOverwritten(t *testing.T) {
	h, l := figure8(t, bugCommitOldTerms|bugNoNoop)
	assert.Equal(t, uint64(2), l.commit, "with the bug, the term-2 entry commits by counting")
	assert.Equal(t, uint64(2), h.cores[3].log.lastTerm(), "and S3 holds nothing newer, so S5 (last term 3) could win S2-S4 and overwrite it")
}

// TestPreVoteTrapsNeedTheirFixes: with its fix switched off, each trap of
// TestPreVoteTraps goes wrong, so that each of those scenarios tests its
// fix.
func TestPreVoteTrapsNeedTheirFixes(t *testing.T) {
	for _, trap := range preVoteTraps {
		t.Run(trap.name, func(t *testing.T) {
			msg := trap.run(t, trap.bug)
			require.NotEmpty(t, msg, "the trap did not spring with its fix switched off")
			require.NotContains(t, msg, "setup:", "the scenario did not set up as it should")
			t.Logf("without the fix: %s", msg)
		})
	}
}

// TestLeaseNeedsTheRestartGuard: without it, a voter that restarts lets
// another leader win while the old one still serves lease reads.
func TestLeaseNeedsTheRestartGuard(t *testing.T) {
	msg := leaseAcrossAVoterRestart(t, bugLeaseForgetsRestart)
	require.NotEmpty(t, msg, "no stale read without the guard")
	require.NotContains(t, msg, "setup:")
	t.Logf("without the guard: %s", msg)
}

// TestOngaro2015NeedsTheFix: without the own-term commit before a change,
// the 2015 scenario commits two different entries at one index.
func TestOngaro2015NeedsTheFix(t *testing.T) {
	msg := ongaro2015(t, bugChangeBeforeOwnTermCommit)
	require.NotEmpty(t, msg, "the scenario did not go wrong without the fix")
	t.Logf("without the fix: %s", msg)
}
