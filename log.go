package raftlite

import "sort"

// logChunk is how many entries one array of the log holds by default.
// Chunks keep appends from ever copying the whole log, and let the oldest
// entries leave memory a chunk at a time.
const logChunk = 4096

// raftLog is the replicated log as the core sees it. Indices start at 1;
// offset is the index just before the first entry, which is 0 until a
// snapshot lets the log start later (offsetTerm is that entry's term).
//
// The terms of all entries are kept, as runs; the entries themselves only
// from memFirst on. Entries before memFirst are committed and durable, and
// whoever needs them reads them back from the Persister.
//
// Entries are never modified in place once appended: a truncation copies
// the chunk it cuts into, so slices of the log handed to messages or to the
// persister stay valid while the log moves on.
type raftLog struct {
	chunkSize  int       // 0 means logChunk
	chunks     [][]Entry // chunks[0] is grid chunk base; every chunk but the last is full
	base       uint64    // grid chunk of chunks[0]: entry k (from 0) is in grid chunk k/chunkSize
	head       int       // position in chunks[0] of the first entry held
	count      uint64    // entries after offset, held or not
	offset     uint64
	offsetTerm uint64
	runs       []termRun // terms of every entry after offset, oldest first
}

// termRun says that the entries from first up to the next run's first
// (or the end of the log) have term term.
type termRun struct{ first, term uint64 }

func (l *raftLog) size() uint64 {
	if l.chunkSize == 0 {
		return logChunk
	}
	return uint64(l.chunkSize)
}

func (l *raftLog) lastIndex() uint64 { return l.offset + l.count }

func (l *raftLog) lastTerm() uint64 { return l.term(l.lastIndex()) }

// memFirst is the first index whose entry is held in memory.
func (l *raftLog) memFirst() uint64 {
	return l.offset + 1 + l.base*l.size() + uint64(l.head)
}

// term returns the term of the entry at i, 0 for i == 0 and for indices the
// log does not hold (past its end, or compacted away).
func (l *raftLog) term(i uint64) uint64 {
	switch {
	case i == l.offset:
		return l.offsetTerm
	case i < l.offset || i > l.lastIndex():
		return 0
	}
	r := l.runs
	if last := r[len(r)-1]; i >= last.first {
		return last.term
	}
	k := sort.Search(len(r), func(k int) bool { return r[k].first > i })
	return r[k-1].term
}

// at returns the entry at index i, which the caller knows is in memory.
func (l *raftLog) at(i uint64) *Entry {
	k := i - l.offset - 1
	size := l.size()
	return &l.chunks[k/size-l.base][k%size]
}

// slice returns entries [lo, hi) but stops once maxBytes is reached, or at
// the end of a chunk, always returning at least one entry when lo < hi. It
// returns nil when lo is before memFirst. The result shares the log's
// memory and must not be appended to.
func (l *raftLog) slice(lo, hi uint64, maxBytes int) []Entry {
	if lo >= hi || lo < l.memFirst() || lo <= l.offset || hi > l.lastIndex()+1 {
		return nil
	}
	k := lo - l.offset - 1
	size := l.size()
	chunk := l.chunks[k/size-l.base]
	start := int(k % size)
	ents := chunk[start:min(len(chunk), start+int(hi-lo))]
	bytes := 0
	for i := range ents {
		bytes += ents[i].size()
		if bytes > maxBytes && i > 0 {
			ents = ents[:i]
			break
		}
	}
	return ents[:len(ents):len(ents)]
}

func (l *raftLog) append(ents ...Entry) {
	size := l.size()
	for len(ents) > 0 {
		if g := l.count / size; g-l.base == uint64(len(l.chunks)) {
			// The chunk holding the next entry starts here; if the log
			// starts mid-chunk (after a truncation below memory), pad it.
			pad := int(l.count - g*size)
			if len(l.chunks) == 0 {
				l.base, l.head = g, pad
			}
			l.chunks = append(l.chunks, make([]Entry, pad, size))
		}
		last := &l.chunks[len(l.chunks)-1]
		k := min(len(ents), int(size)-len(*last))
		for i := range ents[:k] {
			if r := l.runs; len(r) == 0 || r[len(r)-1].term != ents[i].Term {
				l.runs = append(l.runs, termRun{first: ents[i].Index, term: ents[i].Term})
			}
		}
		*last = append(*last, ents[:k]...)
		l.count += uint64(k)
		ents = ents[k:]
	}
}

// truncateAfter drops every entry after index i.
func (l *raftLog) truncateAfter(i uint64) {
	if i >= l.lastIndex() {
		return
	}
	for len(l.runs) > 0 && l.runs[len(l.runs)-1].first > i {
		l.runs = l.runs[:len(l.runs)-1]
	}
	keep := i - l.offset
	l.count = keep
	if i < l.memFirst() {
		// Nothing held survives; the next append starts a chunk afresh.
		clear(l.chunks)
		l.chunks = nil
		l.base, l.head = keep/l.size(), int(keep%l.size())
		return
	}
	size := l.size()
	full, rest := keep/size-l.base, int(keep%size)
	var fresh []Entry
	if rest > 0 {
		// Copy the part kept: later appends must not overwrite entries that
		// messages in flight may still point at.
		fresh = make([]Entry, rest, size)
		copy(fresh, l.chunks[full][:rest])
	}
	clear(l.chunks[full:])
	l.chunks = l.chunks[:full]
	if fresh != nil {
		l.chunks = append(l.chunks, fresh)
	}
	if len(l.chunks) == 0 {
		l.base, l.head = keep/size, 0
	}
}

// evictThrough lets go of the chunks whose entries all lie at or before i,
// keeping the chunk the log ends in. It returns the new memFirst.
func (l *raftLog) evictThrough(i uint64) uint64 {
	size := l.size()
	for len(l.chunks) > 1 && uint64(len(l.chunks[0])) == size &&
		l.offset+(l.base+1)*size <= i {
		l.chunks[0] = nil
		l.chunks = l.chunks[1:]
		l.base++
		l.head = 0
	}
	return l.memFirst()
}

// restartAfter empties the log, which continues after index i of term
// term: what a snapshot at i that the log does not reach, or disagrees
// with, leaves of it.
func (l *raftLog) restartAfter(i, term uint64) {
	*l = raftLog{chunkSize: l.chunkSize, offset: i, offsetTerm: term}
}

// compact forgets the entries up to i, which a snapshot covers: the log
// then starts after i, and term(i) is still known. The entries kept are
// copied to a log aligned on the new start; a node compacts once per many
// entries appended, so the copy costs little per entry.
func (l *raftLog) compact(i uint64) {
	if i <= l.offset || i > l.lastIndex() {
		return
	}
	fresh := raftLog{chunkSize: l.chunkSize, offset: i, offsetTerm: l.term(i)}
	// The entries after i not held in memory are known by their terms only.
	held := max(i+1, l.memFirst())
	for k, r := range l.runs {
		if r.first >= held || held == i+1 {
			break // no entry is skipped, or none more
		}
		if k+1 < len(l.runs) && l.runs[k+1].first <= i+1 {
			continue // the run ends at or before i
		}
		fresh.runs = append(fresh.runs, termRun{first: max(r.first, i+1), term: r.term})
	}
	fresh.count = held - 1 - i
	fresh.base, fresh.head = fresh.count/fresh.size(), int(fresh.count%fresh.size())
	for lo := held; lo <= l.lastIndex(); {
		ents := l.slice(lo, l.lastIndex()+1, int(^uint(0)>>1))
		fresh.append(ents...)
		lo += uint64(len(ents))
	}
	*l = fresh
}

// skip accounts for the entry e without holding it: how a node that starts
// from a long log on disk learns its terms but keeps only its tail.
func (l *raftLog) skip(e *Entry) {
	if r := l.runs; len(r) == 0 || r[len(r)-1].term != e.Term {
		l.runs = append(l.runs, termRun{first: e.Index, term: e.Term})
	}
	l.count++
	l.base, l.head = l.count/l.size(), int(l.count%l.size())
}

// all returns a copy of every entry held in memory.
func (l *raftLog) all() []Entry {
	out := make([]Entry, 0, l.lastIndex()+1-l.memFirst())
	for k, c := range l.chunks {
		if k == 0 {
			c = c[l.head:]
		}
		out = append(out, c...)
	}
	return out
}

// firstIndexOfTerm returns the first index, at or before i, of the run of
// entries whose term is term(i): the conflict hint of Raft §5.3's optimisation.
func (l *raftLog) firstIndexOfTerm(i uint64) uint64 {
	if i <= l.offset || i > l.lastIndex() {
		return i
	}
	k := sort.Search(len(l.runs), func(k int) bool { return l.runs[k].first > i })
	return max(l.runs[k-1].first, l.offset+1)
}

// lastIndexOfTerm returns the last index holding term t, or 0 if none does.
func (l *raftLog) lastIndexOfTerm(t uint64) uint64 {
	k := sort.Search(len(l.runs), func(k int) bool { return l.runs[k].term > t })
	if k == 0 || l.runs[k-1].term != t {
		return 0
	}
	if k == len(l.runs) {
		return l.lastIndex()
	}
	return l.runs[k].first - 1
}
