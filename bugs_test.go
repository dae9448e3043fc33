//go:build raftlite_bugs

package raftlite

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// catalogue lists the known bugs and the simulator check that must catch
// each within the seeds CI runs (-sim.seeds, 500 by default).
var catalogue = []struct {
	name  string
	bug   bug
	check string
}{
	{"Figure8AsDrawn", bugCommitOldTerms | bugNoNoop, checkLeaderCompleteness},
	{"CommitOldTermsByCounting", bugCommitOldTerms, checkLeaderCompleteness},
	{"CountUnsavedOwnCopy", bugCountUnsavedOwnCopy, checkDurableQuorum},
	{"VoteNotSaved", bugForgetVote, checkElectionSafety},
	{"VoteTwice", bugVoteTwice, checkElectionSafety},
	{"VoteForStaleLog", bugVoteForStaleLog, checkLeaderCompleteness},
	{"AckBeforeSync", bugAckBeforeSync, checkDurableQuorum},
	{"ReleaseBeforeSync", bugReleaseBeforeSync, checkDurableQuorum},
	{"TruncateOnStaleRequest", bugTruncateOnStaleRequest, checkCommittedKept},
	{"CommitBeyondRequest", bugCommitBeyondRequest, checkStateMachineSafety},
	{"ForgetSessions", bugForgetSessions, checkFIFO},
	{"AcceptRetries", bugAcceptRetries, checkExactlyOnce},
	{"AcceptGaps", bugAcceptGaps, checkFIFO},
	{"HardStateBeforeEntries", bugHardStateBeforeEntries, checkStateMachineSafety},
	{"DeliverUncommitted", bugDeliverUncommitted, checkDelivery},
	{"DeliverAcrossGap", bugDeliverAcrossGap, checkDelivery},
}

// TestBugCatalogue proves each check bites: with a known bug switched on,
// the simulator fails within the CI seeds, and the check that fails first
// is the one named for that bug, not just any.
func TestBugCatalogue(t *testing.T) {
	var seeds []uint64
	for s := 1; s <= *simSeeds; s++ {
		seeds = append(seeds, uint64(s))
	}
	for _, tc := range catalogue {
		t.Run(tc.name, func(t *testing.T) {
			named := func(r simResult) bool { return r.check == tc.check }
			_, failures := runSeeds(seeds, simOptions{bug: tc.bug}, named)
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
