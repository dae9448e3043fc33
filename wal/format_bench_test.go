package wal

import (
	"testing"

	"github.com/raftlite/raftlite"
)

// BenchmarkAppendSaveLarge encodes a Save of 64 entries of 64 KiB into a
// fresh buffer, as Save does for every record over the 4 MiB it keeps:
// the cost of a large batch's encoding, copies included.
func BenchmarkAppendSaveLarge(b *testing.B) {
	data := make([]byte, 64<<10)
	entries := make([]raftlite.Entry, 64)
	for i := range entries {
		entries[i] = raftlite.Entry{Index: uint64(i + 1), Term: 1, Origin: 1, Incarnation: 1, Seq: uint64(i + 1), Data: data}
	}
	b.SetBytes(int64(len(entries) * len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := appendSave(nil, 1, nil, entries, nil); err != nil {
			b.Fatal(err)
		}
	}
}
