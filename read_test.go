package raftlite_test

import (
	"context"
	"testing"
	"time"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/transport/mem"
	"github.com/stretchr/testify/require"
)

// TestReadIndexOnEveryNodeCoversWhatCommittedBefore: a read asked of the
// leader or of a follower returns an index at or above every broadcast
// that committed before it was asked, and WaitDelivered then returns once
// the node has handed those over.
func TestReadIndexOnEveryNodeCoversWhatCommittedBefore(t *testing.T) {
	scenario(t, func(t *testing.T) {
		c := newCluster(t, 3, 31)
		l := c.leader()
		for i, id := range c.ids {
			idx := c.broadcast(c.ids[(i+1)%3], "write")
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			r, err := c.nodes[id].ReadIndex(ctx)
			require.NoError(t, err, "ReadIndex on node %d (leader %d)", id, l)
			require.GreaterOrEqual(t, r, idx, "node %d's read index misses a write committed before it", id)
			last, err := c.nodes[id].WaitDelivered(ctx, r)
			cancel()
			require.NoError(t, err)
			require.GreaterOrEqual(t, last, idx, "node %d: the last message handed over", id)
		}
	})
}

// TestReadIndexWaitsForALeader: with no quorum, a read cannot be confirmed
// and ReadIndex returns ctx's error; healed, it succeeds.
func TestReadIndexWaitsForALeader(t *testing.T) {
	scenario(t, func(t *testing.T) {
		c := newCluster(t, 3, 32)
		c.leader()
		c.net.Partition()
		for _, id := range c.ids {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err := c.nodes[id].ReadIndex(ctx)
			cancel()
			require.ErrorIs(t, err, context.DeadlineExceeded, "node %d served a read with no quorum", id)
		}
		c.net.Heal()
		c.leader()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := c.nodes[c.ids[0]].ReadIndex(ctx)
		require.NoError(t, err)
	})
}

// TestLeaseReadsNeedCheckQuorum: Config refuses lease reads without
// check-quorum, whose refusal of votes is what the lease rests on.
func TestLeaseReadsNeedCheckQuorum(t *testing.T) {
	_, err := raftlite.New(raftlite.Config{ID: 1, Peers: map[raftlite.NodeID]string{1: "a"},
		Transport: mem.NewNetwork(1).Transport(1), Persister: raftlite.NewMemoryPersister(), LeaseReads: true, DisableCheckQuorum: true})
	require.ErrorIs(t, err, raftlite.ErrInvalidConfig)
	require.ErrorContains(t, err, "LeaseReads")
}
