package persistertest

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"

	"github.com/raftlite/raftlite"
)

// crashTests need Harness.Crash. They check the part of the Persister
// contract that only a crash shows: what is durable, and what a Save, a
// snapshot's storing, a Compact or a DiscardLog cut short leaves.
var crashTests = []struct {
	name string
	run  func(t tb, h Harness)
}{
	{"PowerCutLosesNoSaveThatReturned", testPowerCut},
	{"CrashInTheMiddleOfASaveLeavesAWholeState", testCrashDuringSave},
	{"PowerCutKeepsSnapshotsCompactionsAndDiscards", testSnapshotPowerCut},
	{"CrashWhileStoringCompactingOrDiscardingLeavesAWholeState", testCrashDuringSnapshotWork},
}

// crashSave is one Save of the crash workload.
type crashSave struct {
	hs      *raftlite.HardState
	entries []raftlite.Entry
}

func (s crashSave) String() string {
	var b strings.Builder
	b.WriteString("Save(")
	if s.hs != nil {
		fmt.Fprintf(&b, "%+v", *s.hs)
	} else {
		b.WriteString("nil")
	}
	if len(s.entries) > 0 {
		fmt.Fprintf(&b, ", %s", describe(s.entries))
	}
	return b.String() + ")"
}

// crashWorkload is what the crash subtests save: every kind of Save a
// Node makes, among them a commit index covering entries of its own Save,
// cuts that shorten and lengthen the log, and an entry of many sectors.
func crashWorkload() []crashSave {
	hs := func(term uint64, vote raftlite.NodeID, commit uint64) *raftlite.HardState {
		return &raftlite.HardState{Term: term, VotedFor: vote, Incarnation: 1, Commit: commit}
	}
	big := []raftlite.Entry{{Index: 13, Term: 3, Origin: 2, Incarnation: 1, Seq: 99,
		Data: bytes.Repeat([]byte("a big entry "), 2000)}}
	return []crashSave{
		{hs(1, 1, 0), nil},              // a vote, alone
		{nil, Entries(1, 4, 1)},         // entries, alone
		{hs(1, 1, 6), Entries(5, 9, 1)}, // a commit index covering entries of its own Save
		{hs(2, 2, 6), Entries(7, 8, 2)}, // a new leader's entries cut a longer suffix
		{hs(2, 2, 8), nil},              // the commit index, alone
		{nil, Entries(9, 11, 2)},
		{hs(3, 3, 8), Entries(10, 12, 3)}, // a cut that lengthens the log
		{nil, big},
		{hs(3, 3, 13), Entries(14, 21, 3)},
		{hs(4, 1, 13), Entries(15, 15, 4)}, // a cut of seven entries by one
		{nil, Entries(16, 18, 4)},
		{hs(4, 1, 18), nil},
	}
}

// state is what a Persister holds.
type state struct {
	hs  raftlite.HardState
	log []raftlite.Entry
}

// apply returns the state after s succeeded.
func (st state) apply(s crashSave) state {
	next := state{hs: st.hs, log: st.log}
	if s.hs != nil {
		next.hs = *s.hs
	}
	if len(s.entries) > 0 {
		first := s.entries[0].Index
		next.log = append(append([]raftlite.Entry(nil), st.log[:first-1]...), s.entries...)
	}
	return next
}

func (st state) equal(o state) bool {
	return st.hs == o.hs && reflect.DeepEqual(normalize(st.log), normalize(o.log))
}

func (st state) String() string { return fmt.Sprintf("%+v with %s", st.hs, describe(st.log)) }

// describe sums up entries as runs of terms: "entries [1..6 term 1, 7..8 term 2]".
func describe(es []raftlite.Entry) string {
	if len(es) == 0 {
		return "no entries"
	}
	var runs []string
	for i := 0; i < len(es); {
		j := i
		for j+1 < len(es) && es[j+1].Term == es[i].Term && es[j+1].Index == es[j].Index+1 {
			j++
		}
		runs = append(runs, fmt.Sprintf("%d..%d term %d", es[i].Index, es[j].Index, es[i].Term))
		i = j + 1
	}
	return "entries [" + strings.Join(runs, ", ") + "]"
}

// testPowerCut cuts the power after each number of Saves has returned. A
// Save that returned is durable, so the rebooted persister loads exactly
// the state they made.
func testPowerCut(t tb, h Harness) {
	w := crashWorkload()
	for n := 0; n <= len(w); n++ {
		p, m := h.Crash(t.std(), 0)
		want := state{}
		for i, s := range w[:n] {
			if err := p.Save(s.hs, s.entries); err != nil {
				t.Fatalf("%v, Save %d of the workload, failed with no crash: %v", s, i, err)
			}
			want = want.apply(s)
		}
		if m.Crashed() {
			t.Fatalf("the machine crashed before Reboot, though asked to crash at operation 0 (never)")
		}
		if got := loadAndClose(t, m.Reboot()); !got.equal(want) {
			t.Fatalf("power cut after %d Saves returned: the rebooted persister loads\n\t%v\nwant\n\t%v\n"+
				"a Save that returned was not durable", n, got, want)
		}
	}
}

// testCrashDuringSave crashes the machine at each operation of the
// workload in turn, until the workload ends before the crash.
func testCrashDuringSave(t tb, h Harness) {
	w := crashWorkload()
	crashAtEach(t, func(at int) bool { return crashAt(t, h, w, at) })
}

// crashAtEach runs crash(at) for at = 1, 2, ... until it reports that its
// workload ended before the crash.
func crashAtEach(t tb, crash func(at int) bool) {
	const limit = 1 << 20
	for at := 1; at < limit; at++ {
		if !crash(at) {
			if at == 1 {
				t.Fatalf("the workload ran to its end without crashing at operation 1: " +
					"the CrashOpener counts no operation")
			}
			t.Logf("crashed at each of %d operations", at-1)
			return
		}
	}
	t.Fatalf("the workload still crashes at operation %d: the CrashOpener never stops crashing", limit)
}

// crashAt runs the workload on a machine that crashes at operation at.
// After the reboot, every Save that returned must be there, and the one the
// crash interrupted must be wholly there or wholly absent (or, without
// AtomicSave, a prefix of its entries is there without its HardState); the
// rebooted persister must take new Saves. It reports false if the workload
// ended before the crash.
func crashAt(t tb, h Harness, w []crashSave, at int) bool {
	p, m := h.Crash(t.std(), at)
	before := state{}
	for i, s := range w {
		err := p.Save(s.hs, s.entries)
		if !m.Crashed() {
			if err != nil {
				t.Fatalf("%v, Save %d of the workload, failed before the crash at operation %d: %v", s, i, at, err)
			}
			before = before.apply(s)
			continue
		}
		rebooted := m.Reboot()
		got := load(t, rebooted)
		allowed := outcomes(before, s, err == nil, h.AtomicSave)
		if !contains(allowed, got) {
			t.Fatalf("crash at operation %d, during %v (Save %d, which returned %v): the rebooted persister loads\n\t%v\n"+
				"but may hold only\n\t%v", at, s, i, err, got, joinStates(allowed))
		}
		goOn(t, rebooted, got)
		return true
	}
	loadAndClose(t, m.Reboot())
	return false
}

// outcomes lists the states a crash during Save s may leave after the
// state before: the state after s if s returned nil; otherwise the state
// before or after it and, unless Saves are atomic, the first k of its
// entries saved without its HardState.
func outcomes(before state, s crashSave, returned, atomic bool) []state {
	after := before.apply(s)
	if returned {
		return []state{after}
	}
	out := []state{before, after}
	if !atomic {
		for k := 1; k <= len(s.entries); k++ {
			if s.hs != nil || k < len(s.entries) {
				out = append(out, before.apply(crashSave{entries: s.entries[:k]}))
			}
		}
	}
	return out
}

// goOn checks that a rebooted persister holding got takes a new term and
// an entry that replaces its last one, then closes it.
func goOn(t tb, p raftlite.Persister, got state) {
	next := uint64(len(got.log))
	if next == 0 {
		next = 1
	}
	s := crashSave{
		hs:      &raftlite.HardState{Term: got.hs.Term + 1, Incarnation: got.hs.Incarnation + 1, Commit: got.hs.Commit},
		entries: Entries(next, next, got.hs.Term+1),
	}
	if err := p.Save(s.hs, s.entries); err != nil {
		t.Fatalf("after the reboot, %v failed: %v", s, err)
	}
	if after := loadAndClose(t, p); !after.equal(got.apply(s)) {
		t.Fatalf("after the reboot, %v, Load returns\n\t%v\nwant\n\t%v", s, after, got.apply(s))
	}
}

func load(t tb, p raftlite.Persister) state {
	t.Helper()
	hs, es, err := p.Load()
	if err != nil {
		t.Fatalf("Load after the reboot: %v", err)
	}
	return state{hs: hs, log: es}
}

func loadAndClose(t tb, p raftlite.Persister) state {
	t.Helper()
	st := load(t, p)
	if err := p.Close(); err != nil {
		t.Errorf("Close after the reboot: %v", err)
	}
	return st
}

func contains(states []state, st state) bool {
	for _, s := range states {
		if s.equal(st) {
			return true
		}
	}
	return false
}

func joinStates(states []state) string {
	lines := make([]string, len(states))
	for i, s := range states {
		lines[i] = s.String()
	}
	return strings.Join(lines, "\n\tor ")
}
