package raftlite

// logChunk is how many entries one array of the log holds. Chunks keep
// appends from ever copying the whole log, and keep the garbage collector's
// work per append small.
const logChunk = 4096

// raftLog is the in-memory view of the replicated log. Indices start at 1;
// offset is the index just before the first entry held, which is 0 until a
// snapshot lets the log start later (offsetTerm is that entry's term).
//
// Entries are never modified in place once appended: a truncation copies
// the chunk it cuts into, so slices of the log handed to messages or to the
// persister stay valid while the log moves on.
type raftLog struct {
	chunks     [][]Entry // every chunk but the last is full
	count      uint64
	offset     uint64
	offsetTerm uint64
}

func (l *raftLog) lastIndex() uint64 { return l.offset + l.count }

func (l *raftLog) lastTerm() uint64 { return l.term(l.lastIndex()) }

// term returns the term of the entry at i, 0 for i == 0 and for indices the
// log does not hold (past its end, or compacted away).
func (l *raftLog) term(i uint64) uint64 {
	switch {
	case i == l.offset:
		return l.offsetTerm
	case i < l.offset || i > l.lastIndex():
		return 0
	}
	return l.at(i).Term
}

// at returns the entry at index i, which the caller knows the log holds.
func (l *raftLog) at(i uint64) *Entry {
	k := i - l.offset - 1
	return &l.chunks[k/logChunk][k%logChunk]
}

// slice returns entries [lo, hi) but stops once maxBytes is reached, or at
// the end of a chunk, always returning at least one entry when lo < hi. The
// result shares the log's memory and must not be appended to.
func (l *raftLog) slice(lo, hi uint64, maxBytes int) []Entry {
	if lo >= hi || lo <= l.offset || hi > l.lastIndex()+1 {
		return nil
	}
	k := lo - l.offset - 1
	chunk := l.chunks[k/logChunk]
	start := int(k % logChunk)
	ents := chunk[start:min(len(chunk), start+int(hi-lo))]
	size := 0
	for i := range ents {
		size += ents[i].size()
		if size > maxBytes && i > 0 {
			ents = ents[:i]
			break
		}
	}
	return ents[:len(ents):len(ents)]
}

func (l *raftLog) append(ents ...Entry) {
	for len(ents) > 0 {
		if n := len(l.chunks); n == 0 || len(l.chunks[n-1]) == logChunk {
			l.chunks = append(l.chunks, make([]Entry, 0, logChunk))
		}
		last := &l.chunks[len(l.chunks)-1]
		k := min(len(ents), logChunk-len(*last))
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
	keep := i - l.offset
	full, rest := int(keep/logChunk), int(keep%logChunk)
	var fresh []Entry
	if rest > 0 {
		// Copy the part kept: later appends must not overwrite entries that
		// messages in flight may still point at.
		fresh = make([]Entry, rest, logChunk)
		copy(fresh, l.chunks[full][:rest])
	}
	clear(l.chunks[full:])
	l.chunks = l.chunks[:full]
	if fresh != nil {
		l.chunks = append(l.chunks, fresh)
	}
	l.count = keep
}

// all returns a copy of every entry held.
func (l *raftLog) all() []Entry {
	out := make([]Entry, 0, l.count)
	for _, c := range l.chunks {
		out = append(out, c...)
	}
	return out
}

// firstIndexOfTerm returns the first index, at or before i, of the run of
// entries whose term is term(i): the conflict hint of Raft §5.3's optimisation.
func (l *raftLog) firstIndexOfTerm(i uint64) uint64 {
	t := l.term(i)
	for i > l.offset+1 && l.term(i-1) == t {
		i--
	}
	return i
}

// lastIndexOfTerm returns the last index holding term t, or 0 if none does.
func (l *raftLog) lastIndexOfTerm(t uint64) uint64 {
	for i := l.lastIndex(); i > l.offset; i-- {
		switch et := l.term(i); {
		case et == t:
			return i
		case et < t:
			return 0
		}
	}
	return 0
}
