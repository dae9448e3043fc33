package persistertest

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"

	"github.com/raftlite/raftlite"
)

// disk is the medium of the fake persisters: files of records, each
// record lost in a crash unless its file was synced after it was written.
// It crashes at its crashAt-th write or sync.
type disk struct {
	mu      sync.Mutex
	files   map[string][]crashSave // what reads see
	synced  map[string]int         // how many records of each file survive a crash
	ops     int
	crashAt int // 0: never
	crashed bool
}

var errCrashed = errors.New("fake disk: the machine crashed")

func newDisk() *disk { return &disk{files: map[string][]crashSave{}, synced: map[string]int{}} }

// op counts a write or sync; the one at crashAt, and all after, fail.
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

func (d *disk) write(name string, r crashSave) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.op(); err != nil {
		return err
	}
	r.entries = slices.Clone(r.entries)
	if r.hs != nil {
		hs := *r.hs
		r.hs = &hs
	}
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

// read returns the records of the files whose names start with prefix,
// file by file in name order.
func (d *disk) read(prefix string) []crashSave {
	d.mu.Lock()
	defer d.mu.Unlock()
	var names []string
	for name := range d.files {
		if len(name) >= len(prefix) && name[:len(prefix)] == prefix {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var out []crashSave
	for _, name := range names {
		out = append(out, d.files[name]...)
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

// fake is a Persister on a disk, built to one design.
type fake struct {
	design design
	disk   *disk

	mu    sync.Mutex
	st    state
	saves int
	dirty bool // lazySync: the last Save is not synced yet
}

// openFake replays the disk as the design lays it out.
func openFake(dsg design, d *disk) *fake {
	f := &fake{design: dsg, disk: d}
	switch dsg {
	case entriesFirst, hardStateFirst:
		for _, r := range d.read("entries") {
			f.st = f.apply(f.st, r)
		}
		if hs := d.read("hardstate"); len(hs) > 0 {
			f.st.hs = *hs[len(hs)-1].hs
		}
	default:
		rs := d.read("save-") // the file save-journal, or the files save-0, save-1, ...
		for _, r := range rs {
			f.st = f.apply(f.st, r)
		}
		f.saves = len(rs)
	}
	return f
}

// apply applies a record as the design does. Entries that start past the
// end of the log, as a replay out of order may give, are appended.
func (f *fake) apply(st state, r crashSave) state {
	if r.hs != nil {
		st.hs = *r.hs
	}
	if len(r.entries) == 0 {
		return st
	}
	first := min(int(r.entries[0].Index)-1, len(st.log))
	log := append(slices.Clone(st.log[:first]), r.entries...)
	if f.design == overwriteInPlace && len(st.log) > len(log) {
		log = append(log, st.log[len(log):]...)
	}
	st.log = log
	return st
}

func (f *fake) Load() (raftlite.HardState, []raftlite.Entry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st.hs, slices.Clone(f.st.log), nil
}

func (f *fake) Save(hs *raftlite.HardState, entries []raftlite.Entry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(entries) > 0 {
		if first := entries[0].Index; first == 0 || first > uint64(len(f.st.log))+1 {
			return fmt.Errorf("save from %d does not follow the log, which ends at %d", first, len(f.st.log))
		}
	}
	r := crashSave{hs: hs, entries: entries}
	if err := f.write(r); err != nil {
		return err
	}
	f.st = f.apply(f.st, r)
	return nil
}

func (f *fake) write(r crashSave) error {
	switch f.design {
	case entriesFirst, hardStateFirst:
		parts := []struct {
			file string
			ok   bool
			r    crashSave
		}{{"entries", len(r.entries) > 0, crashSave{entries: r.entries}}, {"hardstate", r.hs != nil, crashSave{hs: r.hs}}}
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

func (f *fake) writeAndSync(file string, r crashSave) error {
	if err := f.disk.write(file, r); err != nil {
		return err
	}
	return f.disk.sync(file)
}

func (f *fake) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dirty {
		f.dirty = false
		return f.disk.sync("save-journal")
	}
	return nil
}

// fakeHarness runs the suite on fakes of one design.
func fakeHarness(dsg design, atomic bool) Harness {
	return Harness{
		Open: func(*testing.T) (raftlite.Persister, func() raftlite.Persister) {
			d := newDisk()
			p := openFake(dsg, d)
			return p, func() raftlite.Persister { p.Close(); p = openFake(dsg, d); return p }
		},
		Crash: func(_ *testing.T, at int) (raftlite.Persister, Machine) {
			d := newDisk()
			d.crashAt = at
			return openFake(dsg, d), fakeMachine{dsg, d}
		},
		AtomicSave: atomic,
	}
}

type fakeMachine struct {
	design design
	disk   *disk
}

func (m fakeMachine) Crashed() bool {
	m.disk.mu.Lock()
	defer m.disk.mu.Unlock()
	return m.disk.crashed
}

func (m fakeMachine) Reboot() raftlite.Persister { return openFake(m.design, m.disk.image()) }
