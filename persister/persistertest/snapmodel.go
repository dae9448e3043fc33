package persistertest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"

	"github.com/raftlite/raftlite"
)

// What the snapshot subtests expect a persister to hold, and the check
// that it does.

// logState is a persister's state once snapshots are in play: a log that
// may start after index 1, of which a persister may forget entries up to
// the compaction floor, and the latest snapshot.
type logState struct {
	hs    raftlite.HardState
	start uint64           // index of log[0]: nothing before it (DiscardLog); 0 means 1
	log   []raftlite.Entry // entries start, start+1, ...
	floor uint64           // entries up to floor may be forgotten (Compact)
	snap  *snapshot        // the latest stored, nil if none
}

// snapshot is a snapshot of the subtests; its data is generated, never
// held, so that it can be large.
type snapshot struct {
	meta raftlite.SnapshotMeta
	size int64
	seed uint64
}

func (st logState) first() uint64 { return max(st.start, 1) }

func (st logState) last() uint64 { return st.first() + uint64(len(st.log)) - 1 }

// save returns the state after Save(s.hs, s.entries) succeeded.
func (st logState) save(s crashSave) logState {
	if s.hs != nil {
		st.hs = *s.hs
	}
	if len(s.entries) > 0 {
		keep := s.entries[0].Index - st.first()
		st.log = append(append([]raftlite.Entry(nil), st.log[:keep]...), s.entries...)
	}
	return st
}

// compact returns the state after Compact(through) succeeded: the
// entries saved so far up to through may be forgotten, not those saved
// later at indices up to through.
func (st logState) compact(through uint64) logState {
	st.floor = max(st.floor, min(through, st.last()))
	return st
}

// discard returns the state after DiscardLog(index) succeeded.
func (st logState) discard(index uint64) logState {
	st.start, st.log, st.floor = index+1, nil, index
	return st
}

func (st logState) String() string {
	s := fmt.Sprintf("%+v with %s after %d", st.hs, describe(st.log), st.first()-1)
	if st.floor >= st.first() {
		s += fmt.Sprintf(" (up to %d may be forgotten)", st.floor)
	}
	if st.snap != nil {
		s += fmt.Sprintf(", snapshot at %d of %d bytes", st.snap.meta.Index, st.snap.size)
	}
	return s
}

// diff reports how p differs from st, or nil: the HardState; the entries
// Load returns, which must be the log from some index up to the floor on;
// with an EntryReader, the range LoadState gives (the last index even of a
// log with no entry left) and the entries Entries reads; and the latest
// snapshot, read to its end.
func (st logState) diff(p raftlite.Persister) error {
	hs, es, err := p.Load()
	if err != nil {
		return fmt.Errorf("Load: %w", err)
	}
	if hs != st.hs {
		return fmt.Errorf("Load returns hard state %+v, want %+v", hs, st.hs)
	}
	from := st.last() + 1
	if len(es) > 0 {
		from = es[0].Index
		if from < st.first() || from > max(st.floor+1, st.first()) {
			return fmt.Errorf("Load returns %s, but the log starts after %d and only entries up to %d may be forgotten",
				describe(es), st.first()-1, st.floor)
		}
		if want := st.log[from-st.first():]; !reflect.DeepEqual(normalize(want), normalize(es)) {
			return fmt.Errorf("Load returns %s, want %s: entries after the compaction point were lost or changed",
				describe(es), describe(want))
		}
	} else if st.last() > st.floor && st.last() >= st.first() {
		return fmt.Errorf("Load returns no entries, but entries %d..%d are not covered by a compaction",
			max(st.floor+1, st.first()), st.last())
	}
	if r, ok := p.(raftlite.EntryReader); ok {
		if err := st.diffReader(r, from, es); err != nil {
			return err
		}
	}
	return diffSnapshot(p, st.snap)
}

func (st logState) diffReader(r raftlite.EntryReader, from uint64, loaded []raftlite.Entry) error {
	_, first, last, err := r.LoadState()
	if err != nil {
		return fmt.Errorf("LoadState: %w", err)
	}
	if first != from || last != st.last() {
		return fmt.Errorf("LoadState says the log holds %d..%d, want %d..%d (the first index Load returns, the last saved)",
			first, last, from, st.last())
	}
	var read []raftlite.Entry
	for lo := first; lo <= last; {
		es, err := r.Entries(lo, last+1, 1<<20)
		if err != nil {
			return fmt.Errorf("Entries(%d, %d): %w", lo, last+1, err)
		}
		if len(es) == 0 {
			return fmt.Errorf("Entries(%d, %d) returns nothing", lo, last+1)
		}
		read = append(read, es...)
		lo += uint64(len(es))
	}
	if !reflect.DeepEqual(normalize(loaded), normalize(read)) {
		return fmt.Errorf("Entries reads %s, Load returns %s", describe(read), describe(loaded))
	}
	return nil
}

// diffSnapshot reports how p's latest snapshot differs from want (nil: no
// snapshot), reading its data to the end.
func diffSnapshot(p raftlite.Persister, want *snapshot) error {
	meta, r, err := p.OpenSnapshot()
	if want == nil {
		if !errors.Is(err, raftlite.ErrNoSnapshot) {
			if err == nil {
				r.Close()
				return fmt.Errorf("OpenSnapshot returns a snapshot at %d, want ErrNoSnapshot: none was stored", meta.Index)
			}
			return fmt.Errorf("OpenSnapshot: %v, want ErrNoSnapshot", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("OpenSnapshot: %w, want the snapshot at %d", err, want.meta.Index)
	}
	defer r.Close()
	if !reflect.DeepEqual(meta, want.meta) {
		return fmt.Errorf("OpenSnapshot returns %+v, want %+v", meta, want.meta)
	}
	return sameData(r, want)
}

// sameData reads r to its end and compares it with want's data, a block
// at a time.
func sameData(r io.Reader, want *snapshot) error {
	gen := want.data()
	a, b := make([]byte, 64<<10), make([]byte, 64<<10)
	var off int64
	for {
		n, err := io.ReadFull(r, a)
		m, _ := io.ReadFull(gen, b[:n])
		if m < n {
			return fmt.Errorf("the snapshot at %d holds more than the %d bytes stored", want.meta.Index, want.size)
		}
		if !bytes.Equal(a[:n], b[:n]) {
			return fmt.Errorf("the snapshot at %d differs from what was stored at byte %d (of %d)",
				want.meta.Index, off+int64(firstDiff(a[:n], b[:m])), want.size)
		}
		off += int64(n)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the snapshot at %d, at byte %d: %w", want.meta.Index, off, err)
		}
	}
	if off != want.size {
		return fmt.Errorf("the snapshot at %d holds %d bytes, %d were stored: it is partial", want.meta.Index, off, want.size)
	}
	return nil
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// data returns a reader of the snapshot's data: size bytes drawn from a
// generator seeded by seed.
func (s *snapshot) data() io.Reader {
	return &genReader{rng: rand.New(rand.NewPCG(s.seed, uint64(s.size))), left: s.size}
}

type genReader struct {
	rng  *rand.Rand
	left int64
	word [8]byte
	have int // bytes of word not yet returned
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.left == 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), g.left)]
	i := 0
	for ; i < len(p) && g.have > 0; i++ { // the rest of the last word
		p[i] = g.word[8-g.have]
		g.have--
	}
	for ; i+8 <= len(p); i += 8 { // whole words, the bulk of it
		binary.LittleEndian.PutUint64(p[i:], g.rng.Uint64())
	}
	if i < len(p) {
		binary.LittleEndian.PutUint64(g.word[:], g.rng.Uint64())
		g.have = 8 - copy(p[i:], g.word[:])
	}
	g.left -= int64(len(p))
	return len(p), nil
}

// store stores s through p's sink, writing its data in pieces of the
// given sizes in turn (the last repeated).
func (s *snapshot) store(p raftlite.Persister, pieces ...int) error {
	sink, err := p.CreateSnapshot(s.meta)
	if err != nil {
		return fmt.Errorf("CreateSnapshot at %d: %w", s.meta.Index, err)
	}
	if err := s.write(sink, pieces...); err != nil {
		sink.Abort()
		return err
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("closing the sink of the snapshot at %d: %w", s.meta.Index, err)
	}
	return nil
}

func (s *snapshot) write(w io.Writer, pieces ...int) error {
	if len(pieces) == 0 {
		pieces = []int{32 << 10}
	}
	gen := s.data()
	buf := make([]byte, 0, 1<<20)
	for k := 0; ; k++ {
		n := pieces[min(k, len(pieces)-1)]
		if n > cap(buf) {
			buf = make([]byte, 0, n)
		}
		m, _ := io.ReadFull(gen, buf[:n])
		if m == 0 {
			return nil
		}
		if _, err := w.Write(buf[:m]); err != nil {
			return fmt.Errorf("writing the snapshot at %d: %w", s.meta.Index, err)
		}
	}
}
