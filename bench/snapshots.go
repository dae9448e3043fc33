package bench

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"time"

	"github.com/raftlite/raftlite"
)

// Config's defaults for TrailingEntries and (as Setup leaves
// MaxBatchBytes at its default) MaxInflightBytes.
const (
	defaultTrailingEntries  = 1 << 12
	defaultMaxInflightBytes = 8 << 20
)

// SnapshotLoadResult is commit latency under a steady load, in three
// windows: Quiet, with no snapshot activity; Taking, while the leader's
// application writes snapshots of its state, one after another; Sending,
// while the leader
// streams a snapshot to a follower that was stopped and restarted after
// the leader compacted its log past it (from the restart until the
// follower has installed it).
type SnapshotLoadResult struct {
	Quiet    Result        // no snapshot activity
	Taking   Result        // the leader's application writes Taken
	Sending  Result        // the leader streams Sent to Follower
	Taken    []Snapshot    // the snapshots of the Taking window
	Sent     Snapshot      // the snapshot the follower was sent
	Send     time.Duration // the Sending window
	Follower int           // the follower stopped, from 1
	// Elections is how many terms began during each window (Quiet,
	// Taking, Sending): a leader change costs an election timeout or
	// more, which a p99 shows.
	Elections [3]uint64
}

// term returns the highest term of the running nodes.
func (c *Cluster) term() uint64 {
	var t uint64
	for i, n := range c.nodes {
		if !c.stopped[i] {
			t = max(t, n.Status().Term)
		}
	}
	return t
}

// SnapshotLoad measures the windows of SnapshotLoadResult, on a cluster
// whose setup has SnapshotEvery (math.MaxUint64: the snapshots are the
// benchmark's only) and StateBytes, the size of each snapshot. The Quiet
// window lasts quiet commits, the Taking one takes snapshots in a row (each
// after the application applied something more, as it must be). The
// follower is then stopped while the load
// runs, until the running nodes' next snapshots leave its log, and what
// the leader sent it while it was down, behind their compaction points.
// At the end the applications must agree, and the follower must have
// restored the snapshot it was sent.
func (c *Cluster) SnapshotLoad(ctx context.Context, quiet int64, takes int) (res SnapshotLoadResult, err error) {
	r, err := c.Run(ctx)
	if err != nil {
		return res, err
	}
	defer func() {
		if stopErr := r.Stop(); err == nil && stopErr != nil {
			err = stopErr
		}
	}()
	term := c.term()
	if err := r.WaitCommits(ctx, quiet); err != nil {
		return res, err
	}
	res.Quiet = r.Window()
	res.Elections[0], term = c.term()-term, c.term()

	l, err := c.leader(ctx)
	if err != nil {
		return res, err
	}
	for range max(takes, 1) {
		if len(res.Taken) > 0 {
			if _, err := c.applied(ctx, l, res.Taken[len(res.Taken)-1].Index+1); err != nil {
				return res, err
			}
		}
		s, err := c.Snapshot(l)
		if err != nil {
			return res, err
		}
		res.Taken = append(res.Taken, s)
	}
	res.Taking = r.Window()
	res.Elections[1] = c.term() - term

	f := (l + 1) % len(c.nodes)
	res.Follower = f + 1
	if err := c.Stop(f); err != nil {
		return res, err
	}
	// Past the follower's log, the entries the leader keeps (trailing),
	// and those it sent the follower while it was down (tcp delivers them
	// when it is back): up to MaxInflightBytes, fewer entries than this.
	behind := c.nodes[f].Status().LastIndex + cmp.Or(c.setup.TrailingEntries, defaultTrailingEntries) +
		uint64(defaultMaxInflightBytes/max(c.setup.Size, 1))
	// Every running node snapshots past it, so that whichever leads when
	// the follower is back sends it a snapshot.
	sent, err := c.snapshotAll(ctx, behind+1)
	if err != nil {
		return res, err
	}
	res.Sent = sent[l]
	low := uint64(math.MaxUint64) // the lowest of them
	for _, s := range sent {
		if s.Index != 0 {
			low = min(low, s.Index)
		}
	}

	r.Window()
	term = c.term()
	t0 := time.Now()
	if err := c.Restart(f); err != nil {
		return res, err
	}
	// Until it installed the snapshot, or caught up some other way (a new
	// leader that had not compacted its log would send it entries).
	var st raftlite.Status
	err = poll(ctx, time.Millisecond, func() bool {
		st = c.nodes[f].Status()
		return st.SnapshotIndex >= low || st.CommitIndex >= res.Sent.Index
	})
	res.Send = time.Since(t0)
	res.Sending = r.Window()
	res.Elections[2] = c.term() - term
	switch {
	case err != nil:
		return res, fmt.Errorf("bench: node %d did not catch up to the snapshot at %d: %w", f+1, res.Sent.Index, err)
	case st.SnapshotIndex < low:
		return res, fmt.Errorf("bench: node %d caught up to %d without a snapshot", f+1, res.Sent.Index)
	}
	if err := r.Stop(); err != nil {
		return res, err
	}
	return res, c.restoredOnce(ctx, f)
}

// restoredOnce checks, once the load is over, that the applications agree
// and that node f's restored exactly one snapshot.
func (c *Cluster) restoredOnce(ctx context.Context, f int) error {
	if err := c.Agree(ctx); err != nil {
		return err
	}
	if got := c.apps[f].state().restores; got != 1 {
		// tcp, for one, delivers what the leader sent the node while it
		// was down, up to Config.MaxInflightBytes of entries, when it is
		// back: a node that missed less catches up without a snapshot.
		return fmt.Errorf("bench: node %d restored %d snapshots, not 1", f+1, got)
	}
	return nil
}

// CatchUpResult is how a follower that missed many broadcasts was brought
// back by a snapshot.
type CatchUpResult struct {
	Missed Result // the broadcasts it missed
	// Snapshot is the one it was sent, the leader's.
	Snapshot Snapshot
	// Delivered is the time from its restart until its Delivered reached
	// the last broadcast's index; Applied, until its application had
	// restored and applied everything up to it.
	Delivered, Applied time.Duration
	// Messages is how many messages the follower applied one by one
	// before it was back: those the leader had sent it before it stopped
	// (tcp delivers them once it is back) and those after the snapshot.
	Messages int
	Follower int // from 1
	// HeapGrowth and RSSGrowth are how far the live heap and RSS rose,
	// at their highest, above where they were before the restart: what
	// the transfer and the restore held, on all three nodes.
	HeapGrowth, RSSGrowth int64
}

// CatchUp stops a follower, commits missed broadcasts without it, has the
// other nodes' applications snapshot at the last one (which compacts
// their logs behind it), restarts the follower and measures how long it
// takes to catch up. At the end the applications must agree, and the
// follower must have restored one snapshot.
func (c *Cluster) CatchUp(ctx context.Context, missed int) (CatchUpResult, error) {
	var res CatchUpResult
	l, err := c.leader(ctx)
	if err != nil {
		return res, err
	}
	f := (l + 1) % len(c.nodes)
	res.Follower = f + 1
	if err := c.Stop(f); err != nil {
		return res, err
	}
	if res.Missed, err = c.Load(ctx, missed); err != nil {
		return res, err
	}
	last := res.Missed.Last
	sent, err := c.snapshotAll(ctx, last)
	if err != nil {
		return res, err
	}
	res.Snapshot = sent[l]
	before := c.apps[f].state().messages
	baseHeap, baseRSS, stop := watchMemory(10 * time.Millisecond)
	t0 := time.Now()
	if err := c.Restart(f); err != nil {
		stop()
		return res, err
	}
	if err := poll(ctx, time.Millisecond, func() bool { return c.nodes[f].Status().Delivered >= last }); err != nil {
		return res, fmt.Errorf("bench: node %d delivered up to %d of %d: %w", f+1, c.nodes[f].Status().Delivered, last, err)
	}
	res.Delivered = time.Since(t0)
	if _, err := c.applied(ctx, f, last); err != nil {
		return res, err
	}
	res.Applied = time.Since(t0)
	peakHeap, peakRSS := stop()
	res.HeapGrowth, res.RSSGrowth = peakHeap-baseHeap, peakRSS-baseRSS
	res.Messages = c.apps[f].state().messages - before
	return res, c.restoredOnce(ctx, f)
}

// snapshotAll waits until every running node's application has applied
// index, and has each take a snapshot; it returns them by node (zero for
// a stopped node).
func (c *Cluster) snapshotAll(ctx context.Context, index uint64) ([]Snapshot, error) {
	taken := make([]Snapshot, len(c.nodes))
	for i := range c.nodes {
		if c.stopped[i] {
			continue
		}
		if _, err := c.applied(ctx, i, index); err != nil {
			return nil, err
		}
		s, err := c.Snapshot(i)
		if err != nil {
			return nil, err
		}
		taken[i] = s
	}
	return taken, nil
}
