package raftlite

import (
	"errors"
	"fmt"
)

// Errors returned by raftlite, to be compared with errors.Is.
var (
	// ErrClosed is returned when the Node was closed, or stopped by itself
	// (then it also wraps the reason, such as ErrStorage).
	ErrClosed = errors.New("raftlite: node closed")
	// ErrOutcomeUnknown is returned (as an *OutcomeUnknownError) when a
	// wait for a broadcast ended, because its context ended or the node
	// closed, before the broadcast was known to be committed. It may still
	// commit, exactly once.
	ErrOutcomeUnknown = errors.New("raftlite: broadcast outcome unknown")
	// ErrTooLarge is returned when a broadcast is larger than
	// Config.MaxEntryBytes.
	ErrTooLarge = errors.New("raftlite: message too large")
	// ErrInvalidConfig is returned by New when the Config fails
	// validation; the error names the field and the rule.
	ErrInvalidConfig = errors.New("raftlite: invalid config")
	// ErrStorage is returned when the Persister failed. The node stops
	// rather than acknowledge anything it could not make durable.
	ErrStorage = errors.New("raftlite: storage failure")
	// ErrCorrupt is returned, wrapped by persisters and by New, when
	// persisted state is inconsistent.
	ErrCorrupt = errors.New("raftlite: corrupt persisted state")
	// ErrNoSnapshot is returned by Persister.OpenSnapshot when no snapshot
	// has been stored.
	ErrNoSnapshot = errors.New("raftlite: no snapshot")
	// ErrSnapshotIndex is returned by Node.Snapshot for an index it cannot
	// take a snapshot at: one not yet delivered, or not after the latest
	// snapshot.
	ErrSnapshotIndex = errors.New("raftlite: snapshot index out of range")
	// ErrNotLeader is returned by Node.TransferLeadership on a node that
	// does not lead.
	ErrNotLeader = errors.New("raftlite: not the leader")
	// ErrTransferFailed is returned by Node.TransferLeadership when the
	// target did not take over within an election timeout (it is down,
	// cut off or too far behind), or cannot: it is not a member. The
	// leader goes on leading.
	ErrTransferFailed = errors.New("raftlite: leadership transfer failed")
)

// OutcomeUnknownError is returned when a wait for a broadcast ended before
// the broadcast was known to be committed. The broadcast may still commit,
// exactly once; if it does, every node delivers it with this ID, so an
// application that must know watches Deliveries for it.
//
// errors.Is(err, ErrOutcomeUnknown) is true for it, and so is errors.Is
// with the reason the wait ended (context.Canceled, ErrClosed, ...).
type OutcomeUnknownError struct {
	// ID names the broadcast, as Delivery.ID will if it commits.
	ID BroadcastID
	// Err is why the wait ended.
	Err error
}

// Error says which broadcast's outcome is unknown, and why.
func (e *OutcomeUnknownError) Error() string {
	return fmt.Sprintf("%v: broadcast %d/%d/%d: %v", ErrOutcomeUnknown, e.ID.Origin, e.ID.Incarnation, e.ID.Seq, e.Err)
}

// Unwrap returns ErrOutcomeUnknown and the reason the wait ended.
func (e *OutcomeUnknownError) Unwrap() []error { return []error{ErrOutcomeUnknown, e.Err} }

func errNonContiguous(first, last uint64) error {
	return fmt.Errorf("%w: save starts at index %d but the log ends at %d", ErrCorrupt, first, last)
}
