package raftlite_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/transport/wire"
)

// worstEntry is an entry whose every field takes the most bytes the
// msgpack encoding can give it.
func worstEntry(data int) raftlite.Entry {
	return raftlite.Entry{Index: math.MaxUint64, Term: math.MaxUint64, Kind: math.MaxUint8,
		Origin: math.MaxUint64, Incarnation: math.MaxUint64, Seq: math.MaxUint64, Data: make([]byte, data)}
}

// The bound New checks a transport's limit against really bounds the wire
// encoding: no message a node sends under MaxBatchBytes and MaxEntryBytes
// encodes larger, however large its fields' values.
func TestMaxMessageSizeBoundsTheWireEncoding(t *testing.T) {
	const maxEntry, maxBatch = 64 << 10, 256 << 10
	bound := raftlite.MaxMessageSize(maxEntry, maxBatch)
	header := raftlite.Message{Kind: math.MaxUint8, From: math.MaxUint64, To: math.MaxUint64, Term: math.MaxUint64,
		LastIndex: math.MaxUint64, LastTerm: math.MaxUint64, PrevIndex: math.MaxUint64, PrevTerm: math.MaxUint64,
		Commit: math.MaxUint64, Success: true, Match: math.MaxUint64, HintTerm: math.MaxUint64,
		ReadSeq: math.MaxUint64, Incarnation: math.MaxUint64, Transfer: true}

	for _, data := range []int{0, 1, 31, 32, 255, 256, 65535, 65536, maxEntry} {
		e := worstEntry(data)
		m := header
		m.Entries = []raftlite.Entry{e}
		assert.LessOrEqual(t, wire.Size(&m)-wire.Size(&header), raftlite.EntrySize(&e), "an entry of %d bytes of data", data)
		assert.LessOrEqual(t, wire.Size(&m), bound, "one entry of %d bytes", data)
	}
	for _, data := range []int{0, 1, 100, 4096} {
		// A batch as the core builds it: entries while their sizes fit.
		m, size := header, 0
		for {
			e := worstEntry(data)
			if size+raftlite.EntrySize(&e) > maxBatch && len(m.Entries) > 0 {
				break
			}
			size += raftlite.EntrySize(&e)
			m.Entries = append(m.Entries, e)
		}
		assert.LessOrEqual(t, wire.Size(&m), bound, "a batch of %d entries of %d bytes", len(m.Entries), data)
	}
	for _, sessions := range []int{0, 1, 10, 1000} {
		// The first chunk of a snapshot transfer, which carries its
		// description and as much data as the core then reads.
		m := header
		m.Offset, m.Done, m.Checksum = math.MaxUint64, true, math.MaxUint32
		meta := &raftlite.SnapshotMeta{Index: math.MaxUint64, Term: math.MaxUint64}
		for range sessions {
			meta.Sessions = append(meta.Sessions, raftlite.BroadcastID{Origin: math.MaxUint64, Incarnation: math.MaxUint64, Seq: math.MaxUint64})
		}
		m.Snapshot = meta
		m.Data = make([]byte, raftlite.SnapshotChunkBytes(meta, maxBatch))
		assert.LessOrEqual(t, wire.Size(&m), bound, "a snapshot's first chunk, with %d sessions", sessions)
	}
}
