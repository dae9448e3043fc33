package raftlite

// raftLog is the in-memory view of the replicated log. Indices start at 1;
// offset is the index just before the first entry held, which is 0 until a
// snapshot lets the log start later (offsetTerm is that entry's term).
//
// Entries are never modified in place once appended: a truncation starts a
// new backing array, so slices of the log handed to messages or to the
// persister stay valid while the log moves on.
type raftLog struct {
	entries    []Entry
	offset     uint64
	offsetTerm uint64
}

func (l *raftLog) lastIndex() uint64 { return l.offset + uint64(len(l.entries)) }

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
	return l.entries[i-l.offset-1].Term
}

// at returns the entry at index i, which the caller knows the log holds.
func (l *raftLog) at(i uint64) *Entry { return &l.entries[i-l.offset-1] }

// slice returns entries [lo, hi) but stops once maxBytes is reached, always
// returning at least one entry when lo < hi. The result shares the log's
// array and must not be appended to.
func (l *raftLog) slice(lo, hi uint64, maxBytes int) []Entry {
	if lo > hi || lo <= l.offset || hi > l.lastIndex()+1 {
		return nil
	}
	ents := l.entries[lo-l.offset-1 : hi-l.offset-1]
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

func (l *raftLog) append(ents ...Entry) { l.entries = append(l.entries, ents...) }

// truncateAfter drops every entry after index i.
func (l *raftLog) truncateAfter(i uint64) {
	if i >= l.lastIndex() {
		return
	}
	keep := l.entries[:i-l.offset]
	l.entries = append(make([]Entry, 0, len(keep)+64), keep...)
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
