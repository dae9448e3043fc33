package bench

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/transport/mem"
	"github.com/raftlite/raftlite/wal"
)

// BenchmarkSave appends batches of 128-byte entries, one Save per batch,
// and reports fsyncs per Save (exactly 1) and throughput in data bytes.
func BenchmarkSave(b *testing.B) {
	for _, batch := range []struct {
		name string
		n    int
	}{{"Batch1", 1}, {"Batch64", 64}, {"Batch1024", 1024}} {
		b.Run(batch.name, func(b *testing.B) {
			l, err := wal.Open(b.TempDir(), wal.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			es := benchEntries(1, batch.n)
			b.SetBytes(int64(batch.n * EntryBytes))
			syncs := l.Syncs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				for j := range es {
					es[j].Index = uint64(i*batch.n + j + 1)
				}
				if err := l.Save(nil, es); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(l.Syncs()-syncs)/float64(b.N), "fsyncs/op")
		})
	}
}

// BenchmarkFdatasyncFloor is the floor a Save cannot beat: one small
// append to a plain file and one fdatasync, in the same kind of directory.
func BenchmarkFdatasyncFloor(b *testing.B) {
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "floor"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, EntryBytes+20)
	b.SetBytes(EntryBytes)
	for b.Loop() {
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := fdatasync(f); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpen1M measures the WAL's recovery: Open (scan, checksum and
// index) of a log of 1,000,000 entries of 128 bytes.
func BenchmarkOpen1M(b *testing.B) {
	longRun(b)
	dir := build1M(b)
	for b.Loop() {
		l, err := wal.Open(dir, wal.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if l.LastIndex() != total1M {
			b.Fatalf("opened %d entries, want %d", l.LastIndex(), total1M)
		}
		l.Close()
	}
}

// BenchmarkRestart1M measures a whole node's recovery from the same log:
// Open, then raftlite.New reading every entry back for its terms and
// broadcast table, holding only the tail after the saved commit index.
func BenchmarkRestart1M(b *testing.B) {
	longRun(b)
	dir := build1M(b)
	for b.Loop() {
		l, err := wal.Open(dir, wal.Options{})
		if err != nil {
			b.Fatal(err)
		}
		n, err := raftlite.New(raftlite.Config{ID: 1, Peers: map[raftlite.NodeID]string{1: ""},
			Transport: mem.NewNetwork(1).Transport(1), Persister: l,
			Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		if got := n.Status().LastIndex; got != total1M {
			b.Fatalf("recovered %d entries, want %d", got, total1M)
		}
		n.Close()
	}
}

const total1M = 1_000_000

// build1M writes a log of 1,000,000 entries of 128 bytes, about 150 MB in
// three segments, with no HardState. It takes a few seconds, so -short
// skips its benchmarks.
func build1M(b *testing.B) string {
	if testing.Short() {
		b.Skip("-short: builds a 150 MB log, a few seconds of disk writes")
	}
	dir := b.TempDir()
	if err := BuildLog(dir, total1M, wal.Options{}, false); err != nil {
		b.Fatal(err)
	}
	return dir
}
