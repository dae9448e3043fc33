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

// nextDelivery returns the next committed message to hand over, skipping
// entries that are not messages.
func (n *Node) nextDelivery() (Delivery, bool) {
	c := n.core
	for n.delivered < c.commit {
		i := n.delivered + 1
		if i <= c.log.offset {
			n.delivered = c.log.offset
			continue
		}
		var e *Entry
		if i >= c.log.memFirst() {
			e = c.log.at(i)
		} else {
			e = n.readBack(i)
			if e == nil {
				return Delivery{}, false
			}
		}
		if e.Kind != EntryData {
			n.delivered = i
			continue
		}
		return Delivery{Index: i, Term: e.Term, Data: e.Data,
			ID: BroadcastID{Origin: e.Origin, Incarnation: e.Incarnation, Seq: e.Seq}}, true
	}
	return Delivery{}, false
}

// readBack returns entry i, which is no longer in memory, from what the
// fetcher read for delivery, asking it for more when that runs out.
func (n *Node) readBack(i uint64) *Entry {
	for len(n.fromDisk) > 0 && n.fromDisk[0].Index < i {
		n.fromDisk[0] = Entry{}
		n.fromDisk = n.fromDisk[1:]
	}
	if len(n.fromDisk) > 0 && n.fromDisk[0].Index == i {
		return &n.fromDisk[0]
	}
	if !n.fetchingToApp {
		hi := min(n.core.commit+1, n.core.log.memFirst())
		select {
		case n.toFetch <- fetchJob{to: None, lo: i, hi: hi}:
			n.fetchingToApp = true
		default: // the fetcher is busy: ask again on the next event
		}
	}
	return nil
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
		n.fetchingToApp = false
		n.fromDisk = r.entries
		return
	}
	n.core.onFetched(r.job.to, r.entries)
}
