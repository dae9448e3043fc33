package persistertest

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/raftlite/raftlite"
)

// The crash subtests of snapshots: what is durable once CreateSnapshot's
// sink is closed, Compact or DiscardLog returns, and what a crash in the
// middle of them leaves.

type snapOpKind int

const (
	snapOpSave snapOpKind = iota
	snapOpStore
	snapOpCompact
	snapOpDiscard
)

// snapOp is one operation of the snapshot crash workload.
type snapOp struct {
	kind  snapOpKind
	save  crashSave
	snap  *snapshot
	index uint64 // Compact(index), DiscardLog(index)
}

func (o snapOp) String() string {
	switch o.kind {
	case snapOpStore:
		return fmt.Sprintf("storing a snapshot at %d of %d bytes", o.snap.meta.Index, o.snap.size)
	case snapOpCompact:
		return fmt.Sprintf("Compact(%d)", o.index)
	case snapOpDiscard:
		return fmt.Sprintf("DiscardLog(%d)", o.index)
	}
	return o.save.String()
}

// do performs o on p.
func (o snapOp) do(p raftlite.Persister) error {
	switch o.kind {
	case snapOpStore:
		return o.snap.store(p, 1000)
	case snapOpCompact:
		return p.Compact(o.index)
	case snapOpDiscard:
		return p.DiscardLog(o.index)
	}
	return p.Save(o.save.hs, o.save.entries)
}

// apply returns the state after o succeeded.
func (o snapOp) apply(st logState) logState {
	switch o.kind {
	case snapOpStore:
		if st.snap == nil || o.snap.meta.Index > st.snap.meta.Index {
			st.snap = o.snap // the latest is the one with the highest index
		}
		return st
	case snapOpCompact:
		return st.compact(o.index)
	case snapOpDiscard:
		return st.discard(o.index)
	}
	return st.save(o.save)
}

// outcomes lists the states a crash during o may leave: the state after
// it if it returned nil, otherwise the state before or after it and,
// for a Save without AtomicSave, the prefixes the contract allows.
func (o snapOp) outcomes(before logState, returned, atomic bool) []logState {
	after := o.apply(before)
	if returned {
		return []logState{after}
	}
	out := []logState{before, after}
	if o.kind == snapOpSave && !atomic {
		s := o.save
		for k := 1; k <= len(s.entries); k++ {
			if s.hs != nil || k < len(s.entries) {
				out = append(out, before.save(crashSave{entries: s.entries[:k]}))
			}
		}
	}
	return out
}

// snapshotWorkload stores snapshots within the log and past its end (as a
// follower installs one), empty and of many sectors, more than two (so a
// persister that keeps two removes one), compacts through them, discards
// logs shorter than the snapshot and logs that disagree with it, and
// saves between, cuts included.
func snapshotWorkload() []snapOp {
	hs := func(term uint64, vote raftlite.NodeID, commit uint64) *raftlite.HardState {
		return &raftlite.HardState{Term: term, VotedFor: vote, Incarnation: 1, Commit: commit}
	}
	save := func(hs *raftlite.HardState, es []raftlite.Entry) snapOp {
		return snapOp{kind: snapOpSave, save: crashSave{hs: hs, entries: es}}
	}
	big := func(lo, hi, term uint64) []raftlite.Entry { // rolls small segments
		es := Entries(lo, hi, term)
		es[2].Data = bytes.Repeat([]byte("a big entry "), 300)
		return es
	}
	store := func(index, term uint64, size int64, seed uint64) snapOp {
		return snapOp{kind: snapOpStore, snap: &snapshot{meta: raftlite.SnapshotMeta{Index: index, Term: term,
			Sessions: []raftlite.BroadcastID{{Origin: 1, Incarnation: 1, Seq: index}}}, size: size, seed: seed}}
	}
	compact := func(i uint64) snapOp { return snapOp{kind: snapOpCompact, index: i} }
	discard := func(i uint64) snapOp { return snapOp{kind: snapOpDiscard, index: i} }
	return []snapOp{
		save(hs(1, 1, 0), Entries(1, 8, 1)),
		store(5, 1, 3000, 21),
		compact(5),
		save(nil, big(9, 16, 1)),
		save(hs(2, 2, 12), Entries(14, 20, 2)), // a cut after the compaction point
		store(12, 1, 9000, 22),
		compact(12),
		store(18, 2, 0, 23), // the third
		save(nil, big(21, 24, 2)),
		store(40, 3, 5000, 24), // from a leader, past the end of the log
		discard(40),
		save(hs(3, 3, 40), Entries(41, 44, 3)),
		store(43, 3, 700, 25),
		compact(43),
		save(nil, big(45, 48, 3)),
		store(46, 4, 100, 26), // one the log disagrees with after it
		discard(46),
		save(hs(4, 1, 46), Entries(47, 47, 4)),
	}
}

// testSnapshotPowerCut cuts the power after each number of operations of
// the workload has returned: the rebooted persister holds exactly what
// they made.
func testSnapshotPowerCut(t tb, h Harness) {
	w := snapshotWorkload()
	for n := 0; n <= len(w); n++ {
		p, m := h.Crash(t.std(), 0)
		want := logState{}
		for i, o := range w[:n] {
			if err := o.do(p); err != nil {
				t.Fatalf("%v, operation %d of the workload, failed with no crash: %v", o, i, err)
			}
			want = o.apply(want)
		}
		if m.Crashed() {
			t.Fatalf("the machine crashed before Reboot, though asked to crash at operation 0 (never)")
		}
		rebooted := m.Reboot()
		err := want.diff(rebooted)
		rebooted.Close()
		if err != nil {
			last := "none"
			if n > 0 {
				last = w[n-1].String()
			}
			t.Fatalf("power cut after %d operations returned (the last: %s): the rebooted persister: %v\n\twant %v\n"+
				"an operation that returned was not durable", n, last, err, want)
		}
	}
}

// testCrashDuringSnapshotWork crashes the machine at each operation of
// the workload in turn, until the workload ends before the crash.
func testCrashDuringSnapshotWork(t tb, h Harness) {
	w := snapshotWorkload()
	crashAtEach(t, func(at int) bool { return crashSnapshotWorkAt(t, h, w, at) })
}

// crashSnapshotWorkAt runs the workload on a machine that crashes at
// operation at. After the reboot, every operation that returned must be
// there, and the one the crash interrupted wholly there or wholly absent:
// the snapshot is the old one or the new one, whole; the log the old one
// or the discarded one. The rebooted persister must go on. It reports
// false if the workload ended before the crash.
func crashSnapshotWorkAt(t tb, h Harness, w []snapOp, at int) bool {
	p, m := h.Crash(t.std(), at)
	before := logState{}
	for i, o := range w {
		err := o.do(p)
		if !m.Crashed() {
			if err != nil {
				t.Fatalf("%v, operation %d of the workload, failed before the crash at operation %d: %v", o, i, at, err)
			}
			before = o.apply(before)
			continue
		}
		rebooted := m.Reboot()
		var why []string
		for _, st := range o.outcomes(before, err == nil, h.AtomicSave) {
			e := st.diff(rebooted)
			if e == nil {
				goOnAfterSnapshots(t, rebooted, st)
				return true
			}
			why = append(why, fmt.Sprintf("%v: %v", st, e))
		}
		rebooted.Close()
		t.Fatalf("crash at operation %d, during %v (operation %d, which returned %v): the rebooted persister holds "+
			"none of the states allowed:\n\t%s", at, o, i, err, strings.Join(why, "\n\tor "))
	}
	m.Reboot().Close()
	return false
}

// goOnAfterSnapshots checks that a rebooted persister holding got takes a
// new term and entry after its last, a snapshot and a compaction, then
// closes it.
func goOnAfterSnapshots(t tb, p raftlite.Persister, got logState) {
	defer p.Close()
	next := got.last() + 1
	s := crashSave{
		hs:      &raftlite.HardState{Term: got.hs.Term + 1, Incarnation: got.hs.Incarnation + 1, Commit: got.hs.Commit},
		entries: Entries(next, next, got.hs.Term+1),
	}
	ops := []snapOp{
		{kind: snapOpSave, save: s},
		{kind: snapOpStore, snap: &snapshot{meta: raftlite.SnapshotMeta{Index: next, Term: got.hs.Term + 1}, size: 1500, seed: 99}},
		{kind: snapOpCompact, index: next},
	}
	for _, o := range ops {
		if err := o.do(p); err != nil {
			t.Fatalf("after the reboot, %v failed: %v", o, err)
		}
		got = o.apply(got)
	}
	if err := got.diff(p); err != nil {
		t.Fatalf("after the reboot, a Save, a snapshot and a compaction: %v\n\twant %v", err, got)
	}
}
