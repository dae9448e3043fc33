package raftlite_test

import (
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/raftlite/raftlite"
)

// errCrashed is what a save under way returns when its disk crashes.
var errCrashed = errors.New("the disk crashed during this save")

// crashDisk is a node's disk in the scenario tests. A save takes a moment
// of (virtual) time, so a crash can catch one under way: then it is lost,
// or torn as the Persister contract allows (a prefix of its entries,
// without its HardState). What survives is in durable, which the next life
// of the node opens again. A graceful Close loses nothing.
type crashDisk struct {
	durable *raftlite.MemoryPersister
	rng     *rand.Rand

	mu      sync.Mutex
	crashed bool
}

func newCrashDisk(durable *raftlite.MemoryPersister, seed uint64) *crashDisk {
	return &crashDisk{durable: durable, rng: rand.New(rand.NewPCG(seed, 0xd15c))}
}

func (d *crashDisk) Load() (raftlite.HardState, []raftlite.Entry, error) { return d.durable.Load() }

func (d *crashDisk) Save(hs *raftlite.HardState, entries []raftlite.Entry) error {
	d.mu.Lock()
	delay := time.Duration(d.rng.Int64N(int64(2 * time.Millisecond)))
	d.mu.Unlock()
	time.Sleep(delay) // the device at work, on virtual time
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.crashed {
		return d.durable.Save(hs, entries)
	}
	if len(entries) > 0 && d.rng.IntN(2) == 0 {
		_ = d.durable.Save(nil, entries[:d.rng.IntN(len(entries))])
	}
	return errCrashed
}

// crash makes every save not yet done fail, and lose what it was saving.
func (d *crashDisk) crash() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.crashed = true
}

func (d *crashDisk) Close() error { return nil }

// Snapshots are stored, compacted and discarded at once, not crashed: the
// scenario tests crash saves; wal's tests crash every snapshot step.
func (d *crashDisk) CreateSnapshot(meta raftlite.SnapshotMeta) (raftlite.SnapshotSink, error) {
	return d.durable.CreateSnapshot(meta)
}

func (d *crashDisk) OpenSnapshot() (raftlite.SnapshotMeta, io.ReadCloser, error) {
	return d.durable.OpenSnapshot()
}

func (d *crashDisk) Compact(through uint64) error  { return d.durable.Compact(through) }
func (d *crashDisk) DiscardLog(index uint64) error { return d.durable.DiscardLog(index) }

// SavesInMemory is false: saves take time, so the Node hands them to its
// saver goroutine, as it would with a real disk.
func (d *crashDisk) SavesInMemory() bool { return false }
