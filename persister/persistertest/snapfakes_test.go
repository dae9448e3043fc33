package persistertest

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/raftlite/raftlite"
)

// The fakes' snapshots, and the ways they break the snapshot contract.

// snapBug is how a fake persister breaks the snapshot part of the
// contract; snapOK and readerOK keep it.
type snapBug int

const (
	snapOK              snapBug = iota
	readerOK                    // keeps it, and is an EntryReader
	snapCutAtOneMiB             // (d) the sink keeps the first MiB of the data, as a fixed buffer would
	visibleBeforeClose          // (e) the sink writes under the final name, the latest from CreateSnapshot on
	abortCloses                 // (f) Abort stores the snapshot as Close does
	compactOneTooMany           // (g) Compact(through) forgets through+1 too
	discardCutsAfter            // (h) DiscardLog(index) cuts the entries after index but keeps the rest
	savesBeforeTheStart         // (i) after DiscardLog(index), a Save at or before index is taken
	readerFollowsLatest         // (j) a reader reads its file by name at each Read, so it fails once the file goes
	staleFirstIndex             // (k) an EntryReader whose LoadState says the log starts at 1, compacted or not
	discardNotSynced            // (l) DiscardLog's record is synced by the next write, not before it returns
	renameBeforeSync            // (m) the sink's Close renames its file into place, then syncs it
	lastClosedWins              // (n) the latest is the snapshot closed last, whatever its index
)

// keptSnapshots is how many snapshot files a fake keeps.
const keptSnapshots = 2

func (f *fake) CreateSnapshot(meta raftlite.SnapshotMeta) (raftlite.SnapshotSink, error) {
	f.mu.Lock()
	f.snaps++
	s := &fakeSink{f: f, file: fmt.Sprintf("snaptmp-%08d", f.snaps), prev: f.latest}
	if f.bug == visibleBeforeClose {
		s.file = fmt.Sprintf("snap-%08d", f.snaps)
	}
	f.mu.Unlock()
	if err := f.disk.write(s.file, record{kind: recSnapMeta, meta: meta}); err != nil {
		return nil, err
	}
	if f.bug == visibleBeforeClose {
		f.mu.Lock()
		f.latest = s.file
		f.mu.Unlock()
	}
	return s, nil
}

// fakeSink writes a snapshot's data as records of its file.
type fakeSink struct {
	f    *fake
	file string
	prev string // the latest when the sink was created
	size int64
	done bool
}

func (s *fakeSink) Write(p []byte) (int, error) {
	if s.done {
		return 0, errors.New("fake sink: closed")
	}
	keep := p
	if s.f.bug == snapCutAtOneMiB {
		keep = p[:max(0, min(int64(len(p)), 1<<20-s.size))]
	}
	s.size += int64(len(p))
	if len(keep) == 0 {
		return len(p), nil
	}
	if err := s.f.disk.write(s.file, record{kind: recSnapData, data: keep}); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (s *fakeSink) Close() error {
	if s.done {
		return errors.New("fake sink: closed")
	}
	s.done = true
	switch s.f.bug {
	case visibleBeforeClose:
		return s.f.disk.sync(s.file)
	case renameBeforeSync:
		final, err := s.f.install(s.file)
		if err != nil {
			return err
		}
		return s.f.disk.sync(final)
	}
	if err := s.f.disk.sync(s.file); err != nil {
		return err
	}
	_, err := s.f.install(s.file)
	return err
}

func (s *fakeSink) Abort() error {
	if s.done {
		return nil
	}
	if s.f.bug == abortCloses {
		return s.Close()
	}
	s.done = true
	if s.f.bug == visibleBeforeClose {
		s.f.mu.Lock()
		s.f.latest = s.prev
		s.f.mu.Unlock()
	}
	return s.f.disk.remove(s.file)
}

// install renames a snapshot's file into place as the latest, and removes
// the files of all but the latest keptSnapshots (a failure to remove one
// leaves it to the next install).
func (f *fake) install(file string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.latest != "" && f.bug != lastClosedWins && snapIndex(f.disk.file(file)) <= snapIndex(f.disk.file(f.latest)) {
		// A later snapshot is stored already: this one goes.
		return f.latest, f.disk.remove(file)
	}
	f.snaps++
	final := fmt.Sprintf("snap-%08d", f.snaps)
	if err := f.disk.rename(file, final); err != nil {
		return "", err
	}
	f.latest = final
	names := f.disk.names("snap-")
	for _, name := range names[:max(0, len(names)-keptSnapshots)] {
		if f.disk.remove(name) != nil {
			break
		}
	}
	return final, nil
}

func (f *fake) OpenSnapshot() (raftlite.SnapshotMeta, io.ReadCloser, error) {
	f.mu.Lock()
	name := f.latest
	f.mu.Unlock()
	if name == "" {
		return raftlite.SnapshotMeta{}, nil, raftlite.ErrNoSnapshot
	}
	rs := f.disk.file(name)
	if len(rs) == 0 || rs[0].kind != recSnapMeta {
		return raftlite.SnapshotMeta{}, nil, fmt.Errorf("fake: snapshot file %s holds no metadata", name)
	}
	meta := rs[0].meta
	meta.Sessions = slices.Clone(meta.Sessions)
	if f.bug == readerFollowsLatest {
		return meta, &byNameReader{disk: f.disk, name: name}, nil
	}
	return meta, io.NopCloser(&recordReader{rs: rs[1:]}), nil
}

// recordReader reads the data of a snapshot file's records, which are
// never changed once written.
type recordReader struct {
	rs  []record
	off int // in rs[0].data
}

func (r *recordReader) Read(p []byte) (int, error) {
	for len(r.rs) > 0 && r.off == len(r.rs[0].data) {
		r.rs, r.off = r.rs[1:], 0
	}
	if len(r.rs) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.rs[0].data[r.off:])
	r.off += n
	return n, nil
}

// byNameReader reads a snapshot's file anew at each Read.
type byNameReader struct {
	disk *disk
	name string
	read int64
}

func (r *byNameReader) Read(p []byte) (int, error) {
	rs := r.disk.file(r.name)
	if len(rs) == 0 {
		return 0, fmt.Errorf("fake: snapshot file %s is gone", r.name)
	}
	skip := r.read
	for _, rec := range rs[1:] {
		if skip >= int64(len(rec.data)) {
			skip -= int64(len(rec.data))
			continue
		}
		n := copy(p, rec.data[skip:])
		r.read += int64(n)
		return n, nil
	}
	return 0, io.EOF
}

func (r *byNameReader) Close() error { return nil }

// readerFake is a fake that is also an EntryReader.
type readerFake struct{ *fake }

func (r *readerFake) LoadState() (raftlite.HardState, uint64, uint64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	first := r.offset + 1
	if r.bug == staleFirstIndex {
		first = 1
	}
	return r.hs, first, r.last(), nil
}

func (r *readerFake) Entries(lo, hi uint64, maxBytes int) ([]raftlite.Entry, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if lo <= r.offset || hi > r.last()+1 || lo > hi {
		return nil, fmt.Errorf("fake: entries [%d, %d) not in the log (%d, %d]", lo, hi, r.offset, r.last())
	}
	es := r.log[lo-1-r.offset : hi-1-r.offset]
	size := 0
	for i := range es {
		if size += len(es[i].Data) + 16; size > maxBytes && i > 0 {
			es = es[:i]
			break
		}
	}
	return slices.Clone(es), nil
}

// snapIndex is the index of the snapshot whose file holds rs.
func snapIndex(rs []record) uint64 {
	if len(rs) == 0 || rs[0].kind != recSnapMeta {
		return 0
	}
	return rs[0].meta.Index
}
