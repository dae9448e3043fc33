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

	roundTrip     = "SnapshotRoundTripsLargeStreamedData"
	invisible     = "SnapshotIsInvisibleUntilClose"
	aborted       = "AbortedSnapshotStoresNothing"
	compaction    = "CompactKeepsTheLastIndexAndLaterEntries"
	discarding    = "DiscardLogEmptiesTheLogAndSavesGoOnAfterIndex"
	readerValid   = "SnapshotReaderStaysValidWhileNewerOnesAreStored"
	highestIndex  = "TheLatestSnapshotHasTheHighestIndex"
	snapPowerCut  = "Crash/PowerCutKeepsSnapshotsCompactionsAndDiscards"
	crashInSnap   = "Crash/CrashWhileStoringCompactingOrDiscardingLeavesAWholeState"
	snapshotCrash = "the rebooted persister holds none of the states allowed"
)

// TestSuiteRejectsBrokenPersisters runs the suite on fake persisters that
// break the contract in one way each, and checks that the subtest written
// for that way fails, with the message that names it, and which others fail
// with it: the model-based crash subtests notice any wrong state as well.
// Persisters that keep the contract pass. Each snapshot subtest is the one
// written for at least one of the fakes.
func TestSuiteRejectsBrokenPersisters(t *testing.T) {
	var written []string
	defer func() {
		for _, tc := range snapshotTests {
			assert.Contains(t, written, tc.name, "no fake shows that this subtest catches its bug")
		}
		for _, tc := range crashTests {
			assert.Contains(t, written, "Crash/"+tc.name, "no fake shows that this subtest catches its bug")
		}
	}()
	for _, tc := range []struct {
		name     string
		harness  Harness
		caughtBy string   // the subtest written for this bug, "" for none
		message  string   // in its failure
		alsoBy   []string // other subtests that fail
	}{
		{name: "AtomicJournalPasses", harness: fakeHarness(journal, true)},
		{name: "EntryReaderPasses", harness: fakeSnapHarness(journal, readerOK, true)},
		{name: "EntriesBeforeHardStatePasses", harness: fakeHarness(entriesFirst, false)},
		{
			name: "EntriesBeforeHardStateIsNotAtomic", harness: fakeHarness(entriesFirst, true),
			caughtBy: crashInSave, message: "but may hold only",
			alsoBy: []string{crashInSnap}, // its workload saves HardStates with entries too
		},
		{
			name: "SaveThatReturnedIsNotDurable", harness: fakeHarness(lazySync, false),
			caughtBy: powerCut, message: "a Save that returned was not durable",
			// A crash loses the Save before the one it interrupts; the
			// snapshot workload's Saves, compactions and discards too.
			alsoBy: []string{crashInSave, snapPowerCut, crashInSnap},
		},
		{
			name: "HardStateDurableBeforeItsEntries", harness: fakeHarness(hardStateFirst, false),
			caughtBy: crashInSave, message: "but may hold only",
			alsoBy: []string{crashInSnap},
		},
		{
			name: "SavesReplayedOutOfOrder", harness: fakeHarness(fileNameOrder, true),
			caughtBy: manySaves, message: "hard state", // the Saves replayed last hold older ones
			// These workloads write more than ten records too.
			alsoBy: []string{powerCut, crashInSave, compaction, snapPowerCut, crashInSnap},
		},
		{
			name: "EntriesAtTheirIndicesWithoutTheCut", harness: fakeHarness(overwriteInPlace, true),
			caughtBy: suffixCut, message: "entries",
			alsoBy: []string{powerCut, crashInSave, compaction}, // these shorten the log
		},
		{
			name: "SnapshotCutAtOneMiB", harness: fakeSnapHarness(journal, snapCutAtOneMiB, true),
			caughtBy: roundTrip, message: "it is partial",
		},
		{
			name: "SnapshotVisibleBeforeClose", harness: fakeSnapHarness(journal, visibleBeforeClose, true),
			caughtBy: invisible, message: "written to its sink but not closed, is visible",
			alsoBy: []string{crashInSnap}, // a crash leaves part of it as the latest
		},
		{
			name: "LastClosedSnapshotWins", harness: fakeSnapHarness(journal, lastClosedWins, true),
			caughtBy: highestIndex, message: "after the snapshot at 5 closed after the one at 8",
			alsoBy: []string{crashInSnap}, // its check after the reboot stores an older one
		},
		{
			name: "AbortStoresTheSnapshot", harness: fakeSnapHarness(journal, abortCloses, true),
			caughtBy: aborted, message: "was aborted",
		},
		{
			name: "CompactForgetsAnEntryAfterThrough", harness: fakeSnapHarness(journal, compactOneTooMany, true),
			caughtBy: compaction, message: "only entries up to 70 may be forgotten",
			alsoBy: []string{readerValid, snapPowerCut, crashInSnap}, // these compact too
		},
		{
			name: "DiscardLogKeepsTheEntriesUpToIndex", harness: fakeSnapHarness(journal, discardCutsAfter, true),
			caughtBy: discarding, message: "but the log starts after 50",
			alsoBy: []string{snapPowerCut, crashInSnap},
		},
		{
			name: "SaveBeforeTheDiscardedLogIsTaken", harness: fakeSnapHarness(journal, savesBeforeTheStart, true),
			caughtBy: discarding, message: "a Save of 50 was accepted",
		},
		{
			name: "SnapshotReaderFailsOnceANewerOneRemovesItsFile", harness: fakeSnapHarness(journal, readerFollowsLatest, true),
			caughtBy: readerValid, message: "is gone",
		},
		{
			name: "LoadStateSaysTheLogStartsAt1", harness: fakeSnapHarness(journal, staleFirstIndex, true),
			caughtBy: compaction, message: "LoadState says the log holds 1..120, want 71..120",
			alsoBy: []string{discarding, readerValid, snapPowerCut, crashInSnap}, // these compact or discard too
		},
		{
			name: "DiscardLogThatReturnedIsNotDurable", harness: fakeSnapHarness(journal, discardNotSynced, true),
			caughtBy: snapPowerCut, message: "an operation that returned was not durable",
			alsoBy: []string{crashInSnap}, // a crash in the next write loses it
		},
		{
			name: "SinkRenamesItsFileBeforeSyncingIt", harness: fakeSnapHarness(journal, renameBeforeSync, true),
			caughtBy: crashInSnap, message: snapshotCrash,
		},
	} {
		written = append(written, tc.caughtBy)
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
			q := raftlite.NewMemoryPersister()
			require.NoError(t, Copy(q, p))
			p = q
			return p
		}
	}})
	assert.Empty(t, r.failedLeaves())
	assert.Equal(t, []string{crashInSave, crashInSnap, snapPowerCut, powerCut}, r.skippedTests())
}

// TestReopenReturningTheSamePersisterFails: a reopen that returns the
// Persister it was to close would make every reopen check vacuous.
func TestReopenReturningTheSamePersisterFails(t *testing.T) {
	r := newRecorder(t)
	run(r, Harness{Open: func(*testing.T) (raftlite.Persister, func() raftlite.Persister) {
		p := raftlite.NewMemoryPersister()
		return p, func() raftlite.Persister { return p }
	}})
	reopening := []string{"EmptySaveChangesNothing", "HardStateIsReplaced", "SaveWithHardStateAndEntries", suffixCut,
		"ReopenSeesEverythingSaved", manySaves, "NonContiguousSaveIsRejected", "LargeEntries",
		roundTrip, invisible, aborted, compaction, discarding, readerValid, highestIndex}
	assert.ElementsMatch(t, reopening, r.failedLeaves())
	for _, name := range reopening {
		assert.Contains(t, strings.Join(r.messages(name), "\n"), "reopen returned the Persister it was to close", name)
	}
}

// TestCopyTakesTheLogStartFromAnEntryReader copies a persister whose log
// Compact emptied past the latest snapshot's start: LoadState, not the
// snapshot, says where the log goes on.
func TestCopyTakesTheLogStartFromAnEntryReader(t *testing.T) {
	src := &readerFake{openFake(journal, readerOK, newDisk())}
	hs := raftlite.HardState{Term: 2, VotedFor: 1}
	require.NoError(t, src.Save(&hs, Entries(1, 10, 2)))
	snap := &snapshot{meta: raftlite.SnapshotMeta{Index: 20, Term: 2}, size: 300, seed: 1}
	require.NoError(t, snap.store(src))
	require.NoError(t, src.Compact(20))
	_, es, err := src.Load()
	require.NoError(t, err)
	require.Empty(t, es)

	dst := raftlite.NewMemoryPersister()
	require.NoError(t, Copy(dst, src))
	assert.Error(t, dst.Save(nil, Entries(12, 12, 2)), "the log ends at 10")
	require.NoError(t, dst.Save(nil, Entries(11, 11, 2)))
	st := logState{hs: hs, start: 11, log: Entries(11, 11, 2), snap: snap}
	require.NoError(t, st.diff(dst))
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
