// Package persistertest checks that a raftlite.Persister keeps its contract,
// in the manner of testing/fstest: an implementation's tests call Run.
//
//	func TestConformance(t *testing.T) {
//		persistertest.Run(t, func(t *testing.T) (raftlite.Persister, func() raftlite.Persister) {
//			dir := t.TempDir()
//			p := mustOpen(t, dir)
//			return p, func() raftlite.Persister { p.Close(); p = mustOpen(t, dir); return p }
//		})
//	}
package persistertest

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/raftlite/raftlite"
)

// Opener makes a fresh, empty Persister for one subtest, and a reopen
// function that closes the last Persister it handed out and opens the same
// storage again, as a restarted process would. A Persister that lives only
// in memory may return itself from reopen.
type Opener func(t *testing.T) (p raftlite.Persister, reopen func() raftlite.Persister)

// Run runs the conformance subtests against Persisters made by open.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		run  func(t *testing.T, p raftlite.Persister, reopen func() raftlite.Persister)
	}{
		{"EmptyLoad", testEmptyLoad},
		{"EmptySaveChangesNothing", testEmptySave},
		{"HardStateIsReplaced", testHardState},
		{"AppendedEntriesLoadInOrder", testAppend},
		{"SaveWithHardStateAndEntries", testSaveBoth},
		{"ConflictingSuffixIsReplaced", testSuffixTruncation},
		{"ReopenSeesEverythingSaved", testReopen},
		{"NonContiguousSaveIsRejected", testNonContiguous},
		{"LoadResultIsNotAliased", testNotAliased},
		{"LargeEntries", testLargeEntries},
		{"LoadConcurrentWithSave", testConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, reopen := open(t)
			last := p
			tc.run(t, p, func() raftlite.Persister { last = reopen(); return last })
			assert.NoError(t, last.Close())
		})
	}
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

func save(t *testing.T, p raftlite.Persister, hs *raftlite.HardState, es []raftlite.Entry) {
	t.Helper()
	require.NoError(t, p.Save(hs, es))
}

func testEmptyLoad(t *testing.T, p raftlite.Persister, _ func() raftlite.Persister) {
	hs, es, err := p.Load()
	require.NoError(t, err)
	assert.Zero(t, hs)
	assert.Empty(t, es)
}

func testEmptySave(t *testing.T, p raftlite.Persister, reopen func() raftlite.Persister) {
	save(t, p, nil, nil)
	save(t, p, nil, []raftlite.Entry{})
	RequireState(t, p, raftlite.HardState{}, nil)
	RequireState(t, reopen(), raftlite.HardState{}, nil)
}

func testHardState(t *testing.T, p raftlite.Persister, _ func() raftlite.Persister) {
	hs := raftlite.HardState{Term: 3, VotedFor: 2, Incarnation: 1}
	save(t, p, &hs, nil)
	RequireState(t, p, hs, nil)
	hs = raftlite.HardState{Term: 4, VotedFor: raftlite.None, Incarnation: 1}
	save(t, p, &hs, nil)
	RequireState(t, p, hs, nil)
	big := raftlite.HardState{Term: 1<<64 - 1, VotedFor: 1<<64 - 1, Incarnation: 1<<64 - 1}
	save(t, p, &big, nil)
	RequireState(t, p, big, nil)
}

func testAppend(t *testing.T, p raftlite.Persister, _ func() raftlite.Persister) {
	save(t, p, nil, Entries(1, 1, 1))
	save(t, p, nil, Entries(2, 10, 1))
	save(t, p, nil, Entries(11, 40, 2))
	RequireState(t, p, raftlite.HardState{}, append(Entries(1, 10, 1), Entries(11, 40, 2)...))
}

func testSaveBoth(t *testing.T, p raftlite.Persister, reopen func() raftlite.Persister) {
	hs := raftlite.HardState{Term: 2, VotedFor: 1}
	save(t, p, &hs, Entries(1, 5, 2))
	RequireState(t, p, hs, Entries(1, 5, 2))
	// A nil HardState leaves the saved one alone.
	save(t, p, nil, Entries(6, 6, 2))
	RequireState(t, reopen(), hs, Entries(1, 6, 2))
}

// testSuffixTruncation is how a follower drops entries that conflict with a
// new leader's (Raft §5.3): the Save that starts inside the log replaces
// everything from its first index on, even entries beyond its last.
func testSuffixTruncation(t *testing.T, p raftlite.Persister, reopen func() raftlite.Persister) {
	save(t, p, nil, Entries(1, 10, 1))
	save(t, p, nil, Entries(6, 8, 2))
	want := append(Entries(1, 5, 1), Entries(6, 8, 2)...)
	RequireState(t, p, raftlite.HardState{}, want)

	// Replacing the last entry, and replacing it with the same one.
	save(t, p, nil, Entries(8, 8, 3))
	want = append(want[:7], Entries(8, 8, 3)...)
	RequireState(t, p, raftlite.HardState{}, want)
	save(t, p, nil, Entries(8, 8, 3))
	RequireState(t, p, raftlite.HardState{}, want)

	p = reopen()
	RequireState(t, p, raftlite.HardState{}, want)
	// Replacing the whole log, then appending after the cut.
	save(t, p, nil, Entries(1, 2, 4))
	save(t, p, nil, Entries(3, 3, 4))
	RequireState(t, p, raftlite.HardState{}, Entries(1, 3, 4))
	RequireState(t, reopen(), raftlite.HardState{}, Entries(1, 3, 4))
}

func testReopen(t *testing.T, p raftlite.Persister, reopen func() raftlite.Persister) {
	hs := raftlite.HardState{Term: 1, VotedFor: 3, Incarnation: 1}
	save(t, p, &hs, nil)
	save(t, p, nil, Entries(1, 20, 1))
	p = reopen()
	RequireState(t, p, hs, Entries(1, 20, 1))

	hs = raftlite.HardState{Term: 2, Incarnation: 2}
	save(t, p, &hs, Entries(15, 30, 2))
	want := append(Entries(1, 14, 1), Entries(15, 30, 2)...)
	RequireState(t, p, hs, want)
	p = reopen()
	RequireState(t, p, hs, want)
	p = reopen() // reopening an unchanged store changes nothing
	RequireState(t, p, hs, want)
}

func testNonContiguous(t *testing.T, p raftlite.Persister, reopen func() raftlite.Persister) {
	assert.Error(t, p.Save(nil, Entries(2, 3, 1)), "first save must start at index 1")
	assert.Error(t, p.Save(nil, []raftlite.Entry{{Index: 0, Term: 1}}), "index 0 is not an entry")
	save(t, p, nil, Entries(1, 3, 1))
	assert.Error(t, p.Save(nil, Entries(5, 6, 1)), "a save may not leave a gap")
	hs := raftlite.HardState{Term: 9}
	assert.Error(t, p.Save(&hs, Entries(5, 6, 1)), "a rejected save saves no hard state either")
	// The persister stays usable and unchanged.
	RequireState(t, p, raftlite.HardState{}, Entries(1, 3, 1))
	save(t, p, nil, Entries(4, 4, 1))
	RequireState(t, reopen(), raftlite.HardState{}, Entries(1, 4, 1))
}

func testNotAliased(t *testing.T, p raftlite.Persister, _ func() raftlite.Persister) {
	es := Entries(1, 10, 1)
	save(t, p, nil, es)
	// Save keeps no reference to the slice it was given.
	es[2].Term, es[3] = 99, raftlite.Entry{Index: 4, Term: 99}
	RequireState(t, p, raftlite.HardState{}, Entries(1, 10, 1))

	_, loaded, err := p.Load()
	require.NoError(t, err)
	// Later saves, appending or cutting, leave an earlier Load's result alone.
	save(t, p, nil, Entries(11, 12, 1))
	save(t, p, nil, Entries(5, 12, 2))
	assert.Equal(t, normalize(Entries(1, 10, 1)), normalize(loaded))
	// And changing a Load's result changes nothing saved.
	loaded[0].Term = 42
	RequireState(t, p, raftlite.HardState{}, append(Entries(1, 4, 1), Entries(5, 12, 2)...))
}

func testLargeEntries(t *testing.T, p raftlite.Persister, reopen func() raftlite.Persister) {
	big := func(i uint64, n int) raftlite.Entry {
		return raftlite.Entry{Index: i, Term: 1, Origin: 1, Seq: i, Data: bytes.Repeat([]byte{byte(i)}, n)}
	}
	want := []raftlite.Entry{big(1, 3<<20), big(2, 1), big(3, 1<<20+7)}
	save(t, p, nil, want[:1])
	save(t, p, nil, want[1:])
	RequireState(t, p, raftlite.HardState{}, want)
	RequireState(t, reopen(), raftlite.HardState{}, want)
}

// testConcurrent loads while another goroutine saves, as a Node does when
// it restarts its algorithm while the disk goroutine is busy. Every Load
// must see a state some sequence of completed Saves produced.
func testConcurrent(t *testing.T, p raftlite.Persister, _ func() raftlite.Persister) {
	const saves = 20
	all := Entries(1, saves*5, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range saves {
			hs := raftlite.HardState{Term: uint64(i + 1)}
			assert.NoError(t, p.Save(&hs, all[i*5:i*5+5]))
		}
	}()
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range saves {
				hs, es, err := p.Load()
				if !assert.NoError(t, err) {
					return
				}
				assert.Equal(t, normalize(all[:len(es)]), normalize(es), "a Load must return a prefix of what was saved")
				assert.LessOrEqual(t, uint64(len(es)), hs.Term*5, "entries are saved with or after their hard state")
			}
		}()
	}
	wg.Wait()
	RequireState(t, p, raftlite.HardState{Term: saves}, all)
}
