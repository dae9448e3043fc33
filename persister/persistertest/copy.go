package persistertest

import (
	"errors"
	"fmt"
	"io"

	"github.com/raftlite/raftlite"
)

// Copy makes dst, an empty Persister, hold what src holds as far as the
// Persister interface shows it: the latest snapshot, the HardState, and
// the log from the first entry Load returns. The log of src starts where
// its LoadState says if it is an EntryReader; otherwise at its first entry
// or, if Load returns none, right after the latest snapshot, which is
// where a log with no entry left after Compact or DiscardLog usually
// starts. A Persister that lives in memory reopens with Copy (see
// Opener).
func Copy(dst, src raftlite.Persister) error {
	hs, es, err := src.Load()
	if err != nil {
		return fmt.Errorf("Load: %w", err)
	}
	var start uint64 // the index before the log's first
	meta, r, err := src.OpenSnapshot()
	switch {
	case err == nil:
		start = meta.Index
		if err := copySnapshot(dst, meta, r); err != nil {
			return err
		}
	case !errors.Is(err, raftlite.ErrNoSnapshot):
		return fmt.Errorf("OpenSnapshot: %w", err)
	}
	if len(es) > 0 {
		start = es[0].Index - 1
	}
	if er, ok := src.(raftlite.EntryReader); ok {
		_, first, _, err := er.LoadState()
		if err != nil {
			return fmt.Errorf("LoadState: %w", err)
		}
		start = first - 1
	}
	if start > 0 {
		if err := dst.DiscardLog(start); err != nil {
			return fmt.Errorf("DiscardLog(%d): %w", start, err)
		}
	}
	if err := dst.Save(&hs, es); err != nil {
		return fmt.Errorf("Save: %w", err)
	}
	return nil
}

func copySnapshot(dst raftlite.Persister, meta raftlite.SnapshotMeta, r io.ReadCloser) error {
	defer r.Close()
	sink, err := dst.CreateSnapshot(meta)
	if err != nil {
		return fmt.Errorf("CreateSnapshot: %w", err)
	}
	if _, err := io.Copy(sink, r); err != nil {
		sink.Abort()
		return fmt.Errorf("copying the snapshot at %d: %w", meta.Index, err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("closing the sink of the snapshot at %d: %w", meta.Index, err)
	}
	return nil
}
