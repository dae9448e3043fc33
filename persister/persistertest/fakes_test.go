package persistertest

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/raftlite/raftlite"
)

// disk is the medium of the fake persisters: files of records, each
// record lost in a crash unless its file was synced after it was written.
// Renames and removals are durable when they return (the fake has no
// directory to sync). It crashes at its crashAt-th write, sync, rename or
// removal.
type disk struct {
	mu      sync.Mutex
	files   map[string][]record // what reads see
	synced  map[string]int      // how many records of each file survive a crash
	ops     int
	crashAt int // 0: never
	crashed bool
}

// record is what a fake writes: a Save, a Compact or a DiscardLog in a
// log file, or a snapshot's metadata or a piece of its data in a snapshot
// file.
type record struct {
	kind  recordKind
	save  crashSave
	index uint64 // Compact(index), DiscardLog(index)
	meta  raftlite.SnapshotMeta
	data  []byte
}

type recordKind int

const (
	recSave recordKind = iota
	recCompact
	recDiscard
	recSnapMeta
	recSnapData
)

var errCrashed = errors.New("fake disk: the machine crashed")

func newDisk() *disk { return &disk{files: map[string][]record{}, synced: map[string]int{}} }

// op counts a write, sync, rename or removal; the one at crashAt, and all
// after, fail.
func (d *disk) op() error {
	if d.crashed {
		return errCrashed
	}
	d.ops++
	if d.crashAt > 0 && d.ops >= d.crashAt {
		d.crashed = true
		return errCrashed
	}
	return nil
}

func (d *disk) write(name string, r record) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.op(); err != nil {
		return err
	}
	r.save.entries = slices.Clone(r.save.entries)
	if r.save.hs != nil {
		hs := *r.save.hs
		r.save.hs = &hs
	}
	r.meta.Sessions = slices.Clone(r.meta.Sessions)
	r.data = slices.Clone(r.data)
	d.files[name] = append(d.files[name], r)
	return nil
}

func (d *disk) sync(name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.op(); err != nil {
		return err
	}
	d.synced[name] = len(d.files[name])
	return nil
}

func (d *disk) rename(from, to string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.op(); err != nil {
		return err
	}
	d.files[to], d.synced[to] = d.files[from], d.synced[from]
	delete(d.files, from)
	delete(d.synced, from)
	return nil
}

func (d *disk) remove(name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.op(); err != nil {
		return err
	}
	delete(d.files, name)
	delete(d.synced, name)
	return nil
}

// names returns the names of the files that start with prefix, sorted.
func (d *disk) names(prefix string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var names []string
	for name := range d.files {
		if strings.HasPrefix(name, prefix) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// file returns the records of one file; nil if it does not exist. Records
// are never changed once written, so the slice may be kept.
func (d *disk) file(name string) []record {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.files[name]
}

// read returns the records of the files whose names start with prefix,
// file by file in name order.
func (d *disk) read(prefix string) []record {
	var out []record
	for _, name := range d.names(prefix) {
		out = append(out, d.file(name)...)
	}
	return out
}

// image is the disk as the machine finds it after a crash: synced records
// only. It never crashes.
func (d *disk) image() *disk {
	d.mu.Lock()
	defer d.mu.Unlock()
	img := newDisk()
	for name, rs := range d.files {
		img.files[name] = slices.Clone(rs[:d.synced[name]])
		img.synced[name] = d.synced[name]
	}
	return img
}

// design is how a fake persister lays out a Save on the disk; all but
// journal and entriesFirst break the contract.
type design int

const (
	journal          design = iota // one record per Save, synced: atomic and durable
	entriesFirst                   // entries synced, then the HardState: allowed, not atomic
	lazySync                       // (a) a Save is synced by the next one: a Save that returned is lost
	hardStateFirst                 // (b) HardState synced, then the entries: a crash between tears the Save
	fileNameOrder                  // (c) a file per Save, replayed in name order: save-10 before save-2
	overwriteInPlace               // (c) entries written at their indices, what follows them not cut
)

// fake is a Persister on a disk, built to one design, with one snapshot
// bug or none (see snapfakes_test.go). Compactions and discards are
// records of the log, laid out as the design lays out entries; snapshots
// are files written as a temporary one, synced, then renamed.
type fake struct {
	design design
	bug    snapBug
	disk   *disk

	mu     sync.Mutex
	hs     raftlite.HardState
	offset uint64           // the index before log[0]
	log    []raftlite.Entry //
	saves  int              // fileNameOrder: files written
	dirty  bool             // the journal holds a record not synced yet
	snaps  int              // snapshot files named so far
	latest string           // the latest snapshot's file, "" if none
}

// openFake replays the disk as the design lays it out.
func openFake(dsg design, bug snapBug, d *disk) *fake {
	f := &fake{design: dsg, bug: bug, disk: d}
	switch dsg {
	case entriesFirst, hardStateFirst:
		for _, r := range d.read("entries") {
			f.apply(r)
		}
		if hs := d.read("hardstate"); len(hs) > 0 {
			f.hs = *hs[len(hs)-1].save.hs
		}
	default:
		rs := d.read("save-") // the file save-journal, or the files save-0, save-1, ...
		for _, r := range rs {
			f.apply(r)
		}
		f.saves = len(d.names("save-"))
	}
	if snaps := d.names("snap-"); len(snaps) > 0 {
		f.latest = snaps[len(snaps)-1]
	}
	for _, name := range append(d.names("snap-"), d.names("snaptmp-")...) {
		var n int
		if _, err := fmt.Sscanf(name[strings.IndexByte(name, '-')+1:], "%d", &n); err == nil {
			f.snaps = max(f.snaps, n) // new names come after any on the disk
		}
	}
	return f
}

func (f *fake) last() uint64 { return f.offset + uint64(len(f.log)) }

// apply applies a record as the design does. Entries that start past the
// end of the log, as a replay out of order may give, are appended.
func (f *fake) apply(r record) {
	switch r.kind {
	case recCompact:
		through := min(r.index, f.last())
		if f.bug == compactOneTooMany {
			through = min(r.index+1, f.last())
		}
		if through > f.offset {
			f.log = slices.Clone(f.log[through-f.offset:])
			f.offset = through
		}
		return
	case recDiscard:
		if f.bug == discardCutsAfter {
			if r.index < f.last() {
				f.log = slices.Clone(f.log[:r.index-min(r.index, f.offset)])
			}
			return
		}
		f.offset, f.log = r.index, nil
		return
	}
	s := r.save
	if s.hs != nil {
		f.hs = *s.hs
	}
	if len(s.entries) == 0 {
		return
	}
	keep := min(max(s.entries[0].Index-1, f.offset)-f.offset, uint64(len(f.log)))
	log := append(slices.Clone(f.log[:keep]), s.entries...)
	if f.design == overwriteInPlace && len(f.log) > len(log) {
		log = append(log, f.log[len(log):]...)
	}
	f.log = log
}

func (f *fake) Load() (raftlite.HardState, []raftlite.Entry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hs, slices.Clone(f.log), nil
}

func (f *fake) Save(hs *raftlite.HardState, entries []raftlite.Entry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(entries) > 0 {
		first := entries[0].Index
		if first == 0 || first > f.last()+1 {
			return fmt.Errorf("save from %d does not follow the log, which ends at %d", first, f.last())
		}
		if first <= f.offset && f.bug != savesBeforeTheStart {
			return fmt.Errorf("save from %d starts before the log, which starts at %d", first, f.offset+1)
		}
	}
	r := record{kind: recSave, save: crashSave{hs: hs, entries: entries}}
	if err := f.write(r); err != nil {
		return err
	}
	f.apply(r)
	return nil
}

func (f *fake) Compact(through uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := record{kind: recCompact, index: through}
	if err := f.write(r); err != nil {
		return err
	}
	f.apply(r)
	return nil
}

func (f *fake) DiscardLog(index uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := record{kind: recDiscard, index: index}
	if err := f.write(r); err != nil {
		return err
	}
	f.apply(r)
	return nil
}

func (f *fake) write(r record) error {
	if r.kind == recDiscard && f.bug == discardNotSynced {
		f.dirty = true
		return f.disk.write(f.journal(), r)
	}
	switch f.design {
	case entriesFirst, hardStateFirst:
		if r.kind != recSave {
			return f.writeAndSync("entries", r)
		}
		s := r.save
		parts := []struct {
			file string
			ok   bool
			r    record
		}{
			{"entries", len(s.entries) > 0, record{save: crashSave{entries: s.entries}}},
			{"hardstate", s.hs != nil, record{save: crashSave{hs: s.hs}}},
		}
		if f.design == hardStateFirst {
			parts[0], parts[1] = parts[1], parts[0]
		}
		for _, p := range parts {
			if p.ok {
				if err := f.writeAndSync(p.file, p.r); err != nil {
					return err
				}
			}
		}
		return nil
	case lazySync:
		if f.dirty {
			if err := f.disk.sync("save-journal"); err != nil {
				return err
			}
		}
		f.dirty = true
		return f.disk.write("save-journal", r)
	case fileNameOrder:
		f.saves++
		return f.writeAndSync(fmt.Sprintf("save-%d", f.saves-1), r)
	default:
		return f.writeAndSync("save-journal", r)
	}
}

// journal is the file that log records go to when they are not synced.
func (f *fake) journal() string {
	if f.design == entriesFirst || f.design == hardStateFirst {
		return "entries"
	}
	return "save-journal"
}

// writeAndSync writes r to file and syncs it, and with it any record
// written earlier and not synced yet.
func (f *fake) writeAndSync(file string, r record) error {
	if err := f.disk.write(file, r); err != nil {
		return err
	}
	if err := f.disk.sync(file); err != nil {
		return err
	}
	if file == f.journal() {
		f.dirty = false
	}
	return nil
}

func (f *fake) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dirty {
		f.dirty = false
		return f.disk.sync(f.journal())
	}
	return nil
}

// fakeHarness runs the suite on fakes of one design without snapshot bugs.
func fakeHarness(dsg design, atomic bool) Harness { return fakeSnapHarness(dsg, snapOK, atomic) }

// fakeSnapHarness runs the suite on fakes of one design and snapshot bug.
func fakeSnapHarness(dsg design, bug snapBug, atomic bool) Harness {
	open := func(d *disk) raftlite.Persister {
		f := openFake(dsg, bug, d)
		if bug == staleFirstIndex || bug == readerOK {
			return &readerFake{f}
		}
		return f
	}
	return Harness{
		Open: func(*testing.T) (raftlite.Persister, func() raftlite.Persister) {
			d := newDisk()
			p := open(d)
			return p, func() raftlite.Persister { p.Close(); p = open(d); return p }
		},
		Crash: func(_ *testing.T, at int) (raftlite.Persister, Machine) {
			d := newDisk()
			d.crashAt = at
			return open(d), fakeMachine{open, d}
		},
		AtomicSave: atomic,
	}
}

type fakeMachine struct {
	open func(*disk) raftlite.Persister
	disk *disk
}

func (m fakeMachine) Crashed() bool {
	m.disk.mu.Lock()
	defer m.disk.mu.Unlock()
	return m.disk.crashed
}

func (m fakeMachine) Reboot() raftlite.Persister { return m.open(m.disk.image()) }
