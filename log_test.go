package raftlite

import (
	"testing"

	"pgregory.net/rapid"
)

// The chunked log behaves like a plain slice of entries, across chunk
// boundaries, and never changes an entry a caller was handed.
func TestLogMatchesASliceModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var l raftLog
		var model []Entry
		type handed struct {
			ents  []Entry
			terms []uint64
		}
		var given []handed
		for range rapid.IntRange(1, 30).Draw(t, "ops") {
			switch rapid.IntRange(0, 2).Draw(t, "op") {
			case 0:
				n := rapid.IntRange(1, 3*logChunk).Draw(t, "n")
				term := rapid.Uint64Range(1, 5).Draw(t, "term")
				var ents []Entry
				for range n {
					ents = append(ents, Entry{Index: uint64(len(model) + len(ents) + 1), Term: term})
				}
				l.append(ents...)
				model = append(model, ents...)
			case 1:
				keep := rapid.IntRange(0, len(model)).Draw(t, "keep")
				l.truncateAfter(uint64(keep))
				model = model[:keep:keep]
			case 2:
				if len(model) == 0 {
					continue
				}
				lo := rapid.IntRange(1, len(model)).Draw(t, "lo")
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
			}
			if l.lastIndex() != uint64(len(model)) {
				t.Fatalf("lastIndex %d, model %d", l.lastIndex(), len(model))
			}
			for i := range model {
				if l.term(uint64(i+1)) != model[i].Term {
					t.Fatalf("term(%d) = %d, want %d", i+1, l.term(uint64(i+1)), model[i].Term)
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
