package wire

import (
	"bytes"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/raftlite/raftlite"
)

// benchMessage is a typical replication message: 16 entries of 128 bytes.
func benchMessage() raftlite.Message {
	m := raftlite.Message{Kind: raftlite.MsgLogRequest, From: 1, To: 2, Term: 42,
		PrevIndex: 100000, PrevTerm: 41, Commit: 99990}
	for i := range 16 {
		m.Entries = append(m.Entries, raftlite.Entry{Index: uint64(100001 + i), Term: 42,
			Origin: 3, Incarnation: 7, Seq: uint64(5000 + i), Data: bytes.Repeat([]byte{byte(i)}, 128)})
	}
	return m
}

func BenchmarkEncode(b *testing.B) {
	m := benchMessage()
	b.Run("custom", func(b *testing.B) {
		var buf []byte
		b.ReportAllocs()
		for b.Loop() {
			buf = AppendMessage(buf[:0], &m)
		}
		b.SetBytes(int64(len(buf)))
	})
	b.Run("reflect", func(b *testing.B) {
		b.ReportAllocs()
		var n int
		for b.Loop() {
			out, err := msgpack.Marshal(&m)
			if err != nil {
				b.Fatal(err)
			}
			n = len(out)
		}
		b.SetBytes(int64(n))
	})
}

func BenchmarkDecode(b *testing.B) {
	m := benchMessage()
	enc := AppendMessage(nil, &m)
	b.Run("custom", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(enc)))
		var got raftlite.Message
		for b.Loop() {
			if err := DecodeMessage(enc, &got); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reflect", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(enc)))
		for b.Loop() {
			var got raftlite.Message
			if err := msgpack.Unmarshal(enc, &got); err != nil {
				b.Fatal(err)
			}
		}
	})
}
