//go:build raftlite_bugs

package raftlite

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestSimulationCatchesInjectedBugs proves the checker bites: with a known
// bug switched on in the core, some seed must fail.
func TestSimulationCatchesInjectedBugs(t *testing.T) {
	for _, tc := range []struct {
		name string
		bug  bug
	}{
		{"VoteNotPersisted", bugForgetVote},
		{"AckBeforeSync", bugAckBeforeSync},
		{"AcceptGaps", bugAcceptGaps},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for seed := uint64(1); seed <= 400; seed++ {
				if r := runSimulation(seed, simOptions{bug: tc.bug}); r.failure != "" {
					t.Logf("caught at seed %d: %s", seed, firstLine(r.failure))
					return
				}
			}
			t.Fatalf("the simulator did not catch bug %q in 400 seeds", tc.name)
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
