package wal

import (
	"testing"

	"pgregory.net/rapid"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/persister/persistertest"
)

// TestModelAgainstMemoryPersister drives a Log (on the in-memory fault file
// system, which never fails here) and a MemoryPersister with the same random
// Saves, valid and invalid, discards of the log and restarts, and checks
// that they agree.
func TestModelAgainstMemoryPersister(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		fsys := newFaultFS(1)
		opts := Options{SegmentSize: int64(rapid.IntRange(64, 2048).Draw(t, "segmentSize")), fs: fsys}
		l, err := Open("db", opts)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { l.Close() }()
		mem := raftlite.NewMemoryPersister()
		last := uint64(0)

		t.Repeat(map[string]func(*rapid.T){
			"save": func(t *rapid.T) {
				var hs *raftlite.HardState
				if rapid.Bool().Draw(t, "withHardState") {
					hs = &raftlite.HardState{
						Term:        rapid.Uint64Range(0, 1<<40).Draw(t, "term"),
						VotedFor:    raftlite.NodeID(rapid.Uint64Range(0, 5).Draw(t, "vote")),
						Incarnation: rapid.Uint64().Draw(t, "incarnation"),
					}
				}
				// Mostly valid first indices, sometimes a gap or zero.
				first := rapid.Uint64Range(0, last+2).Draw(t, "first")
				n := rapid.IntRange(0, 5).Draw(t, "n")
				var es []raftlite.Entry
				for i := range n {
					es = append(es, raftlite.Entry{
						Index: first + uint64(i), Term: rapid.Uint64Range(0, 9).Draw(t, "t"),
						Kind:   raftlite.EntryKind(rapid.IntRange(0, 1).Draw(t, "kind")),
						Origin: raftlite.NodeID(rapid.Uint64Range(0, 3).Draw(t, "origin")),
						Seq:    rapid.Uint64().Draw(t, "seq"),
						Data:   rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(t, "data"),
					})
				}
				errWal, errMem := l.Save(hs, es), mem.Save(hs, es)
				if (errWal == nil) != (errMem == nil) {
					t.Fatalf("wal says %v, memory says %v", errWal, errMem)
				}
				if errMem == nil && n > 0 {
					last = first + uint64(n) - 1
				}
			},
			"discard": func(t *rapid.T) {
				// Before, at and past the end; Saves must then agree on
				// where the log goes on (and that none goes before it).
				index := rapid.Uint64Range(0, last+3).Draw(t, "index")
				errWal, errMem := l.DiscardLog(index), mem.DiscardLog(index)
				if errWal != nil || errMem != nil {
					t.Fatalf("DiscardLog(%d): wal says %v, memory says %v", index, errWal, errMem)
				}
				last = index
			},
			"reopen": func(t *rapid.T) {
				l.Close()
				if l, err = Open("db", opts); err != nil {
					t.Fatal(err)
				}
			},
			"": func(t *rapid.T) {
				hs, es, err := mem.Load()
				if err != nil {
					t.Fatal(err)
				}
				persistertest.RequireState(t, l, hs, es)
			},
		})
	})
}
