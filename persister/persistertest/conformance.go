package persistertest

import (
	"bytes"
	"sync"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/raftlite/raftlite"
)

// conformanceTests check the Persister contract without crashes: what
// Load returns after Saves, with and without reopening.
var conformanceTests = []struct {
	name string
	run  func(t tb, p raftlite.Persister, reopen func() raftlite.Persister)
}{
	{"EmptyLoad", testEmptyLoad},
	{"EmptySaveChangesNothing", testEmptySave},
	{"HardStateIsReplaced", testHardState},
	{"AppendedEntriesLoadInOrder", testAppend},
	{"SaveWithHardStateAndEntries", testSaveBoth},
	{"ConflictingSuffixIsReplaced", testSuffixTruncation},
	{"ReopenSeesEverythingSaved", testReopen},
	{"ReopenAfterManySavesReplaysThemInOrder", testManySaves},
	{"NonContiguousSaveIsRejected", testNonContiguous},
	{"LoadResultIsNotAliased", testNotAliased},
	{"LargeEntries", testLargeEntries},
	{"LoadConcurrentWithSaveSeesWholeSaves", testConcurrent},
}

func save(t tb, p raftlite.Persister, hs *raftlite.HardState, es []raftlite.Entry) {
	t.Helper()
	require.NoError(t, p.Save(hs, es))
}

func testEmptyLoad(t tb, p raftlite.Persister, _ func() raftlite.Persister) {
	hs, es, err := p.Load()
	require.NoError(t, err)
	assert.Zero(t, hs)
	assert.Empty(t, es)
}

func testEmptySave(t tb, p raftlite.Persister, reopen func() raftlite.Persister) {
	save(t, p, nil, nil)
	save(t, p, nil, []raftlite.Entry{})
	RequireState(t, p, raftlite.HardState{}, nil)
	RequireState(t, reopen(), raftlite.HardState{}, nil)
}

func testHardState(t tb, p raftlite.Persister, reopen func() raftlite.Persister) {
	hs := raftlite.HardState{Term: 3, VotedFor: 2, Incarnation: 1}
	save(t, p, &hs, nil)
	RequireState(t, p, hs, nil)
	hs = raftlite.HardState{Term: 4, VotedFor: raftlite.None, Incarnation: 1}
	save(t, p, &hs, nil)
	RequireState(t, p, hs, nil)
	// The disk id is state like the rest: a persister that dropped it
	// would make its node look wiped to the cluster on every restart.
	hs = raftlite.HardState{Term: 4, Incarnation: 2, DiskID: 0x5eed}
	save(t, p, &hs, nil)
	RequireState(t, p, hs, nil)
	p = reopen()
	RequireState(t, p, hs, nil)
	big := raftlite.HardState{Term: 1<<64 - 1, VotedFor: 1<<64 - 1, Incarnation: 1<<64 - 1, Commit: 1<<64 - 1, DiskID: 1<<64 - 1}
	save(t, p, &big, nil)
	RequireState(t, p, big, nil)
}

func testAppend(t tb, p raftlite.Persister, _ func() raftlite.Persister) {
	save(t, p, nil, Entries(1, 1, 1))
	save(t, p, nil, Entries(2, 10, 1))
	save(t, p, nil, Entries(11, 40, 2))
	RequireState(t, p, raftlite.HardState{}, append(Entries(1, 10, 1), Entries(11, 40, 2)...))
}

func testSaveBoth(t tb, p raftlite.Persister, reopen func() raftlite.Persister) {
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
func testSuffixTruncation(t tb, p raftlite.Persister, reopen func() raftlite.Persister) {
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

func testReopen(t tb, p raftlite.Persister, reopen func() raftlite.Persister) {
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

func testNonContiguous(t tb, p raftlite.Persister, reopen func() raftlite.Persister) {
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

func testNotAliased(t tb, p raftlite.Persister, _ func() raftlite.Persister) {
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

func testLargeEntries(t tb, p raftlite.Persister, reopen func() raftlite.Persister) {
	big := func(i uint64, n int) raftlite.Entry {
		return raftlite.Entry{Index: i, Term: 1, Origin: 1, Seq: i, Data: bytes.Repeat([]byte{byte(i)}, n)}
	}
	want := []raftlite.Entry{big(1, 3<<20), big(2, 1), big(3, 1<<20+7)}
	save(t, p, nil, want[:1])
	save(t, p, nil, want[1:])
	RequireState(t, p, raftlite.HardState{}, want)
	RequireState(t, reopen(), raftlite.HardState{}, want)
}

// testConcurrent loads while another goroutine saves, as a Node reads
// entries back while its disk goroutine saves. Every Load must see exactly
// the state some number of completed Saves produced: Save i sets term i
// with entries up to 5i, so a Load with term i has exactly 5i entries.
func testConcurrent(t tb, p raftlite.Persister, _ func() raftlite.Persister) {
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
				done := min(hs.Term, saves)
				if !assert.Equal(t, raftlite.HardState{Term: done}, hs, "a Load sees whole Saves") ||
					!assert.Equal(t, normalize(all[:done*5]), normalize(es),
						"a Load with the hard state of Save %d sees exactly the entries up to that Save", done) {
					return
				}
			}
		}()
	}
	wg.Wait()
	RequireState(t, p, raftlite.HardState{Term: saves}, all)
}

// testManySaves reopens after enough Saves of every kind that a persister
// replaying them in any order but theirs (by file name, say, with save-10
// before save-2) ends up elsewhere.
func testManySaves(t tb, p raftlite.Persister, reopen func() raftlite.Persister) {
	hs := raftlite.HardState{Term: 1, VotedFor: 1, Incarnation: 1}
	save(t, p, &hs, nil)
	var want []raftlite.Entry
	for i := 1; i <= 24; i++ {
		last := uint64(len(want))
		switch i % 4 {
		case 0: // a new leader's entries replace the last two, with its term
			hs.Term, hs.VotedFor = hs.Term+1, raftlite.NodeID(i%3+1)
			es := Entries(last-1, last, hs.Term)
			save(t, p, &hs, es)
			want = append(want[:last-2], es...)
		case 2: // the commit index moves, alone
			hs.Commit = last - 2
			save(t, p, &hs, nil)
		default:
			es := Entries(last+1, last+3, hs.Term)
			save(t, p, nil, es)
			want = append(want, es...)
		}
	}
	RequireState(t, p, hs, want)
	RequireState(t, reopen(), hs, want)
}
