package raftlite

import (
	"bytes"
	"fmt"
	"io"
	"sync"
)

// HardState is the part of a node's state, other than the log, that must
// survive a crash. It is saved whole: a Persister never mixes the fields of
// two HardStates, and never makes one durable before the entries saved with
// it (see Persister), because a restarted node trusts its Commit.
type HardState struct {
	Term     uint64 `msgpack:"t"` // the latest term this node has seen
	VotedFor NodeID `msgpack:"v"` // whom it voted for in Term, or None
	// Incarnation names the node's current life. New saves a new one before
	// the node accepts any broadcast, later than both the last one saved
	// and the clock (in nanoseconds since 1970), so that a broadcast's
	// (Origin, Incarnation, Seq) never repeats even though Seq restarts
	// from 1, and even when the disk that held the last one was lost.
	Incarnation uint64 `msgpack:"n"`
	// Commit is a lower bound on the commit index, saved along with other
	// state rather than on its own: entries up to it never change, so a
	// restarted node delivers them before it hears from a leader. It may
	// cover entries of the same Save, which is why those must be durable
	// no later than it.
	Commit uint64 `msgpack:"c"`
	// DiskID names the storage this state lives on: New draws a random
	// one when it finds none, that is when the storage is new or was
	// wiped. The cluster's configuration records each voter's DiskID, and
	// a voter that comes back with another one has lost what it voted
	// for and acknowledged, so it neither votes nor counts towards a
	// quorum until an operator re-adds it (see Member.DiskID).
	DiskID uint64 `msgpack:"d,omitempty"`
}

// Persister stores a node's HardState and log durably.
//
// The contract with the Node, which is what keeps acknowledged broadcasts from
// being lost: the Node sends no message that depends on state before the Save
// that covers that state has returned. A vote is sent only after the term and
// vote are saved; a follower acknowledges entries only after they are saved;
// a leader counts its own copy of an entry towards a quorum only after it is
// saved (it may send the entry to followers before, Raft thesis §10.2.1).
//
// A Node calls Save from one goroutine at a time, but not from the goroutine
// that runs its algorithm (unless the Persister is a MemorySaver), so a slow
// disk delays acknowledgements rather than stalling elections. Each Save is one group commit: it makes everything it
// is given durable with as few syncs as the medium allows. Load may run
// concurrently with Save and sees the state before or after each Save.
//
// What a crash may leave, exactly. A Save that returned nil is durable:
// after a crash, Load returns its effects (or those of later Saves). A Save
// the crash interrupted (it had not returned, or it had failed) leaves
//
//   - the state before it or the state after it, and nothing else if Save
//     is atomic, which is what implementations should provide (package wal
//     does: a Save is one checksummed record); or, at worst,
//   - the state after Save(nil, entries[:k]) for some 1 <= k <= len(entries):
//     the first k entries, the suffix they replace cut, the old HardState.
//
// So entries are durable before the HardState saved with them. Never the new
// HardState without all of its Save's entries: on restart the Node trusts
// HardState.Commit, which may cover those entries, and would deliver stale
// ones in their place. Never a cut suffix without an entry replacing it, an
// entry without the ones before it in its Save, nor a mix of two HardStates.
// A Save rejected because its entries do not follow the log changes nothing.
//
// Implementations must pass persister/persistertest, with a crash hook if
// their tests can simulate crashes.
type Persister interface {
	// Load returns everything saved so far: the zero HardState and no entries
	// for a node that never saved anything. Entries are contiguous.
	Load() (HardState, []Entry, error)

	// Save makes hs (when not nil) and entries durable before it returns.
	// entries, when not empty, are contiguous and entries[0].Index is at most
	// one past the last saved index; every saved entry at or after
	// entries[0].Index is replaced (this is how a conflicting suffix is cut).
	// After a crash during Save, Load returns one of the states listed
	// above. Save must not keep a reference to the entries slice after it
	// returns; it may keep the entries' Data, which nobody modifies.
	Save(hs *HardState, entries []Entry) error

	// CreateSnapshot starts storing a snapshot described by meta, whose
	// data the Node then writes to the sink. It is stored, durably, when
	// the sink's Close returns nil; until then OpenSnapshot sees the
	// previous one. The latest snapshot is the one with the highest Index
	// (a sink closed after a later one was stored may be dropped).
	// Storing it changes nothing in the log: the Node calls Compact or
	// DiscardLog after. CreateSnapshot and the sink may be used
	// concurrently with Save, Compact and DiscardLog, but one sink at a
	// time is written from one goroutine.
	CreateSnapshot(meta SnapshotMeta) (SnapshotSink, error)

	// OpenSnapshot returns the latest snapshot's description and data
	// (ErrNoSnapshot when none was stored). The caller closes the reader.
	// It is safe to call concurrently with Save, Compact and
	// CreateSnapshot, and the reader stays valid while they run: a
	// persister that keeps one snapshot removes an older one's data only
	// once nothing reads it.
	OpenSnapshot() (SnapshotMeta, io.ReadCloser, error)

	// Compact lets the persister forget the saved entries up to through,
	// which the latest snapshot covers. It may keep some of them (package
	// wal removes whole segments only); Load then returns the entries it
	// kept, and the Node ignores those at or before the snapshot's Index.
	// Compact does not change the log's last index, even if through is
	// past it.
	Compact(through uint64) error

	// DiscardLog drops every saved entry: the log continues at index+1,
	// the next Save's first entry. The Node calls it after storing a
	// snapshot at index that its log disagrees with (Raft §7): the
	// entries it held after index were never committed. It is durable
	// when it returns.
	DiscardLog(index uint64) error

	// Close releases the persister's resources.
	Close() error
}

// MemoryPersister is a Persister that keeps everything in memory. It survives
// a Node being closed and re-created in the same process, which is what
// restart tests need, but not the process. It is safe for concurrent use.
type MemoryPersister struct {
	mu       sync.Mutex
	hs       HardState
	log      raftLog
	saves    int
	snapshot *memorySnapshot // the latest, or nil
}

type memorySnapshot struct {
	meta SnapshotMeta
	data []byte
}

// NewMemoryPersister returns an empty MemoryPersister.
func NewMemoryPersister() *MemoryPersister { return &MemoryPersister{} }

// Load implements Persister.
func (p *MemoryPersister) Load() (HardState, []Entry, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hs, p.log.all(), nil
}

// Save implements Persister.
func (p *MemoryPersister) Save(hs *HardState, entries []Entry) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.saves++
	if len(entries) > 0 {
		if first := entries[0].Index; first == 0 || first > p.log.lastIndex()+1 {
			// A rejected Save changes nothing, the HardState included.
			return errNonContiguous(first, p.log.lastIndex())
		} else if first <= p.log.offset {
			// The log starts after a snapshot: cutting before its start
			// would leave a hole (and the log's arithmetic below zero).
			return fmt.Errorf("%w: save starts at index %d but the log starts at %d", ErrCorrupt, first, p.log.offset+1)
		}
		p.log.truncateAfter(entries[0].Index - 1)
		p.log.append(entries...)
	}
	if hs != nil {
		p.hs = *hs
	}
	return nil
}

// CreateSnapshot implements Persister.
func (p *MemoryPersister) CreateSnapshot(meta SnapshotMeta) (SnapshotSink, error) {
	return &memorySink{p: p, snap: memorySnapshot{meta: cloneSnapshotMeta(meta)}}, nil
}

// OpenSnapshot implements Persister.
func (p *MemoryPersister) OpenSnapshot() (SnapshotMeta, io.ReadCloser, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.snapshot == nil {
		return SnapshotMeta{}, nil, ErrNoSnapshot
	}
	// The data is never modified once stored, so readers share it.
	return cloneSnapshotMeta(p.snapshot.meta), io.NopCloser(bytes.NewReader(p.snapshot.data)), nil
}

// Compact implements Persister: the log's memory goes with its entries.
func (p *MemoryPersister) Compact(through uint64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.log.compact(min(through, p.log.lastIndex()))
	return nil
}

// DiscardLog implements Persister.
func (p *MemoryPersister) DiscardLog(index uint64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.log.restartAfter(index, 0)
	return nil
}

// memorySink collects a snapshot's data; Close stores it as the latest.
type memorySink struct {
	p    *MemoryPersister
	snap memorySnapshot
	done bool
}

func (s *memorySink) Write(b []byte) (int, error) {
	if s.done {
		return 0, errSinkDone
	}
	s.snap.data = append(s.snap.data, b...)
	return len(b), nil
}

func (s *memorySink) Close() error {
	if s.done {
		return errSinkDone
	}
	s.done = true
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	if old := s.p.snapshot; old == nil || s.snap.meta.Index > old.meta.Index {
		s.p.snapshot = &memorySnapshot{meta: s.snap.meta, data: s.snap.data}
	}
	return nil
}

func (s *memorySink) Abort() error {
	s.done = true
	s.snap.data = nil
	return nil
}

// Saves reports how many times Save was called: the number of group commits.
func (p *MemoryPersister) Saves() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.saves
}

// Close implements Persister; a MemoryPersister stays usable after Close so
// that a restarted Node can load it again.
func (p *MemoryPersister) Close() error { return nil }

// SavesInMemory implements MemorySaver: Save never waits on a device.
func (p *MemoryPersister) SavesInMemory() bool { return true }

// MemorySaver is implemented by a Persister whose Save does no I/O and
// never blocks for long, such as MemoryPersister. A Node saves to one on
// its event-loop goroutine rather than handing each save to its saver
// goroutine: two goroutine hand-offs fewer per commit. A wrapper that
// embeds a MemoryPersister keeps the method; one whose Save adds I/O must
// return false.
type MemorySaver interface {
	SavesInMemory() bool
}

// EntryReader is implemented by a Persister that can read its log back in
// pieces, as the write-ahead log in package wal does. A Node whose Persister
// is one holds in memory only the part of the log it still works on (the
// entries not yet committed, delivered or durable, and a little more) and
// reads older entries back when a lagging follower or the application needs
// them; without one, it holds the whole log.
type EntryReader interface {
	// LoadState returns the saved HardState and the indices of the first
	// and last saved entries (last < first when there are none), reading
	// no entries.
	LoadState() (hs HardState, first, last uint64, err error)
	// Entries returns the saved entries [lo, hi), stopping once they
	// exceed maxBytes but returning at least one. It is safe to call
	// concurrently with Save.
	Entries(lo, hi uint64, maxBytes int) ([]Entry, error)
}
