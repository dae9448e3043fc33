package raftlite

import (
	"errors"
	"fmt"
	"io"
)

// Reading the log back: at start, and, with an EntryReader, while running,
// for lagging followers and for deliveries of entries no longer in memory.

// loadLog reads what the persister saved: the latest snapshot's
// description and the log. With an EntryReader it reads the log in pieces
// and holds in memory only the entries after the saved commit index and
// the snapshot, the ones that may still change; otherwise it loads
// everything. chunkSize is the in-memory log's chunk size, 0 for the
// default.
func loadLog(p Persister, r EntryReader, chunkSize int) (HardState, bootLog, error) {
	snap, err := loadSnapshotMeta(p)
	if err != nil {
		return HardState{}, bootLog{}, err
	}
	if r == nil {
		hs, entries, err := p.Load()
		if len(entries) > 0 && entries[0].Index > snap.Index+1 {
			return hs, bootLog{}, errLogAfterSnapshot(entries[0].Index, snap.Index)
		}
		return hs, bootInMemory(snap, entries, chunkSize), err
	}
	hs, first, last, err := r.LoadState()
	if err != nil {
		return hs, bootLog{}, err
	}
	if first > snap.Index+1 {
		return hs, bootLog{}, errLogAfterSnapshot(first, snap.Index)
	}
	boot := newBootLog(snap, first, chunkSize)
	keepFrom := min(max(hs.Commit+1, snap.Index+1, first), last+1)
	for lo := first; lo <= last; {
		ents, err := r.Entries(lo, last+1, 4<<20)
		if err != nil {
			return hs, bootLog{}, err
		}
		if len(ents) == 0 || ents[0].Index != lo {
			return hs, bootLog{}, fmt.Errorf("%w: reading the log from %d returned no entries", ErrCorrupt, lo)
		}
		for i := range ents {
			boot.add(&ents[i], ents[i].Index >= keepFrom)
		}
		lo += uint64(len(ents))
	}
	boot.finish()
	return hs, boot, nil
}

// loadSnapshotMeta returns the latest snapshot's description, or the zero
// one if there is none.
func loadSnapshotMeta(p Persister) (SnapshotMeta, error) {
	meta, rc, err := p.OpenSnapshot()
	if errors.Is(err, ErrNoSnapshot) {
		return SnapshotMeta{}, nil
	}
	if err != nil {
		return SnapshotMeta{}, err
	}
	return meta, rc.Close()
}

func errLogAfterSnapshot(first, snapshot uint64) error {
	return fmt.Errorf("%w: the log starts at %d, after the latest snapshot's index %d", ErrCorrupt, first, snapshot)
}

// fetchForApp asks the fetcher for entries [lo, hi) for delivery, if it is
// free to take the job.
func (n *Node) fetchForApp(lo, hi uint64) bool {
	select {
	case n.toFetch <- fetchJob{to: None, lo: lo, hi: hi}:
		return true
	default:
		return false
	}
}

// fetchJob asks the fetcher for saved entries [lo, hi): for follower to, or
// for delivery when to is None. With snapshot set it asks instead for a
// chunk of the latest snapshot for follower to; with end, that the
// snapshot opened for to be closed.
type fetchJob struct {
	to       NodeID
	lo, hi   uint64
	snapshot *snapshotRead
	end      bool
}

type fetchResult struct {
	job     fetchJob
	entries []Entry
	chunk   []byte
	eof     bool
	err     error
}

// requestFetches hands the core's requests for entries out of memory and
// for snapshot chunks to the fetcher.
func (n *Node) requestFetches(rd *ready) {
	for _, f := range rd.Fetches {
		if !n.tryFetch(fetchJob{to: f.To, lo: f.Lo, hi: f.Hi}) {
			n.tr.fetched(n.core, f.To, nil)
			n.core.onFetched(f.To, nil) // busy: the next heartbeat asks again
		}
	}
	for _, r := range rd.SnapshotReads {
		if !n.tryFetch(fetchJob{to: r.To, snapshot: &r}) {
			n.tr.snapshotRead(n.core, r.To, &r, 0, false, false)
			n.core.onSnapshotRead(r.To, r, nil, false, false) // busy: the transfer starts over later
		}
	}
	for _, to := range rd.TransfersEnded {
		// Best effort: the next transfer to the follower closes it anyway.
		n.tryFetch(fetchJob{to: to, end: true})
	}
}

func (n *Node) tryFetch(j fetchJob) bool {
	select {
	case n.toFetch <- j:
		return true
	default:
		return false
	}
}

// fetcher reads saved entries and snapshots back for the loop, off the
// loop.
func (n *Node) fetcher(done chan struct{}) {
	defer close(done)
	snapshots := snapshotReaders{}
	defer snapshots.closeAll()
	for j := range n.toFetch {
		var r fetchResult
		switch {
		case j.end:
			snapshots.close(j.to)
			continue
		case j.snapshot != nil:
			r.chunk, r.eof, r.err = snapshots.read(n.persister, j.to, *j.snapshot)
		default:
			r.entries, r.err = n.reader.Entries(j.lo, j.hi, n.cfg.MaxBatchBytes)
		}
		r.job = j
		select {
		case n.fetched <- r:
		case <-n.closing:
		}
	}
}

func (n *Node) onFetched(r fetchResult) {
	if r.err != nil {
		n.log.Warn("reading back", "from", r.job.lo, "peer", r.job.to, "err", r.err)
		r.entries = nil
	}
	switch {
	case r.job.snapshot != nil:
		n.tr.snapshotRead(n.core, r.job.to, r.job.snapshot, len(r.chunk), r.eof, r.err == nil)
		n.core.onSnapshotRead(r.job.to, *r.job.snapshot, r.chunk, r.eof, r.err == nil)
	case r.job.to == None:
		n.app.fetched(r.entries)
	default:
		n.tr.fetched(n.core, r.job.to, r.entries)
		n.core.onFetched(r.job.to, r.entries)
	}
}

// snapshotReaders are the snapshots open for transfers, by follower.
type snapshotReaders map[NodeID]*snapshotReader

type snapshotReader struct {
	index, pos uint64
	rc         io.ReadCloser
}

// read returns the chunk that r asks for, opening the latest snapshot
// when a transfer starts, and whether it is the last.
func (s snapshotReaders) read(p Persister, to NodeID, r snapshotRead) ([]byte, bool, error) {
	sr := s[to]
	if sr == nil || sr.index != r.Index || sr.pos != r.Offset {
		s.close(to)
		if r.Offset != 0 {
			return nil, false, fmt.Errorf("snapshot chunk at %d asked out of order", r.Offset)
		}
		meta, rc, err := p.OpenSnapshot()
		if err != nil {
			return nil, false, err
		}
		sr = &snapshotReader{index: meta.Index, rc: rc}
		s[to] = sr
		if meta.Index != r.Index {
			return nil, false, fmt.Errorf("the latest snapshot is at %d, not %d", meta.Index, r.Index)
		}
	}
	buf := make([]byte, r.MaxBytes)
	k, err := io.ReadFull(sr.rc, buf)
	sr.pos += uint64(k)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		s.close(to)
		return buf[:k], true, nil
	case err != nil:
		s.close(to)
		return nil, false, err
	}
	return buf, false, nil
}

func (s snapshotReaders) close(to NodeID) {
	if sr := s[to]; sr != nil {
		_ = sr.rc.Close()
		delete(s, to)
	}
}

func (s snapshotReaders) closeAll() {
	for to := range s {
		s.close(to)
	}
}
