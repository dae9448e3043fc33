package persistertest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/raftlite/raftlite"
)

const (
	powerCut     = "Crash/PowerCutLosesNoSaveThatReturned"
	crashInSave  = "Crash/CrashInTheMiddleOfASaveLeavesAWholeState"
	suffixCut    = "ConflictingSuffixIsReplaced"
	manySaves    = "ReopenAfterManySavesReplaysThemInOrder"
	crashMissing = "not applicable: Harness.Crash is nil"
)

// TestSuiteRejectsBrokenPersisters runs the suite on fake persisters that
// break the contract in one way each, and checks that the subtest written
// for that way fails, with the message that names it, and which others fail
// with it: the model-based crash subtests notice any wrong state as well.
// Persisters that keep the contract pass.
func TestSuiteRejectsBrokenPersisters(t *testing.T) {
	for _, tc := range []struct {
		name     string
		harness  Harness
		caughtBy string   // the subtest written for this bug, "" for none
		message  string   // in its failure
		alsoBy   []string // other subtests that fail
	}{
		{name: "AtomicJournalPasses", harness: fakeHarness(journal, true)},
		{name: "EntriesBeforeHardStatePasses", harness: fakeHarness(entriesFirst, false)},
		{
			name: "EntriesBeforeHardStateIsNotAtomic", harness: fakeHarness(entriesFirst, true),
			caughtBy: crashInSave, message: "but may hold only",
		},
		{
			name: "SaveThatReturnedIsNotDurable", harness: fakeHarness(lazySync, false),
			caughtBy: powerCut, message: "a Save that returned was not durable",
			alsoBy: []string{crashInSave}, // a crash loses the Save before the one it interrupts
		},
		{
			name: "HardStateDurableBeforeItsEntries", harness: fakeHarness(hardStateFirst, false),
			caughtBy: crashInSave, message: "but may hold only",
		},
		{
			name: "SavesReplayedOutOfOrder", harness: fakeHarness(fileNameOrder, true),
			caughtBy: manySaves, message: "hard state", // the Saves replayed last hold older ones
			alsoBy: []string{powerCut, crashInSave}, // the workload has more than ten Saves
		},
		{
			name: "EntriesAtTheirIndicesWithoutTheCut", harness: fakeHarness(overwriteInPlace, true),
			caughtBy: suffixCut, message: "entries",
			alsoBy: []string{powerCut, crashInSave}, // the workload shortens the log
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRecorder(t)
			run(r, tc.harness)
			var want []string
			if tc.caughtBy != "" {
				want = append([]string{tc.caughtBy}, tc.alsoBy...)
			}
			assert.ElementsMatch(t, want, r.failedLeaves())
			assert.Empty(t, r.skippedTests())
			if tc.caughtBy != "" {
				msgs := strings.Join(r.messages(tc.caughtBy), "\n")
				assert.Contains(t, msgs, tc.message)
				t.Logf("%s fails with:\n%.600s", tc.caughtBy, msgs)
			}
		})
	}
}

// TestMemoryPersisterHasNoCrashToSimulate runs the suite on
// MemoryPersister, whose reopen hands what Load returns to a new one: it
// passes, and the crash subtests are reported skipped, not passed.
func TestMemoryPersisterHasNoCrashToSimulate(t *testing.T) {
	r := newRecorder(t)
	run(r, Harness{Open: func(t *testing.T) (raftlite.Persister, func() raftlite.Persister) {
		p := raftlite.NewMemoryPersister()
		return p, func() raftlite.Persister {
			hs, es, err := p.Load()
			require.NoError(t, err)
			p = raftlite.NewMemoryPersister()
			require.NoError(t, p.Save(&hs, es))
			return p
		}
	}})
	assert.Empty(t, r.failedLeaves())
	assert.Equal(t, []string{crashInSave, powerCut}, r.skippedTests())
}

// TestReopenReturningTheSamePersisterFails: a reopen that returns the
// Persister it was to close would make every reopen check vacuous.
func TestReopenReturningTheSamePersisterFails(t *testing.T) {
	r := newRecorder(t)
	run(r, Harness{Open: func(*testing.T) (raftlite.Persister, func() raftlite.Persister) {
		p := raftlite.NewMemoryPersister()
		return p, func() raftlite.Persister { return p }
	}})
	reopening := []string{"EmptySaveChangesNothing", "SaveWithHardStateAndEntries", suffixCut,
		"ReopenSeesEverythingSaved", manySaves, "NonContiguousSaveIsRejected", "LargeEntries"}
	assert.ElementsMatch(t, reopening, r.failedLeaves())
	for _, name := range reopening {
		assert.Contains(t, strings.Join(r.messages(name), "\n"), "reopen returned the Persister it was to close", name)
	}
}

// TestRecorderSeesFailuresSkipsAndPanics checks the recorder the tests
// above rely on.
func TestRecorderSeesFailuresSkipsAndPanics(t *testing.T) {
	r := newRecorder(t)
	r.Run("group", func(t tb) {
		t.Run("passes", func(tb) {})
		t.Run("errs", func(t tb) { t.Errorf("one %d", 1); t.Errorf("two") })
		t.Run("fatal", func(t tb) { t.Fatalf("stop"); t.Errorf("not reached") })
		t.Run("skips", func(t tb) { t.Skip(crashMissing) })
		t.Run("panics", func(tb) { panic("boom") })
	})
	assert.Equal(t, []string{"group/errs", "group/fatal", "group/panics"}, r.failedLeaves())
	assert.Equal(t, []string{"group/skips"}, r.skippedTests())
	assert.Equal(t, []string{"one 1", "two"}, r.messages("group/errs"))
	assert.Equal(t, []string{"stop"}, r.messages("group/fatal"))
	assert.Equal(t, []string{"panic: boom"}, r.messages("group/panics"))
}
