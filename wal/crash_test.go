package wal

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
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

// nextOp draws a random operation: appends of random sizes, hard state
// updates, suffix cuts by a new term, snapshots (within the log and past
// its end, as installed from a leader), compactions up to the latest
// snapshot, discards of the log, clean restarts and the preparation of
// spare segments (which the fault file system leaves to the test, so that
// a seed's operations come in one order).
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
	if rng.IntN(4) == 0 {
		return op{kind: opPrepare}
	}
	switch r := rng.IntN(100); {
	case r < 12:
		hs := raftlite.HardState{Term: term + rng.Uint64N(2), VotedFor: raftlite.NodeID(rng.IntN(4)), Incarnation: m.hs.Incarnation + 1}
		return op{kind: opSave, hs: &hs}
	case r < 60:
		return op{kind: opSave, entries: entries(m.last()+1, 1+rng.IntN(6), term)}
	case r < 70 && m.last() >= max(m.floor, m.first()):
		// A new leader's entries replace a conflicting suffix; the term
		// goes up in the same Save.
		lo := max(m.floor, m.first())
		first := lo + rng.Uint64N(m.last()-lo+1)
		hs := raftlite.HardState{Term: term + 1, VotedFor: raftlite.NodeID(1 + rng.IntN(3)), Incarnation: m.hs.Incarnation}
		return op{kind: opSave, hs: &hs, entries: entries(first, 1+rng.IntN(4), term+1)}
	case r < 78:
		// Anywhere from the compaction floor (a snapshot must reach the
		// log) to a little past the end (one installed from a leader).
		lo := max(m.floor, 1) - 1
		// (A log discarded at an installed snapshot may end before lo.)
		return op{kind: opSnapshot, snap: randomSnapshot(rng, lo+rng.Uint64N(max(m.last()+4, lo+1)-lo), term)}
	case r < 88 && m.snap != nil:
		lo := min(max(m.floor, 1)-1, m.snap.meta.Index)
		through := m.snap.meta.Index
		if rng.IntN(2) == 0 {
			through = lo + rng.Uint64N(through-lo+1)
		}
		return op{kind: opCompact, compact: through}
	case r < 91:
		index := max(m.floor, 1) - 1 + rng.Uint64N(4)
		if m.snap != nil && rng.IntN(3) > 0 {
			index = m.snap.meta.Index // as a follower installing a snapshot does
		}
		return op{kind: opDiscard, discard: index}
	case r < 95:
		return op{kind: opReopen}
	default:
		hs := raftlite.HardState{Term: term, VotedFor: raftlite.NodeID(rng.IntN(4)), Incarnation: m.hs.Incarnation}
		return op{kind: opSave, hs: &hs, entries: entries(m.last()+1, 1+rng.IntN(3), term)}
	}
}

// randomSnapshot is a snapshot at index of a random size: empty, within
// a sector, or of many sectors.
func randomSnapshot(rng *rand.Rand, index, term uint64) *snapModel {
	s := &snapModel{meta: raftlite.SnapshotMeta{Index: index, Term: term}}
	for range rng.IntN(3) {
		s.meta.Sessions = append(s.meta.Sessions, raftlite.BroadcastID{Origin: raftlite.NodeID(rng.IntN(4)),
			Incarnation: rng.Uint64(), Seq: rng.Uint64N(1 << 40)})
	}
	sizes := []int{0, 1 + rng.IntN(500), 1000 + rng.IntN(3000)}
	s.data = make([]byte, sizes[rng.IntN(len(sizes))])
	for i := range s.data {
		s.data[i] = byte(rng.Uint32())
	}
	return s
}

const (
	crashOps     = 36  // operations per workload
	crashSegment = 256 // bytes: many segments, many rolls
)

// crashRun is one workload run that crashes the machine at operation
// crashAt of the file system (never if 0).
type crashRun struct {
	seed    int64
	crashAt int
	unsync  bool // the crash image keeps a random part of unsynced writes

	script []op // the workload; nil: crashOps drawn by nextOp from seed

	done     model          // state of every operation that returned
	inFlight *op            // the operation the crash interrupted
	totalOps int            // file system operations of the whole workload
	trace    []string       // what each of them was
	kinds    map[string]int // operations that returned, by what they did
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
	ops := crashOps
	if r.script != nil {
		ops = len(r.script)
	}
	for i := 0; i < ops && r.inFlight == nil; i++ {
		var o op
		if r.script != nil {
			o = r.script[i]
		} else {
			o = nextOp(rng, r.done)
		}
		segs, spares := 0, 0
		if l != nil {
			segs, spares = len(l.segs), len(l.ready)
		}
		if o.kind == opReopen {
			l.Close()
			l, err = Open("db", opts)
		} else {
			err = o.apply(l)
		}
		if err != nil {
			if !errors.Is(err, errCrash) || !errors.Is(err, raftlite.ErrStorage) {
				return fmt.Errorf("%v failed with an error that is not the crash wrapped in ErrStorage: %w", o, err)
			}
			r.inFlight = &o
			continue
		}
		r.count(o, segs-len(l.segs), spares-len(l.ready))
		r.done = r.done.apply(o)
	}
	r.totalOps, r.trace = fsys.ops, fsys.trace
	if r.inFlight == nil {
		l.Close()
	}
	img := fsys.crashImage(rand.New(rand.NewPCG(uint64(r.seed), uint64(r.crashAt))), r.unsync)
	return r.recover(img)
}

// count notes what o did, so that TestCrash can check that its workloads
// do everything it claims to crash: removed segments and used spares
// (negative: made them).
func (r *crashRun) count(o op, removed, used int) {
	if r.kinds == nil {
		r.kinds = map[string]int{}
	}
	name := strings.Fields(o.String())[0]
	if i := strings.IndexByte(name, '('); i > 0 {
		name = name[:i]
	}
	r.kinds[name]++
	if o.kind == opCompact && removed > 0 {
		r.kinds["Compact that removed segments"]++
	}
	if o.kind == opDiscard && removed >= 0 { // it added one segment
		r.kinds["DiscardLog that removed segments"]++
	}
	if o.kind == opSnapshot && r.kinds[name] > keepSnapshots {
		r.kinds["snapshot that removed the oldest"]++
	}
	if o.kind == opPrepare && used < 0 {
		r.kinds["prepare that made a spare"]++
	}
	if (o.kind == opCompact || o.kind == opDiscard) && used < 0 {
		r.kinds[name+" that recycled segments"]++
	}
	if (o.kind == opSave || o.kind == opDiscard) && used > 0 {
		r.kinds[name+" into a spare"]++
	}
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
	if names, _ := img.ReadDir("db"); slices.ContainsFunc(names, func(n string) bool {
		return strings.HasSuffix(n, prepSuffix) || strings.HasSuffix(n, spareSuffix)
	}) {
		l.Close()
		return fmt.Errorf("open left spare segment files: %v", names)
	}
	candidates := []model{r.done}
	if r.inFlight != nil {
		candidates = append(candidates, r.done.apply(*r.inFlight))
	}
	var errs []error
	var got model
	for _, m := range candidates {
		err := matchesLog(m, l)
		if err == nil {
			got = m
			break
		}
		errs = append(errs, err)
	}
	if len(errs) == len(candidates) {
		l.Close()
		return fmt.Errorf("recovered state matches neither before nor after %v: %w", r.inFlight, errors.Join(errs...))
	}

	// The recovered log goes on: append, cut the last entry, snapshot and
	// compact, restart.
	next := got.last() + 1
	hs2 := raftlite.HardState{Term: got.hs.Term + 1, Incarnation: got.hs.Incarnation + 1}
	goOn := []op{
		{kind: opSave, hs: &hs2, entries: []raftlite.Entry{{Index: next, Term: hs2.Term, Data: []byte("after")}}},
		{kind: opSave, entries: []raftlite.Entry{{Index: next, Term: hs2.Term, Data: []byte("again")}, {Index: next + 1, Term: hs2.Term}}},
		{kind: opSnapshot, snap: &snapModel{meta: raftlite.SnapshotMeta{Index: next, Term: hs2.Term}, data: []byte("recovered")}},
		{kind: opCompact, compact: next},
	}
	for _, o := range goOn {
		if err := o.apply(l); err != nil {
			l.Close()
			return fmt.Errorf("%v after recovery: %w", o, err)
		}
		got = got.apply(o)
	}
	l.Close()
	if l, err = Open("db", opts); err != nil {
		return fmt.Errorf("reopen after recovery: %w", err)
	}
	defer l.Close()
	if err := matchesLog(got, l); err != nil {
		return fmt.Errorf("after recovery, two saves, a snapshot, a compaction and a restart: %w", err)
	}
	return nil
}

// TestCrash crashes random workloads at every file system operation, with
// two kinds of crash image each, and checks that recovery keeps every Save,
// snapshot, compaction and discard that returned, invents nothing, shows
// the interrupted one wholly or not at all (a snapshot is the old or the
// new one, complete; the log is the old one or the discarded one), and
// leaves a usable log.
func TestCrash(t *testing.T) {
	seeds := make([]int64, *flagSeeds)
	for i := range seeds {
		seeds[i] = int64(i + 1)
	}
	if *flagSeed >= 0 {
		seeds = []int64{*flagSeed}
	}
	points := 0
	kinds := map[string]int{}
	for _, seed := range seeds {
		dry := &crashRun{seed: seed}
		require.NoError(t, dry.run(), "%v", dry)
		for k, n := range dry.kinds {
			kinds[k] += n
		}
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
	t.Logf("%d crash points over %d workloads of %d operations: %v", points, len(seeds), crashOps, kinds)
	if *flagSeed < 0 {
		for _, k := range []string{"Save", "reopen", "snapshot", "snapshot that removed the oldest", "Compact",
			"Compact that removed segments", "DiscardLog", "DiscardLog that removed segments",
			"prepare that made a spare", "Save into a spare", "Compact that recycled segments",
			"DiscardLog that recycled segments"} {
			assert.GreaterOrEqual(t, kinds[k], 5, "the workloads do too few of %q to crash them", k)
		}
	}
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
				require.ErrorIs(t, l.Compact(3), raftlite.ErrStorage)
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
