package persistertest

import (
	"bytes"
	"io"
	"slices"

	"github.com/raftlite/raftlite"
)

// snapshotTests check the snapshot part of the Persister contract without
// crashes: storing and reading snapshots, Compact and DiscardLog.
var snapshotTests = []struct {
	name string
	run  func(t tb, p raftlite.Persister, reopen func() raftlite.Persister)
}{
	{"SnapshotRoundTripsLargeStreamedData", testSnapshotRoundTrip},
	{"SnapshotIsInvisibleUntilClose", testSnapshotInvisibleUntilClose},
	{"AbortedSnapshotStoresNothing", testAbortedSnapshot},
	{"CompactKeepsTheLastIndexAndLaterEntries", testCompact},
	{"DiscardLogEmptiesTheLogAndSavesGoOnAfterIndex", testDiscardLog},
	{"SnapshotReaderStaysValidWhileNewerOnesAreStored", testSnapshotReaderStaysValid},
	{"TheLatestSnapshotHasTheHighestIndex", testHighestIndexIsLatest},
}

// testHighestIndexIsLatest closes a sink after one with a higher index was
// closed, as a Node does when its application's snapshot finishes after an
// install from the leader: the one with the higher index stays the latest.
func testHighestIndexIsLatest(t tb, p raftlite.Persister, reopen func() raftlite.Persister) {
	save(t, p, nil, Entries(1, 10, 1))
	older := &snapshot{meta: raftlite.SnapshotMeta{Index: 5, Term: 1}, size: 3000, seed: 6}
	later := &snapshot{meta: raftlite.SnapshotMeta{Index: 8, Term: 1}, size: 2000, seed: 7}
	olderSink, err := p.CreateSnapshot(older.meta)
	if err != nil {
		t.Fatalf("CreateSnapshot: %v", err)
	}
	if err := older.write(olderSink, 700); err != nil {
		t.Fatalf("%v", err)
	}
	storeSnapshot(t, p, later)
	if err := olderSink.Close(); err != nil {
		t.Fatalf("closing the sink of the older snapshot: %v", err)
	}
	st := logState{log: Entries(1, 10, 1), snap: later}
	requireLogState(t, p, st, "after the snapshot at 5 closed after the one at 8")
	requireLogState(t, reopen(), st, "after a reopen")
}

// requireLogState fails t unless p holds st (see logState.diff).
func requireLogState(t tb, p raftlite.Persister, st logState, when string) {
	t.Helper()
	if err := st.diff(p); err != nil {
		t.Fatalf("%s: %v\n\twant %v", when, err, st)
	}
}

func storeSnapshot(t tb, p raftlite.Persister, s *snapshot, pieces ...int) {
	t.Helper()
	if err := s.store(p, pieces...); err != nil {
		t.Fatalf("%v", err)
	}
}

func openSnapshot(t tb, p raftlite.Persister) io.ReadCloser {
	t.Helper()
	_, r, err := p.OpenSnapshot()
	if err != nil {
		t.Fatalf("OpenSnapshot: %v", err)
	}
	return r
}

// testSnapshotRoundTrip stores a snapshot of 16 MiB written in pieces of
// every size, from one byte to more than a MiB, and an empty one: each
// reads back whole, also after a reopen and by two readers at once, and
// storing them changes nothing in the log.
func testSnapshotRoundTrip(t tb, p raftlite.Persister, reopen func() raftlite.Persister) {
	requireLogState(t, p, logState{}, "a new persister")
	hs := raftlite.HardState{Term: 3, VotedFor: 1, Incarnation: 1, Commit: 20}
	save(t, p, &hs, Entries(1, 30, 3))
	sessions := []raftlite.BroadcastID{{Origin: 1, Incarnation: 1, Seq: 7}, {Origin: 2, Incarnation: 5, Seq: 1}, {Origin: 3, Incarnation: 2, Seq: 1 << 40}}
	conf := raftlite.Membership{Members: []raftlite.Member{{ID: 1, Addr: "a"}, {ID: 2}, {ID: 7, Addr: "g", Learner: true, Promote: true}}}
	big := &snapshot{meta: raftlite.SnapshotMeta{Index: 20, Term: 3, Sessions: slices.Clone(sessions), Membership: &conf}, size: 16<<20 + 13, seed: 1}
	meta := big.meta
	meta.Sessions = slices.Clone(sessions)
	confCopy := conf
	confCopy.Members = slices.Clone(conf.Members)
	meta.Membership = &confCopy
	sink, err := p.CreateSnapshot(meta)
	if err != nil {
		t.Fatalf("CreateSnapshot: %v", err)
	}
	meta.Sessions[0].Seq = 99 // the caller's slice is the caller's
	if err := big.write(sink, 1, 100, 64<<10, 1<<20+1, 7, 3<<20); err != nil {
		t.Fatalf("%v", err)
	}
	if err := sink.Close(); err != nil {
		t.Fatalf("closing the sink: %v", err)
	}
	st := logState{hs: hs, log: Entries(1, 30, 3), snap: big}
	requireLogState(t, p, st, "after storing a snapshot of 16 MiB")
	r1, r2 := openSnapshot(t, p), openSnapshot(t, p)
	for _, r := range []io.ReadCloser{r2, r1} {
		if err := sameData(r, big); err != nil {
			t.Fatalf("with two readers open: %v", err)
		}
		r.Close()
	}
	p = reopen()
	requireLogState(t, p, st, "after a reopen")

	empty := &snapshot{meta: raftlite.SnapshotMeta{Index: 25, Term: 3}, seed: 2}
	storeSnapshot(t, p, empty)
	st.snap = empty
	requireLogState(t, p, st, "after storing an empty snapshot")
	requireLogState(t, reopen(), st, "after storing an empty snapshot and a reopen")
}

// testSnapshotInvisibleUntilClose writes whole snapshots to sinks and
// checks, before their Close, that OpenSnapshot returns the one before
// (or nothing), then the new one after.
func testSnapshotInvisibleUntilClose(t tb, p raftlite.Persister, reopen func() raftlite.Persister) {
	save(t, p, nil, Entries(1, 10, 1))
	st := logState{log: Entries(1, 10, 1)}
	for i, s := range []*snapshot{
		{meta: raftlite.SnapshotMeta{Index: 5, Term: 1}, size: 5000, seed: 3},
		{meta: raftlite.SnapshotMeta{Index: 8, Term: 1}, size: 100 << 10, seed: 4},
	} {
		sink, err := p.CreateSnapshot(s.meta)
		if err != nil {
			t.Fatalf("CreateSnapshot: %v", err)
		}
		if err := s.write(sink, 1000); err != nil {
			t.Fatalf("%v", err)
		}
		if err := st.diff(p); err != nil {
			t.Fatalf("snapshot %d, written to its sink but not closed, is visible: %v\n\twant %v", i+1, err, st)
		}
		if err := sink.Close(); err != nil {
			t.Fatalf("closing the sink: %v", err)
		}
		st.snap = s
		requireLogState(t, p, st, "after the sink's Close")
	}
	requireLogState(t, reopen(), st, "after a reopen")
}

// testAbortedSnapshot aborts sinks, written to or not: the snapshot before
// stays the latest; and Abort after Close is a no-op.
func testAbortedSnapshot(t tb, p raftlite.Persister, reopen func() raftlite.Persister) {
	st := logState{snap: &snapshot{meta: raftlite.SnapshotMeta{Index: 3, Term: 1}, size: 3000, seed: 5}}
	storeSnapshot(t, p, st.snap)
	for _, s := range []*snapshot{
		{meta: raftlite.SnapshotMeta{Index: 4, Term: 1}, size: 20 << 10, seed: 6},
		{meta: raftlite.SnapshotMeta{Index: 5, Term: 1}, seed: 7},
	} {
		sink, err := p.CreateSnapshot(s.meta)
		if err != nil {
			t.Fatalf("CreateSnapshot: %v", err)
		}
		if err := s.write(sink); err != nil {
			t.Fatalf("%v", err)
		}
		if err := sink.Abort(); err != nil {
			t.Fatalf("Abort: %v", err)
		}
		if err := st.diff(p); err != nil {
			t.Fatalf("after the sink of a snapshot at %d was aborted: %v\n\twant %v", s.meta.Index, err, st)
		}
	}
	p = reopen()
	requireLogState(t, p, st, "after aborts and a reopen")

	last := &snapshot{meta: raftlite.SnapshotMeta{Index: 6, Term: 1}, size: 10, seed: 8}
	sink, err := p.CreateSnapshot(last.meta)
	if err != nil {
		t.Fatalf("CreateSnapshot: %v", err)
	}
	if err := last.write(sink); err != nil {
		t.Fatalf("%v", err)
	}
	if err := sink.Close(); err != nil {
		t.Fatalf("closing the sink: %v", err)
	}
	if err := sink.Abort(); err != nil {
		t.Fatalf("Abort after Close, a no-op, failed: %v", err)
	}
	st.snap = last
	requireLogState(t, p, st, "after an Abort that followed the Close")
	requireLogState(t, reopen(), st, "after an Abort that followed the Close, and a reopen")
}

// testCompact compacts through the latest snapshot and past the end of
// the log: every entry after through stays, Load (and, with an
// EntryReader, LoadState and Entries) starts at most one past through, the
// last index never moves, and Saves go on after it, gaps refused.
func testCompact(t tb, p raftlite.Persister, reopen func() raftlite.Persister) {
	hs := raftlite.HardState{Term: 2, VotedFor: 1, Incarnation: 1, Commit: 100}
	st := logState{}
	for i := uint64(1); i <= 120; i += 10 {
		s := crashSave{entries: Entries(i, i+9, 2)}
		if i == 1 {
			s.hs = &hs
		}
		if i%30 == 1 { // now and then a big entry, so that logs in pieces have many
			s.entries[2].Data = bytes.Repeat([]byte{byte(i)}, 3000)
		}
		save(t, p, s.hs, s.entries)
		st = st.save(s)
	}
	st.snap = &snapshot{meta: raftlite.SnapshotMeta{Index: 70, Term: 2}, size: 1000, seed: 9}
	storeSnapshot(t, p, st.snap)
	if err := p.Compact(70); err != nil {
		t.Fatalf("Compact(70): %v", err)
	}
	st = st.compact(70)
	requireLogState(t, p, st, "after Compact(70)")

	save(t, p, nil, Entries(121, 125, 2))
	st = st.save(crashSave{entries: Entries(121, 125, 2)})
	if err := p.Save(nil, Entries(127, 127, 2)); err == nil {
		t.Fatalf("after Compact(70), a Save of 127 onto a log that ends at 125 was accepted")
	}
	hs2 := raftlite.HardState{Term: 3, VotedFor: 2, Incarnation: 1, Commit: 100}
	cut := crashSave{hs: &hs2, entries: Entries(100, 101, 3)}
	save(t, p, cut.hs, cut.entries)
	st = st.save(cut)
	requireLogState(t, p, st, "after Compact(70), Saves that append and cut")
	p = reopen()
	requireLogState(t, p, st, "after Compact(70) and a reopen")

	// Past the end of the log: the last index stays where it is.
	st.snap = &snapshot{meta: raftlite.SnapshotMeta{Index: 200, Term: 3}, size: 10, seed: 10}
	storeSnapshot(t, p, st.snap)
	if err := p.Compact(200); err != nil {
		t.Fatalf("Compact(200): %v", err)
	}
	st = st.compact(200)
	requireLogState(t, p, st, "after Compact(200) of a log that ends at 101")
	if err := p.Save(nil, Entries(103, 103, 3)); err == nil {
		t.Fatalf("after Compact(200) of a log that ends at 101, a Save of 103 was accepted: the last index moved")
	}
	save(t, p, nil, Entries(102, 102, 3))
	st = st.save(crashSave{entries: Entries(102, 102, 3)})
	requireLogState(t, p, st, "after Compact(200) of a log that ends at 101, and a Save of 102")
	requireLogState(t, reopen(), st, "after Compact(200), a Save and a reopen")
}

// testDiscardLog discards a log shorter than the snapshot installed, and
// one that holds the snapshot's index: Load returns no entry, the
// HardState stays, and Saves go on at index+1 only, across reopens: one
// that starts before would leave a hole after the snapshot, and one after
// a gap.
func testDiscardLog(t tb, p raftlite.Persister, reopen func() raftlite.Persister) {
	hs := raftlite.HardState{Term: 4, VotedFor: 2, Incarnation: 1, Commit: 20}
	save(t, p, &hs, Entries(1, 30, 4))
	st := logState{hs: hs, log: Entries(1, 30, 4)}
	st.snap = &snapshot{meta: raftlite.SnapshotMeta{Index: 50, Term: 5, Sessions: []raftlite.BroadcastID{{Origin: 2, Incarnation: 1, Seq: 9}}},
		size: 2000, seed: 11}
	storeSnapshot(t, p, st.snap)
	if err := p.DiscardLog(50); err != nil {
		t.Fatalf("DiscardLog(50): %v", err)
	}
	st = st.discard(50)
	requireLogState(t, p, st, "after DiscardLog(50) of a log that ends at 30")
	for _, i := range []uint64{52, 50, 30} {
		if err := p.Save(nil, Entries(i, i, 5)); err == nil {
			t.Fatalf("after DiscardLog(50), a Save of %d was accepted: the log continues at 51", i)
		}
	}
	s := crashSave{entries: Entries(51, 55, 5)}
	save(t, p, nil, s.entries)
	st = st.save(s)
	requireLogState(t, p, st, "after DiscardLog(50) and a Save of 51..55")
	p = reopen()
	requireLogState(t, p, st, "after DiscardLog(50), a Save and a reopen")

	// A snapshot inside the log that the log disagrees with (Raft §7).
	st.snap = &snapshot{meta: raftlite.SnapshotMeta{Index: 53, Term: 6}, size: 100, seed: 12}
	storeSnapshot(t, p, st.snap)
	if err := p.DiscardLog(53); err != nil {
		t.Fatalf("DiscardLog(53): %v", err)
	}
	st = st.discard(53)
	requireLogState(t, p, st, "after DiscardLog(53) of a log that ends at 55")
	if err := p.Save(nil, Entries(53, 53, 6)); err == nil {
		t.Fatalf("after DiscardLog(53), a Save of 53 was accepted: the log continues at 54")
	}
	p = reopen()
	requireLogState(t, p, st, "after DiscardLog(53) and a reopen")
	s = crashSave{entries: Entries(54, 54, 6)}
	save(t, p, nil, s.entries)
	st = st.save(s)
	requireLogState(t, p, st, "after DiscardLog(53), a reopen and a Save of 54")
	requireLogState(t, reopen(), st, "after DiscardLog(53), a Save of 54 and a reopen")
}

// testSnapshotReaderStaysValid reads a snapshot while, on another
// goroutine, newer ones are stored (more than two, so a persister that
// keeps two removes it), entries are saved and the log is compacted: the
// reader still returns the data it started with.
func testSnapshotReaderStaysValid(t tb, p raftlite.Persister, reopen func() raftlite.Persister) {
	save(t, p, nil, Entries(1, 40, 1))
	st := logState{log: Entries(1, 40, 1)}
	first := &snapshot{meta: raftlite.SnapshotMeta{Index: 10, Term: 1}, size: 512 << 10, seed: 13}
	storeSnapshot(t, p, first)
	r := openSnapshot(t, p)
	head := make([]byte, 100<<10)
	if _, err := io.ReadFull(r, head); err != nil {
		t.Fatalf("reading the snapshot: %v", err)
	}

	newer := []*snapshot{
		{meta: raftlite.SnapshotMeta{Index: 20, Term: 1}, size: 300 << 10, seed: 14},
		{meta: raftlite.SnapshotMeta{Index: 30, Term: 1}, size: 10, seed: 15},
		{meta: raftlite.SnapshotMeta{Index: 35, Term: 1}, size: 70 << 10, seed: 16},
	}
	done := make(chan error, 1)
	go func() {
		done <- func() error {
			for i, s := range newer {
				if err := s.store(p); err != nil {
					return err
				}
				if i == 1 {
					if err := p.Save(nil, Entries(41, 45, 1)); err != nil {
						return err
					}
					if err := p.Compact(20); err != nil {
						return err
					}
				}
			}
			return nil
		}()
	}()
	var tail bytes.Buffer
	_, err := io.CopyBuffer(&tail, r, make([]byte, 4<<10))
	if werr := <-done; werr != nil {
		t.Fatalf("storing newer snapshots while one is read: %v", werr)
	}
	if err != nil {
		t.Fatalf("reading a snapshot while newer ones are stored: %v", err)
	}
	if err := sameData(io.MultiReader(bytes.NewReader(head), &tail), first); err != nil {
		t.Fatalf("a snapshot read while newer ones were stored: %v", err)
	}
	r.Close()
	st = st.save(crashSave{entries: Entries(41, 45, 1)}).compact(20)
	st.snap = newer[len(newer)-1]
	requireLogState(t, p, st, "after storing newer snapshots")

	// And after a reopen, while the latest is read.
	p = reopen()
	r = openSnapshot(t, p)
	// Two newer ones, of higher indices (an older one would be dropped):
	// a persister that keeps two has removed the file being read.
	storeSnapshot(t, p, &snapshot{meta: raftlite.SnapshotMeta{Index: 40, Term: 1}, size: 1, seed: 17})
	st.snap = &snapshot{meta: raftlite.SnapshotMeta{Index: 42, Term: 1}, size: 1, seed: 18}
	storeSnapshot(t, p, st.snap)
	if err := sameData(r, newer[len(newer)-1]); err != nil {
		t.Fatalf("after a reopen, a snapshot read while newer ones were stored: %v", err)
	}
	r.Close()
	requireLogState(t, p, st, "after a reopen and newer snapshots")
}
