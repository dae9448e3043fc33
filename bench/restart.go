package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/transport/mem"
	"github.com/raftlite/raftlite/wal"
)

// EntryBytes is the payload size of the entries BuildLog writes.
const EntryBytes = 128

// benchEntries returns n entries of EntryBytes from index first on, as a
// single node's broadcasts in term 1 (all sharing one payload).
func benchEntries(first uint64, n int) []raftlite.Entry {
	es := make([]raftlite.Entry, n)
	data := make([]byte, EntryBytes)
	for i := range data {
		data[i] = byte(i)
	}
	for i := range es {
		es[i] = raftlite.Entry{Index: first + uint64(i), Term: 1, Origin: 1, Incarnation: 1, Seq: first + uint64(i), Data: data}
	}
	return es
}

// BuildLog writes in dir the WAL of a single node that broadcast total
// messages of EntryBytes, in Saves of 4096 entries. With committed, the
// last Save carries a HardState whose commit index is the last entry, as
// the node would have left it; without, no HardState is saved.
func BuildLog(dir string, total int, opts wal.Options, committed bool) error {
	const batch = 4096
	l, err := wal.Open(dir, opts)
	if err != nil {
		return err
	}
	for i := 0; i < total; i += batch {
		k := min(batch, total-i)
		var hs *raftlite.HardState
		if committed && i+k == total {
			hs = &raftlite.HardState{Term: 1, VotedFor: 1, Incarnation: 1, Commit: uint64(total)}
		}
		if err := l.Save(hs, benchEntries(uint64(i+1), k)); err != nil {
			return errors.Join(err, l.Close())
		}
	}
	return l.Close()
}

// SnapshotLog stores a snapshot at the last index of the WAL in dir, as
// the benchmark application with no padding would write it after applying
// everything, and compacts the log behind it. It returns the log's first
// index afterwards (the WAL keeps at least its last segment).
func SnapshotLog(dir string, opts wal.Options) (first uint64, err error) {
	l, err := wal.Open(dir, opts)
	if err != nil {
		return 0, err
	}
	defer func() { err = errors.Join(err, l.Close()) }()
	last := l.LastIndex()
	sink, err := l.CreateSnapshot(raftlite.SnapshotMeta{Index: last, Term: 1,
		Sessions: []raftlite.BroadcastID{{Origin: 1, Incarnation: 1, Seq: last}}})
	if err != nil {
		return 0, err
	}
	var h [snapshotHeader]byte
	binary.LittleEndian.PutUint64(h[:], last)
	if _, err := sink.Write(h[:]); err != nil {
		return 0, errors.Join(err, sink.Abort())
	}
	if err := sink.Close(); err != nil {
		return 0, err
	}
	if err := l.Compact(last); err != nil {
		return 0, err
	}
	return l.FirstIndex(), nil
}

// RestartResult is what TimeRestart measured.
type RestartResult struct {
	// Took is the time from wal.Open to raftlite.New returning a node
	// whose Status shows it up: the log's last index committed and
	// delivered (the application had applied it all).
	Took   time.Duration
	Status raftlite.Status
	// Deliveries is how many deliveries the node made before it was
	// closed: none, as its application had applied everything.
	Deliveries int
}

// TimeRestart opens the WAL in dir (which BuildLog wrote with committed)
// and starts a single node on it, told that its application applied
// everything (Config.Applied is the last index), and measures how long
// that takes. It closes the node.
func TimeRestart(dir string, opts wal.Options) (RestartResult, error) {
	t0 := time.Now()
	l, err := wal.Open(dir, opts)
	if err != nil {
		return RestartResult{}, err
	}
	last := l.LastIndex()
	n, err := raftlite.New(raftlite.Config{ID: 1, Peers: map[raftlite.NodeID]string{1: ""},
		Transport: mem.NewNetwork(1).Transport(1), Persister: l, Applied: last,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return RestartResult{}, err
	}
	res := RestartResult{Status: n.Status()}
	res.Took = time.Since(t0)
	if err := n.Close(); err != nil {
		return res, err
	}
	for range n.Deliveries() {
		res.Deliveries++
	}
	if st := res.Status; st.LastIndex != last || st.CommitIndex != last || st.Delivered != last {
		return res, fmt.Errorf("bench: the node started at last index %d, commit index %d, delivered %d; the log ends at %d",
			st.LastIndex, st.CommitIndex, st.Delivered, last)
	}
	return res, nil
}

// ReadFloor reads every file in dir once, the least that recovering what
// it holds can cost, and returns how long that took and how many bytes
// it read.
func ReadFloor(dir string) (time.Duration, int64, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		return 0, 0, err
	}
	var total int64
	t0 := time.Now()
	for _, name := range names {
		f, err := os.Open(name)
		if err != nil {
			return 0, 0, err
		}
		k, err := io.Copy(io.Discard, f)
		total += k
		if err := errors.Join(err, f.Close()); err != nil {
			return 0, 0, err
		}
	}
	return time.Since(t0), total, nil
}
