package raftlite

import (
	"errors"
	"io"
)

// ErrNoSnapshot is returned by Persister.OpenSnapshot when no snapshot has
// been stored.
var ErrNoSnapshot = errors.New("raftlite: no snapshot")

// SnapshotMeta describes a snapshot: the application's state as of a log
// index, and what the node must know to carry on from there without the
// log before it.
type SnapshotMeta struct {
	// Index is the last log index whose effect the snapshot contains.
	Index uint64 `msgpack:"i"`
	// Term is the term of the entry at Index.
	Term uint64 `msgpack:"t"`
	// Sessions is the exactly-once table: for each origin that ever
	// broadcast, its last broadcast in the log. It is as of Index or of a
	// later committed index (the commit index when the snapshot was
	// taken); the entries after Index, applied in order, bring either to
	// the same table. Without it a broadcast retried across a compaction
	// would be appended twice.
	Sessions []BroadcastID `msgpack:"s"`
	// Membership change will add the cluster configuration as of Index.
}

// SnapshotSink receives the data of a snapshot being stored. Nothing of it
// is visible until Close returns nil: from then on it is durable and
// OpenSnapshot returns it (or a later one).
type SnapshotSink interface {
	io.Writer
	// Close makes the snapshot durable and the latest, or returns an
	// error and stores nothing.
	Close() error
	// Abort discards the snapshot. It is safe after a failed Write, and a
	// no-op after Close.
	Abort() error
}

var errSinkDone = errors.New("raftlite: snapshot sink already closed or aborted")

func cloneSnapshotMeta(m SnapshotMeta) SnapshotMeta {
	m.Sessions = append([]BroadcastID(nil), m.Sessions...)
	return m
}
