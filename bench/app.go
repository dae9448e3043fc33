package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/raftlite/raftlite"
)

// app is the application each node runs when Setup.SnapshotEvery is set,
// as the README's snapshot section shows one: its state is the index and a
// running hash of everything it applied, in order, and stateBytes of fixed
// padding standing for the bulk of an application's state. It snapshots
// when its node asks, or when the benchmark does (snapshotNow), and
// restores what it is handed. A snapshot is a header (index, hash, padding
// length) and the padding, written and checked a block at a time, so that
// one of any size costs a block of memory.
type app struct {
	stateBytes int64
	auto       bool // snapshot when a delivery says SnapshotDue

	mu sync.Mutex // held while applying, and while a snapshot is written
	st appState
}

// appState is what an app holds and did.
type appState struct {
	index, sum uint64
	snapshots  int   // taken
	restores   int   // restored from
	messages   int   // applied one by one
	lastBytes  int64 // of the last snapshot taken or restored
	err        error // the first thing that went wrong
}

const snapshotHeader = 24

// padBlock is the padding's pattern, repeated.
var padBlock = func() []byte {
	b := make([]byte, 64<<10)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}()

func (a *app) state() appState {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.st
}

// apply takes node n's delivery d, on the goroutine that reads them.
func (a *app) apply(n *raftlite.Node, d raftlite.Delivery) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case d.Snapshot != nil:
		a.restore(d)
	case d.Index <= a.st.index:
		a.fail(fmt.Errorf("delivered index %d after %d", d.Index, a.st.index))
	default:
		a.st.index, a.st.sum = d.Index, step(a.st.sum, d.Index, d.Data)
		a.st.messages++
	}
	if d.SnapshotDue && a.auto {
		if err := a.snapshot(n); err != nil && !errors.Is(err, raftlite.ErrClosed) {
			a.fail(err)
		}
	}
}

// step adds the message at index to the running hash sum.
func step(sum, index uint64, data []byte) uint64 {
	var h maphash.Hash
	h.SetSeed(hashSeed)
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:], sum)
	binary.LittleEndian.PutUint64(b[8:], index)
	h.Write(b[:])
	h.Write(data)
	return h.Sum64()
}

func (a *app) fail(err error) {
	if a.st.err == nil {
		a.st.err = err
	}
}

// snapshotNow stores the state as of the last message applied, on the
// caller's goroutine, which holds off the application's deliveries
// meanwhile, as a snapshot taken in the delivery loop would. It returns
// the snapshot's index and how long it took.
func (a *app) snapshotNow(n *raftlite.Node) (Snapshot, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t0 := time.Now()
	err := a.snapshot(n)
	return Snapshot{Index: a.st.index, Bytes: a.st.lastBytes, Took: time.Since(t0)}, err
}

// Snapshot describes a snapshot an application took.
type Snapshot struct {
	Index uint64        // the last message it contains
	Bytes int64         // of data, as the application wrote it
	Took  time.Duration // Node.Snapshot's call, the writing included
}

func (a *app) snapshot(n *raftlite.Node) error {
	index, sum, size := a.st.index, a.st.sum, a.stateBytes
	err := n.Snapshot(context.Background(), index, func(w io.Writer) error {
		var h [snapshotHeader]byte
		binary.LittleEndian.PutUint64(h[:], index)
		binary.LittleEndian.PutUint64(h[8:], sum)
		binary.LittleEndian.PutUint64(h[16:], uint64(size))
		if _, err := w.Write(h[:]); err != nil {
			return err
		}
		for left := size; left > 0; {
			k := min(left, int64(len(padBlock)))
			if _, err := w.Write(padBlock[:k]); err != nil {
				return err
			}
			left -= k
		}
		return nil
	})
	if err == nil {
		a.st.snapshots++
		a.st.lastBytes = snapshotHeader + size
	}
	return err
}

// restore replaces the state with the snapshot d hands over, checking it
// whole.
func (a *app) restore(d raftlite.Delivery) {
	defer d.Snapshot.Close()
	var h [snapshotHeader]byte
	if _, err := io.ReadFull(d.Snapshot, h[:]); err != nil {
		a.fail(fmt.Errorf("restoring the snapshot at %d: %w", d.Index, err))
		return
	}
	index, sum := binary.LittleEndian.Uint64(h[:]), binary.LittleEndian.Uint64(h[8:])
	size := int64(binary.LittleEndian.Uint64(h[16:]))
	if index != d.Index {
		a.fail(fmt.Errorf("the snapshot delivered at %d says it is at %d", d.Index, index))
		return
	}
	if err := checkPadding(d.Snapshot, size); err != nil {
		a.fail(fmt.Errorf("restoring the snapshot at %d: %w", d.Index, err))
		return
	}
	a.st.index, a.st.sum = index, sum
	a.st.restores++
	a.st.lastBytes = snapshotHeader + size
}

// checkPadding reads size bytes of padding from r, and then its end.
func checkPadding(r io.Reader, size int64) error {
	buf := make([]byte, len(padBlock))
	for left := size; left > 0; {
		k := min(left, int64(len(buf)))
		if _, err := io.ReadFull(r, buf[:k]); err != nil {
			return err
		}
		if !bytes.Equal(buf[:k], padBlock[:k]) {
			return fmt.Errorf("padding differs %d bytes before its end", left)
		}
		left -= k
	}
	if k, err := r.Read(buf[:1]); k != 0 || err != io.EOF {
		return fmt.Errorf("more than %d bytes of padding", size)
	}
	return nil
}

// Snapshot has node i's application take a snapshot now (see snapshotNow).
func (c *Cluster) Snapshot(i int) (Snapshot, error) {
	if c.apps == nil {
		return Snapshot{}, errors.New("bench: Snapshot needs the applications of Setup.SnapshotEvery")
	}
	s, err := c.apps[i].snapshotNow(c.nodes[i])
	if err != nil {
		return s, fmt.Errorf("bench: node %d: %w", i+1, err)
	}
	return s, nil
}

// applied waits until node i's application has applied index, or went
// wrong, and returns its state.
func (c *Cluster) applied(ctx context.Context, i int, index uint64) (appState, error) {
	var st appState
	err := poll(ctx, time.Millisecond, func() bool {
		st = c.apps[i].state()
		return st.index >= index || st.err != nil
	})
	switch {
	case err != nil:
		return st, fmt.Errorf("bench: node %d applied up to %d of %d: %w", i+1, st.index, index, err)
	case st.err != nil:
		return st, fmt.Errorf("bench: node %d: %w", i+1, st.err)
	}
	return st, nil
}

// Agree checks the applications of a cluster with Setup.SnapshotEvery
// once its load is over: it broadcasts a last message, waits until every
// running node's application has applied it, and checks that they all
// hold the same state, as of that message, and that none saw anything
// wrong (a message twice, a damaged snapshot, a failed snapshot).
func (c *Cluster) Agree(ctx context.Context) error {
	if c.apps == nil {
		return errors.New("bench: Agree needs the applications of Setup.SnapshotEvery: use Verify")
	}
	l, err := c.leader(ctx)
	if err != nil {
		return err
	}
	last, err := c.nodes[l].Broadcast(ctx, []byte("the last message"))
	if err != nil {
		return fmt.Errorf("bench: broadcasting the last message: %w", err)
	}
	first := -1
	var want uint64
	for i := range c.apps {
		if c.stopped[i] {
			continue
		}
		st, err := c.applied(ctx, i, last)
		if err != nil {
			return err
		}
		if st.index != last {
			return fmt.Errorf("bench: node %d applied %d, after the last message (%d)", i+1, st.index, last)
		}
		if first < 0 {
			first, want = i, st.sum
		} else if st.sum != want {
			return fmt.Errorf("bench: nodes %d and %d hold different states at %d", first+1, i+1, last)
		}
	}
	return nil
}
