package wal

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/raftlite/raftlite"
)

var (
	flagSeed    = flag.Int64("wal.seed", -1, "run the crash test for this workload seed only")
	flagCrashAt = flag.Int("wal.crashat", 0, "with -wal.seed: crash at this operation only")
	flagSeeds   = flag.Int("wal.seeds", 24, "number of workload seeds the crash test explores")
)

// model is what the log must hold: everything from Saves that returned.
type model struct {
	hs      raftlite.HardState
	entries []raftlite.Entry // entries[i].Index == i+1
	floor   uint64           // entries before floor may have been compacted away
}

func (m model) clone() model {
	m.entries = slices.Clone(m.entries)
	return m
}

func (m model) last() uint64 { return uint64(len(m.entries)) }

type opKind int

const (
	opSave opKind = iota
	opCompact
	opReopen
)

type op struct {
	kind    opKind
	hs      *raftlite.HardState
	entries []raftlite.Entry
	compact uint64
}

func (o op) String() string {
	switch o.kind {
	case opCompact:
		return fmt.Sprintf("compactBefore(%d)", o.compact)
	case opReopen:
		return "reopen"
	}
	s := "Save("
	if o.hs != nil {
		s += fmt.Sprintf("%+v", *o.hs)
	} else {
		s += "nil"
	}
	if len(o.entries) > 0 {
		s += fmt.Sprintf(", [%d..%d]", o.entries[0].Index, o.entries[len(o.entries)-1].Index)
	}
	return s + ")"
}

// apply returns the model after o succeeded.
func (m model) apply(o op) model {
	m = m.clone()
	switch o.kind {
	case opSave:
		if o.hs != nil {
			m.hs = *o.hs
		}
		if len(o.entries) > 0 {
			m.entries = append(m.entries[:o.entries[0].Index-1], o.entries...)
		}
	case opCompact:
		m.floor = max(m.floor, o.compact)
	}
	return m
}

// nextOp draws a random operation: appends of random sizes, hard state
// updates, suffix cuts by a new term, compactions and clean restarts.
func nextOp(rng *rand.Rand, m model) op {
	entries := func(first uint64, n int, term uint64) []raftlite.Entry {
		es := make([]raftlite.Entry, n)
		for i := range es {
			size := rng.IntN(120)
			if rng.IntN(10) == 0 {
				size = 300 + rng.IntN(700) // bigger than a tiny segment
			}
			data := make([]byte, size)
			for j := range data {
				data[j] = byte(rng.Uint32())
			}
			es[i] = raftlite.Entry{Index: first + uint64(i), Term: term, Origin: raftlite.NodeID(rng.IntN(4)),
				Incarnation: rng.Uint64N(3), Seq: rng.Uint64N(1 << 40), Data: data}
		}
		return es
	}
	term := m.hs.Term
	if term == 0 { // a node votes for itself before it has a log
		return op{kind: opSave, hs: &raftlite.HardState{Term: 1, VotedFor: 1, Incarnation: 1}}
	}
	switch r := rng.IntN(100); {
	case r < 12:
		hs := raftlite.HardState{Term: term + rng.Uint64N(2), VotedFor: raftlite.NodeID(rng.IntN(4)), Incarnation: m.hs.Incarnation + 1}
		return op{kind: opSave, hs: &hs}
	case r < 60:
		return op{kind: opSave, entries: entries(m.last()+1, 1+rng.IntN(6), term)}
	case r < 75 && m.last() >= max(m.floor, 1):
		// A new leader's entries replace a conflicting suffix; the term
		// goes up in the same Save.
		lo := max(m.floor, 1)
		first := lo + rng.Uint64N(m.last()-lo+1)
		hs := raftlite.HardState{Term: term + 1, VotedFor: raftlite.NodeID(1 + rng.IntN(3)), Incarnation: m.hs.Incarnation}
		return op{kind: opSave, hs: &hs, entries: entries(first, 1+rng.IntN(4), term+1)}
	case r < 85:
		lo := max(m.floor, 1)
		return op{kind: opCompact, compact: lo + rng.Uint64N(m.last()+2-lo)}
	case r < 92:
		return op{kind: opReopen}
	default:
		hs := raftlite.HardState{Term: term, VotedFor: raftlite.NodeID(rng.IntN(4)), Incarnation: m.hs.Incarnation}
		return op{kind: opSave, hs: &hs, entries: entries(m.last()+1, 1+rng.IntN(3), term)}
	}
}

const (
	crashOps     = 30  // operations per workload
	crashSegment = 256 // bytes: many segments, many rolls
)

// crashRun is one workload run that crashes the machine at operation
// crashAt of the file system (never if 0).
type crashRun struct {
	seed    int64
	crashAt int
	unsync  bool // the crash image keeps a random part of unsynced writes

	done     model // state of every operation that returned
	inFlight *op   // the operation the crash interrupted
	totalOps int   // file system operations of the whole workload
}

func (r *crashRun) String() string {
	mode := "synced data only"
	if r.unsync {
		mode = "random unsynced pieces kept"
	}
	return fmt.Sprintf("seed %d, crash at fs operation %d (%s); replay: go test ./wal -run 'TestCrash$' -v -wal.seed=%d -wal.crashat=%d",
		r.seed, r.crashAt, mode, r.seed, r.crashAt)
}

// run executes the workload until it ends or the machine crashes, then
// recovers from a crash image and checks it against the model.
func (r *crashRun) run() error {
	rng := rand.New(rand.NewPCG(uint64(r.seed), 1))
	fsys := newFaultFS(uint64(r.seed)<<20 | uint64(r.crashAt))
	fsys.crashAt = r.crashAt
	opts := Options{SegmentSize: crashSegment, fs: fsys}
	r.done = model{floor: 1}
	l, err := Open("db", opts)
	if err != nil {
		if !errors.Is(err, errCrash) {
			return fmt.Errorf("open of an empty directory: %w", err)
		}
		r.inFlight = &op{kind: opReopen}
	}
	for i := 0; i < crashOps && r.inFlight == nil; i++ {
		o := nextOp(rng, r.done)
		switch o.kind {
		case opSave:
			err = l.Save(o.hs, o.entries)
		case opCompact:
			err = l.compactBefore(o.compact)
		case opReopen:
			l.Close()
			l, err = Open("db", opts)
		}
		if err != nil {
			if !errors.Is(err, errCrash) || !errors.Is(err, raftlite.ErrStorage) {
				return fmt.Errorf("%v failed with an error that is not the crash wrapped in ErrStorage: %w", o, err)
			}
			r.inFlight = &o
			continue
		}
		r.done = r.done.apply(o)
	}
	r.totalOps = fsys.ops
	if r.inFlight == nil {
		l.Close()
	}
	img := fsys.crashImage(rand.New(rand.NewPCG(uint64(r.seed), uint64(r.crashAt))), r.unsync)
	return r.recover(img)
}

// recover opens the crash image, checks that it holds either the state
// before or the state after the interrupted operation, then checks that
// the recovered log takes new Saves and survives a restart.
func (r *crashRun) recover(img *faultFS) error {
	opts := Options{SegmentSize: crashSegment, fs: img}
	l, err := Open("db", opts)
	if err != nil {
		return fmt.Errorf("open after the crash: %w", err)
	}
	hs, es, err := l.Load()
	if err != nil {
		return fmt.Errorf("load after the crash: %w", err)
	}
	candidates := []model{r.done}
	if r.inFlight != nil {
		candidates = append(candidates, r.done.apply(*r.inFlight))
	}
	var errs []error
	var got model
	for _, m := range candidates {
		err := matches(m, hs, es)
		if err == nil {
			got = m
			break
		}
		errs = append(errs, err)
	}
	if len(errs) == len(candidates) {
		return fmt.Errorf("recovered state matches neither before nor after %v: %w", r.inFlight, errors.Join(errs...))
	}

	// The recovered log goes on: append, cut the last entry, restart.
	next := got.last() + 1
	hs2 := raftlite.HardState{Term: got.hs.Term + 1, Incarnation: got.hs.Incarnation + 1}
	o1 := op{kind: opSave, hs: &hs2, entries: []raftlite.Entry{{Index: next, Term: hs2.Term, Data: []byte("after")}}}
	o2 := op{kind: opSave, entries: []raftlite.Entry{{Index: next, Term: hs2.Term, Data: []byte("again")}, {Index: next + 1, Term: hs2.Term}}}
	for _, o := range []op{o1, o2} {
		if err := l.Save(o.hs, o.entries); err != nil {
			return fmt.Errorf("%v after recovery: %w", o, err)
		}
		got = got.apply(o)
	}
	l.Close()
	if l, err = Open("db", opts); err != nil {
		return fmt.Errorf("reopen after recovery: %w", err)
	}
	defer l.Close()
	hs, es, err = l.Load()
	if err != nil {
		return fmt.Errorf("load after recovery: %w", err)
	}
	if err := matches(got, hs, es); err != nil {
		return fmt.Errorf("after recovery, two saves and a restart: %w", err)
	}
	return nil
}

// matches checks a loaded state against a model: the same hard state, the
// same last index, and the same entries from wherever the log starts, which
// may be after 1 only up to the compaction floor.
func matches(m model, hs raftlite.HardState, es []raftlite.Entry) error {
	if hs != m.hs {
		return fmt.Errorf("hard state %+v, want %+v", hs, m.hs)
	}
	first := m.last() + 1
	if len(es) > 0 {
		first = es[0].Index
	}
	if first < 1 || first > max(m.floor, 1) {
		return fmt.Errorf("log starts at %d, but only entries before %d may be compacted", first, m.floor)
	}
	if last := first + uint64(len(es)) - 1; last != m.last() {
		return fmt.Errorf("log ends at %d, want %d", last, m.last())
	}
	for i, e := range es {
		want := m.entries[first-1+uint64(i)]
		if len(want.Data) == 0 {
			want.Data = nil
		}
		if e.Index != want.Index || e.Term != want.Term || e.Kind != want.Kind || e.Origin != want.Origin ||
			e.Incarnation != want.Incarnation || e.Seq != want.Seq || string(e.Data) != string(want.Data) {
			return fmt.Errorf("entry %d is %+v, want %+v", first+uint64(i), e, want)
		}
		if e.Term > hs.Term || (i > 0 && e.Term < es[i-1].Term) {
			return fmt.Errorf("entry %d has term %d: terms must not decrease nor exceed the current term %d", e.Index, e.Term, hs.Term)
		}
	}
	return nil
}

// TestCrash crashes random workloads at every file system operation, with
// two kinds of crash image each, and checks that recovery keeps every Save
// that returned, invents nothing, and leaves a usable log.
func TestCrash(t *testing.T) {
	seeds := make([]int64, *flagSeeds)
	for i := range seeds {
		seeds[i] = int64(i + 1)
	}
	if *flagSeed >= 0 {
		seeds = []int64{*flagSeed}
	}
	points := 0
	for _, seed := range seeds {
		dry := &crashRun{seed: seed}
		require.NoError(t, dry.run(), "%v", dry)
		lo, hi := 1, dry.totalOps
		if *flagCrashAt > 0 {
			lo, hi = *flagCrashAt, *flagCrashAt
		}
		for at := lo; at <= hi; at++ {
			for _, unsync := range []bool{false, true} {
				r := &crashRun{seed: seed, crashAt: at, unsync: unsync}
				if err := r.run(); err != nil {
					t.Fatalf("%v\n%v", r, err)
				}
				points++
			}
		}
	}
	t.Logf("%d crash points over %d workloads of %d operations", points, len(seeds), crashOps)
}

// TestFailedSavePoisonsTheLog fills the disk in the middle of a workload:
// the Save that hits it fails with ErrStorage and the OS error, and so does
// every later Save, though the disk has room again, until the log is
// reopened; nothing acknowledged is lost.
func TestFailedSavePoisonsTheLog(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"DiskFull", syscall.ENOSPC},
		{"ReadOnly", syscall.EROFS},
		{"IOError", syscall.EIO},
	} {
		for failAt := 1; failAt <= 12; failAt++ {
			t.Run(fmt.Sprintf("%s/AtOp%d", tc.name, failAt), func(t *testing.T) {
				fsys := newFaultFS(uint64(failAt))
				opts := Options{SegmentSize: 64, fs: fsys}
				l, err := Open("db", opts)
				require.NoError(t, err)
				fsys.failAt, fsys.failErr = failAt, tc.err
				m := model{floor: 1}
				var failed error
				for i := uint64(1); i <= 6; i++ {
					o := op{kind: opSave, hs: &raftlite.HardState{Term: i}, entries: []raftlite.Entry{{Index: i, Term: i, Data: []byte("x")}}}
					err := l.Save(o.hs, o.entries)
					if failed != nil {
						require.ErrorIs(t, err, raftlite.ErrStorage, "a poisoned log refuses every Save")
						continue
					}
					if err != nil {
						require.ErrorIs(t, err, raftlite.ErrStorage)
						require.ErrorIs(t, err, tc.err)
						failed = err
						fsys.failAt = 0 // the disk recovers; the log must not
						continue
					}
					m = m.apply(o)
				}
				require.Error(t, failed, "the disk failed at operation %d of %d", failAt, fsys.ops)
				require.ErrorIs(t, l.compactBefore(3), raftlite.ErrStorage)
				l.Close()

				l, err = Open("db", opts)
				require.NoError(t, err)
				defer l.Close()
				hs, es, err := l.Load()
				require.NoError(t, err)
				// The failed Save may or may not have reached the disk.
				okBefore := matches(m, hs, es)
				okAfter := matches(m.apply(op{kind: opSave, hs: &raftlite.HardState{Term: m.last() + 1},
					entries: []raftlite.Entry{{Index: m.last() + 1, Term: m.last() + 1, Data: []byte("x")}}}), hs, es)
				assert.True(t, okBefore == nil || okAfter == nil, "before: %v\nafter: %v", okBefore, okAfter)
			})
		}
	}
}
