package raftlite

import (
	"context"
	"errors"
	"fmt"
	"io"
)

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
	Sessions []BroadcastID `msgpack:"s,omitempty"`
	// Membership is the cluster's configuration as of Index; nil in
	// snapshots of a cluster that never changed its membership.
	Membership *Membership `msgpack:"c,omitempty"`
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
	if m.Membership != nil {
		conf := m.Membership.clone()
		m.Membership = &conf
	}
	return m
}

// Snapshot is a stored snapshot handed to the application (in a Delivery)
// to restore its state from. Reading it to the end, or closing it,
// releases it.
type Snapshot struct {
	rc     io.ReadCloser
	closed bool
}

// Read reads the snapshot's data, as the application wrote it.
func (s *Snapshot) Read(p []byte) (int, error) {
	if s.closed {
		return 0, io.EOF
	}
	k, err := s.rc.Read(p)
	if err == io.EOF {
		if cerr := s.Close(); cerr != nil {
			return k, cerr
		}
	}
	return k, err
}

// Close releases the snapshot; reading it afterwards returns io.EOF.
func (s *Snapshot) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	return s.rc.Close()
}

type snapshotRequest struct {
	index uint64
	reply chan snapshotPlan
}

type snapshotPlan struct {
	meta SnapshotMeta
	err  error
}

// Snapshot stores the application's state as of index, the Index of a
// message this node delivered, and then lets the log before it go (but for
// Config.TrailingEntries). write writes the state, of any size, to w, on
// the caller's goroutine: called from the loop that reads Deliveries, the
// state it writes is exactly as of index without any copy. The snapshot is
// durable when Snapshot returns nil.
//
// It returns an error wrapping ErrSnapshotIndex if index was not yet
// delivered or is not after the latest snapshot, ErrStorage if the
// Persister failed, or write's error.
func (n *Node) Snapshot(ctx context.Context, index uint64, write func(w io.Writer) error) error {
	req := snapshotRequest{index: index, reply: make(chan snapshotPlan, 1)}
	select {
	case n.snapshotRequests <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		return n.closedErr()
	}
	plan := <-req.reply
	if plan.err != nil {
		return plan.err
	}
	sink, err := n.persister.CreateSnapshot(plan.meta)
	if err != nil {
		return fmt.Errorf("%w: storing a snapshot: %w", ErrStorage, err)
	}
	if err := write(&contextWriter{ctx: ctx, w: sink}); err != nil {
		return errors.Join(fmt.Errorf("raftlite: writing the snapshot: %w", err), sink.Abort())
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("%w: storing a snapshot: %w", ErrStorage, err)
	}
	n.metrics.snapshotTaken()
	taken := snapshotTaken{meta: plan.meta, seen: make(chan struct{})}
	select {
	case n.snapshotsTaken <- taken:
		<-taken.seen
	case <-n.done: // stored: the next start finds it
	}
	return nil
}

// snapshotTaken tells the loop of a stored snapshot; it closes seen once
// Status shows it.
type snapshotTaken struct {
	meta SnapshotMeta
	seen chan struct{}
}

// planSnapshot describes the snapshot the application asks to take at
// index, on the loop.
func (n *Node) planSnapshot(index uint64) snapshotPlan {
	if index > n.app.delivered {
		return snapshotPlan{err: fmt.Errorf("%w: %d was not delivered yet (delivered up to %d)", ErrSnapshotIndex, index, n.app.delivered)}
	}
	meta, ok := n.core.snapshotMeta(index)
	if !ok {
		return snapshotPlan{err: fmt.Errorf("%w: %d is not after the latest snapshot (%d)", ErrSnapshotIndex, index, n.core.snapshot.Index)}
	}
	return snapshotPlan{meta: meta}
}

// openForRestore opens the latest snapshot for the application to restore
// from, once per delivery of it.
func (n *Node) openForRestore(meta SnapshotMeta) (*Snapshot, bool) {
	if n.restoring != nil && n.restoringIndex == meta.Index {
		return n.restoring, true
	}
	if n.restoring != nil {
		// A later snapshot was installed before the application took
		// this one: it restores that one instead.
		_ = n.restoring.Close()
		n.restoring = nil
	}
	stored, rc, err := n.persister.OpenSnapshot()
	if err == nil && stored.Index != meta.Index {
		err = fmt.Errorf("%w: the latest snapshot is at %d, not %d", ErrCorrupt, stored.Index, meta.Index)
		_ = rc.Close()
	}
	if err != nil {
		n.fail(fmt.Errorf("%w: opening the snapshot to restore: %w", ErrStorage, err))
		return nil, false
	}
	n.restoring, n.restoringIndex = &Snapshot{rc: rc}, meta.Index
	return n.restoring, true
}

// contextWriter stops a snapshot's writing once its context ends.
type contextWriter struct {
	ctx context.Context
	w   io.Writer
}

func (w *contextWriter) Write(p []byte) (int, error) {
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	return w.w.Write(p)
}
