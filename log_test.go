package raftlite

import (
	"testing"

	"pgregory.net/rapid"
)

// The chunked log behaves like a plain slice of entries, across chunk
// boundaries, evictions, truncations and compactions, never changes an entry a caller
// was handed, and knows every entry's term even when it holds only a tail.
func TestLogMatchesASliceModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		l := raftLog{chunkSize: rapid.IntRange(1, 9).Draw(t, "chunk")}
		var model []Entry
		term := uint64(1)
		// Start, as a restarted node may, holding only a tail of a log.
		for range rapid.IntRange(0, 30).Draw(t, "skipped") {
			term += uint64(rapid.IntRange(0, 1).Draw(t, "bump"))
			e := Entry{Index: uint64(len(model) + 1), Term: term}
			l.skip(&e)
			model = append(model, e)
		}
		type handed struct {
			ents  []Entry
			terms []uint64
		}
		var given []handed
		var offset int // compacted through
		for range rapid.IntRange(1, 40).Draw(t, "ops") {
			switch rapid.IntRange(0, 4).Draw(t, "op") {
			case 0:
				term += uint64(rapid.IntRange(0, 2).Draw(t, "bump"))
				var ents []Entry
				for range rapid.IntRange(1, 25).Draw(t, "n") {
					ents = append(ents, Entry{Index: uint64(len(model) + len(ents) + 1), Term: term})
				}
				l.append(ents...)
				model = append(model, ents...)
			case 1:
				keep := rapid.IntRange(offset, len(model)).Draw(t, "keep")
				l.truncateAfter(uint64(keep))
				model = model[:keep:keep]
				term = max(term, 1)
			case 2:
				l.evictThrough(uint64(rapid.IntRange(0, len(model)).Draw(t, "evict")))
			case 3:
				first := int(l.memFirst())
				if first > len(model) {
					continue
				}
				lo := rapid.IntRange(first, len(model)).Draw(t, "lo")
				hi := rapid.IntRange(lo, len(model)).Draw(t, "hi") + 1
				got := l.slice(uint64(lo), uint64(hi), 1<<30)
				if len(got) == 0 || len(got) > hi-lo {
					t.Fatalf("slice(%d, %d) returned %d entries", lo, hi, len(got))
				}
				h := handed{ents: got}
				for i, e := range got {
					if e.Index != model[lo-1+i].Index || e.Term != model[lo-1+i].Term {
						t.Fatalf("slice(%d, %d)[%d] = %+v, want %+v", lo, hi, i, e, model[lo-1+i])
					}
					h.terms = append(h.terms, e.Term)
				}
				given = append(given, h)
			case 4:
				i := rapid.IntRange(offset, len(model)).Draw(t, "compact")
				l.compact(uint64(i))
				offset = i
			}
			if l.lastIndex() != uint64(len(model)) {
				t.Fatalf("lastIndex %d, model %d", l.lastIndex(), len(model))
			}
			if l.memFirst() > l.lastIndex()+1 {
				t.Fatalf("memFirst %d beyond the end %d", l.memFirst(), l.lastIndex())
			}
			if l.offset != uint64(offset) {
				t.Fatalf("offset %d, compacted through %d", l.offset, offset)
			}
			if offset > 0 && l.term(uint64(offset)) != model[offset-1].Term {
				t.Fatalf("term(%d) at the compaction point = %d, want %d", offset, l.term(uint64(offset)), model[offset-1].Term)
			}
			if offset > 1 && l.term(uint64(offset-1)) != 0 {
				t.Fatalf("term(%d), compacted, = %d, want 0", offset-1, l.term(uint64(offset-1)))
			}
			for i := offset; i < len(model); i++ {
				idx := uint64(i + 1)
				if l.term(idx) != model[i].Term {
					t.Fatalf("term(%d) = %d, want %d", idx, l.term(idx), model[i].Term)
				}
				if idx >= l.memFirst() && l.at(idx).Index != idx {
					t.Fatalf("at(%d) holds index %d", idx, l.at(idx).Index)
				}
				if f := l.firstIndexOfTerm(idx); f > idx || model[f-1].Term != model[i].Term || (int(f) > offset+1 && model[f-2].Term == model[i].Term) {
					t.Fatalf("firstIndexOfTerm(%d) = %d", idx, f)
				}
			}
			lastOfTerm := map[uint64]uint64{}
			for _, e := range model[offset:] {
				lastOfTerm[e.Term] = e.Index
			}
			for term := uint64(0); term <= l.lastTerm()+1; term++ {
				if got := l.lastIndexOfTerm(term); got != lastOfTerm[term] {
					t.Fatalf("lastIndexOfTerm(%d) = %d, want %d", term, got, lastOfTerm[term])
				}
			}
			for _, h := range given {
				for i, e := range h.ents {
					if e.Term != h.terms[i] {
						t.Fatalf("an entry handed out earlier changed")
					}
				}
			}
		}
	})
}

// slice's byte limit is inclusive: entries whose sizes add up to exactly
// maxBytes all go in one slice; one byte less leaves the last out.
func TestLogSliceFillsMaxBytesExactly(t *testing.T) {
	var l raftLog
	for i := uint64(1); i <= 4; i++ {
		l.append(Entry{Index: i, Term: 1, Data: []byte("xyz")})
	}
	three := 3 * (&Entry{Data: []byte("xyz")}).size()
	if got := len(l.slice(1, 5, three)); got != 3 {
		t.Fatalf("slice to exactly three entries' bytes returned %d entries, want 3", got)
	}
	if got := len(l.slice(1, 5, three-1)); got != 2 {
		t.Fatalf("slice to a byte less returned %d entries, want 2", got)
	}
}

// Cutting the log after an entry that is held keeps it held: entries
// before memFirst must be committed and durable, and one a cut keeps may
// be neither.
func TestLogTruncateKeepsTheEntryItCutsAfterInMemory(t *testing.T) {
	l := raftLog{chunkSize: 4}
	for i := uint64(1); i <= 10; i++ {
		l.append(Entry{Index: i, Term: 1})
	}
	first := l.evictThrough(8)
	if first != 9 {
		t.Fatalf("memFirst after evicting through 8 is %d, want 9", first)
	}
	l.truncateAfter(9)
	if l.memFirst() != 9 || l.lastIndex() != 9 || l.at(9).Index != 9 {
		t.Fatalf("after cutting after 9: memFirst %d, last %d; want 9 held", l.memFirst(), l.lastIndex())
	}
}
