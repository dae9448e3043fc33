package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/raftlite/raftlite"
)

// ReadResult is what a load of linearizable reads measured.
type ReadResult struct {
	// Reads is how many reads the load made: each a ReadIndex and then a
	// WaitDelivered of the index it returned.
	Reads int
	// Elapsed is the wall-clock time of the whole load, the readers
	// running side by side.
	Elapsed time.Duration
	// P50 and P99 are percentiles of the latency of one ReadIndex call.
	P50, P99 time.Duration
	// Messages is how many messages the nodes sent during the load.
	Messages uint64
	// Elections is how many terms began during the load.
	Elections uint64
}

// PerSecond is the reads per second.
func (r ReadResult) PerSecond() float64 { return float64(r.Reads) / r.Elapsed.Seconds() }

// ReadLoad makes total linearizable reads split among readers, on the
// leader or on a follower: ReadIndex, timed, then WaitDelivered of its
// index, as an application does before reading its state. Every index
// must be at least the leader's commit index when the load began: a read
// sees every broadcast committed before it.
func (c *Cluster) ReadLoad(ctx context.Context, total, readers int, viaFollower bool) (ReadResult, error) {
	l, err := c.leader(ctx)
	if err != nil {
		return ReadResult{}, err
	}
	target := c.nodes[l]
	if viaFollower {
		target = c.nodes[(l+1)%len(c.nodes)]
	}
	committed := c.nodes[l].Status().CommitIndex
	term, sent := c.term(), c.net.sent()
	readers = max(readers, 1)
	lats := make([][]time.Duration, readers)
	errs := make([]error, readers)
	var wg sync.WaitGroup
	start := time.Now()
	for k := range readers {
		count := total / readers
		if k < total%readers {
			count++
		}
		lats[k] = make([]time.Duration, 0, count)
		wg.Go(func() {
			for range count {
				t0 := time.Now()
				idx, err := target.ReadIndex(ctx)
				took := time.Since(t0)
				if err == nil && idx < committed {
					err = fmt.Errorf("bench: ReadIndex returned %d, below the commit index %d when the reads began", idx, committed)
				}
				if err == nil {
					_, err = target.WaitDelivered(ctx, idx)
				}
				if err != nil {
					errs[k] = err
					return
				}
				lats[k] = append(lats[k], took)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for k := range readers {
		if errs[k] != nil {
			return ReadResult{}, fmt.Errorf("bench: reader %d: %w", k, errs[k])
		}
		all = append(all, lats[k]...)
	}
	r := summarize(all, elapsed, 0)
	return ReadResult{Reads: len(all), Elapsed: elapsed, P50: r.P50, P99: r.P99,
		Messages: c.net.sent() - sent, Elections: c.term() - term}, nil
}

// Broadcasts runs total broadcasts split among clients on the leader,
// whatever the setup's Clients and ViaFollower, and measures them as Load
// does.
func (c *Cluster) Broadcasts(ctx context.Context, total, clients int) (Result, error) {
	l, err := c.leader(ctx)
	if err != nil {
		return Result{}, err
	}
	return c.load(ctx, c.nodes[l], clients, total, time.Time{})
}

// Sent is how many messages the nodes sent so far.
func (c *Cluster) Sent() uint64 { return c.net.sent() }

// Isolate cuts node i (from 0) off from the others, both ways, as a
// partition does; the setup must have Partitions on a transport other
// than mem.
func (c *Cluster) Isolate(i int) error {
	if c.net.isolate == nil {
		return fmt.Errorf("bench: %s cannot partition (set Setup.Partitions)", c.setup.Transport)
	}
	c.net.isolate(raftlite.NodeID(i + 1))
	return nil
}

// Heal undoes every Isolate.
func (c *Cluster) Heal() {
	if c.net.heal != nil {
		c.net.heal()
	}
}
