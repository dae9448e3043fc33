// Package persistertest checks that a raftlite.Persister keeps its contract,
// in the manner of testing/fstest: an implementation's tests call Run.
//
//	func TestConformance(t *testing.T) {
//		persistertest.Run(t, persistertest.Harness{
//			Open: func(t *testing.T) (raftlite.Persister, func() raftlite.Persister) {
//				dir := t.TempDir()
//				p := mustOpen(t, dir)
//				return p, func() raftlite.Persister { p.Close(); p = mustOpen(t, dir); return p }
//			},
//		})
//	}
//
// The subtests cover Save and Load, snapshots (CreateSnapshot's sink,
// OpenSnapshot) and the log's compaction (Compact, DiscardLog); with an
// EntryReader, LoadState and Entries must agree with Load.
//
// A persister whose tests can simulate a crash of the machine (a fault
// injecting file system, say) also sets Harness.Crash, and the suite then
// crashes it at every write and sync of a workload; without it, the crash
// subtests are skipped as not applicable. Package wal's tests show both.
package persistertest

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/raftlite/raftlite"
)

// Harness tells Run how to make the Persisters it checks.
type Harness struct {
	// Open is required.
	Open Opener

	// Crash, when not nil, enables the subtests under "Crash", which cut
	// the power after Saves (and snapshots, compactions, discards)
	// returned and crash the machine in the middle of them, at every
	// operation of the medium in turn.
	Crash CrashOpener

	// AtomicSave declares that a Save interrupted by a crash leaves the
	// state before it or after it, nothing else. Without it the crash
	// subtests also accept the weaker outcomes the Persister contract
	// allows: a prefix of the Save's entries with the old HardState.
	AtomicSave bool
}

// Opener makes a fresh, empty Persister for one subtest, and a reopen
// function that closes the last Persister it handed out and opens the same
// storage again, as a restarted process would see it. Reopen must return a
// new Persister that shares nothing with the old one but what was saved: a
// Persister that lives only in memory hands what it holds to a new one
// (Copy does), not itself. The suite fails a subtest whose reopen returns the same pointer.
type Opener func(t *testing.T) (p raftlite.Persister, reopen func() raftlite.Persister)

// CrashOpener opens a Persister on an empty medium (a file system, a
// device) that crashes at its at-th operation counted from the open: the
// at-th write, sync, creation or removal of a file, however the medium
// counts them. From the crash on, every operation of the medium fails, so
// Saves fail; what the crashing operation itself did is up to the medium
// (a write may be torn). An at of 0 means no crash until Machine.Reboot.
//
// The suite never closes a Persister whose machine it crashes, as a dead
// process would not; Reboot may release what it holds.
type CrashOpener func(t *testing.T, at int) (raftlite.Persister, Machine)

// Machine is the medium under a Persister made by a CrashOpener.
type Machine interface {
	// Crashed reports whether the crash has happened.
	Crashed() bool
	// Reboot crashes the machine now if it has not crashed yet (a power
	// cut) and returns a Persister opened on what survived: what was
	// synced and, at the medium's choice, part of what was not. That
	// Persister's medium never crashes. Reboot is called at most once.
	Reboot() raftlite.Persister
}

// Run runs the conformance subtests against Persisters made by h.
func Run(t *testing.T, h Harness) { run(stdT{t}, h) }

// run is Run over tb, so that the suite's own tests can run it on a
// recorder and see which subtests fail against broken persisters.
func run(t tb, h Harness) {
	for _, tc := range append(conformanceTests[:len(conformanceTests):len(conformanceTests)], snapshotTests...) {
		t.Run(tc.name, func(t tb) {
			p, reopen := h.Open(t.std())
			last := p
			tc.run(t, p, func() raftlite.Persister {
				next := reopen()
				if samePointer(next, last) {
					t.Fatalf("reopen returned the Persister it was to close: it must open what was " +
						"saved afresh, as a restarted process would, or the reopen tests check nothing")
				}
				last = next
				return next
			})
			assert.NoError(t, last.Close())
		})
	}
	t.Run("Crash", func(t tb) {
		for _, tc := range crashTests {
			t.Run(tc.name, func(t tb) {
				if h.Crash == nil {
					t.Skip("not applicable: Harness.Crash is nil, so the suite has no way to crash the persister under test")
				}
				tc.run(t, h)
			})
		}
	})
}

func samePointer(a, b raftlite.Persister) bool {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	return va.Kind() == reflect.Pointer && vb.Kind() == reflect.Pointer && va.Pointer() == vb.Pointer()
}

// Entries returns entries lo..hi of a log whose term is term, with varied
// fields so that encodings are exercised.
func Entries(lo, hi, term uint64) []raftlite.Entry {
	var es []raftlite.Entry
	for i := lo; i <= hi; i++ {
		e := raftlite.Entry{Index: i, Term: term, Origin: raftlite.NodeID(i%3 + 1),
			Incarnation: i % 5, Seq: i * 7, Data: []byte(fmt.Sprintf("entry %d of term %d", i, term))}
		if i%4 == 0 {
			e.Kind, e.Origin, e.Incarnation, e.Seq, e.Data = raftlite.EntryNoop, 0, 0, 0, nil
		}
		es = append(es, e)
	}
	return es
}

// TB is the part of testing.TB that RequireState needs; *rapid.T has it too.
type TB interface {
	require.TestingT
	Helper()
}

// RequireState fails t unless p loads hs and exactly the entries want.
func RequireState(t TB, p raftlite.Persister, hs raftlite.HardState, want []raftlite.Entry) {
	t.Helper()
	gotHS, got, err := p.Load()
	require.NoError(t, err)
	require.Equal(t, hs, gotHS, "hard state")
	require.Equal(t, normalize(want), normalize(got), "entries")
}

// normalize makes empty and nil Data compare equal: persisters need not
// tell them apart.
func normalize(es []raftlite.Entry) []raftlite.Entry {
	out := make([]raftlite.Entry, len(es))
	for i, e := range es {
		if len(e.Data) == 0 {
			e.Data = nil
		}
		out[i] = e
	}
	return out
}
