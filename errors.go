package raftlite

import (
	"errors"
	"fmt"
)

// Errors returned by raftlite, to be compared with errors.Is.
var (
	// ErrClosed: the Node was closed.
	ErrClosed = errors.New("raftlite: node closed")
	// ErrOutcomeUnknown: Broadcast gave up waiting (its context ended or the
	// node closed) before the broadcast was known to be committed. It may
	// still commit, exactly once.
	ErrOutcomeUnknown = errors.New("raftlite: broadcast outcome unknown")
	// ErrTooLarge: the broadcast is larger than Config.MaxEntryBytes.
	ErrTooLarge = errors.New("raftlite: message too large")
	// ErrInvalidConfig: Config failed validation; the error names the field.
	ErrInvalidConfig = errors.New("raftlite: invalid config")
	// ErrStorage: the Persister failed. The node stops rather than
	// acknowledge anything it could not make durable.
	ErrStorage = errors.New("raftlite: storage failure")
	// ErrCorrupt: persisted state is inconsistent (wrapped by persisters).
	ErrCorrupt = errors.New("raftlite: corrupt persisted state")
)

func errNonContiguous(first, last uint64) error {
	return fmt.Errorf("%w: save starts at index %d but the log ends at %d", ErrCorrupt, first, last)
}
