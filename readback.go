package raftlite

import "fmt"

// Reading the log back: at start, and, with an EntryReader, while running,
// for lagging followers and for deliveries of entries no longer in memory.

// loadLog reads what the persister saved. With an EntryReader it reads the
// log in pieces and holds in memory only the entries after the saved commit
// index, the ones that may still change; otherwise it loads everything.
// chunkSize is the in-memory log's chunk size, 0 for the default.
func loadLog(p Persister, r EntryReader, chunkSize int) (HardState, bootLog, error) {
	if r == nil {
		hs, entries, err := p.Load()
		return hs, bootInMemory(entries, chunkSize), err
	}
	hs, first, last, err := r.LoadState()
	if err != nil {
		return hs, bootLog{}, err
	}
	boot := newBootLog(first-1, chunkSize)
	keepFrom := min(max(hs.Commit+1, first), last+1)
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
	return hs, boot, nil
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
// for delivery when to is None.
type fetchJob struct {
	to     NodeID
	lo, hi uint64
}

type fetchResult struct {
	job     fetchJob
	entries []Entry
	err     error
}

// requestFetches hands the core's requests for entries out of memory to
// the fetcher.
func (n *Node) requestFetches(fetches []fetch) {
	for _, f := range fetches {
		select {
		case n.toFetch <- fetchJob{to: f.To, lo: f.Lo, hi: f.Hi}:
		default:
			n.core.onFetched(f.To, nil) // busy: the next heartbeat asks again
		}
	}
}

// fetcher reads saved entries back for the loop, off the loop.
func (n *Node) fetcher(done chan struct{}) {
	defer close(done)
	for j := range n.toFetch {
		ents, err := n.reader.Entries(j.lo, j.hi, n.cfg.MaxBatchBytes)
		select {
		case n.fetched <- fetchResult{job: j, entries: ents, err: err}:
		case <-n.closing:
		}
	}
}

func (n *Node) onFetched(r fetchResult) {
	if r.err != nil {
		n.log.Warn("reading the log back", "from", r.job.lo, "err", r.err)
		r.entries = nil
	}
	if r.job.to == None {
		n.app.fetched(r.entries)
		return
	}
	n.core.onFetched(r.job.to, r.entries)
}
