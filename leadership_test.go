package raftlite_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/raftlite/raftlite"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// steadyLoad broadcasts from every live node, one after another, until
// stop is closed, and records each commit's index and (virtual) time.
type steadyLoad struct {
	mu      sync.Mutex
	acked   map[string]uint64
	commits []time.Time
	wg      sync.WaitGroup
}

func startLoad(c *cluster, stop <-chan struct{}) *steadyLoad {
	return startLoadOn(c, stop, c.live()...)
}

// startLoadOn is startLoad on the nodes ids only.
func startLoadOn(c *cluster, stop <-chan struct{}, ids ...raftlite.NodeID) *steadyLoad {
	l := &steadyLoad{acked: map[string]uint64{}}
	c.loads++ // so that every load's payloads differ from every other's
	round := c.loads
	for _, id := range ids {
		n := c.nodes[id]
		l.wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				msg := fmt.Sprintf("load %d-%d-%d", round, id, i)
				ctx, cancel := contextWithTimeout(10 * time.Second)
				idx, err := n.Broadcast(ctx, []byte(msg))
				cancel()
				if !assert.NoError(c.t, err, "broadcast %q", msg) {
					return
				}
				l.mu.Lock()
				l.acked[msg] = idx
				l.commits = append(l.commits, time.Now())
				l.mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	return l
}

// longestPause returns the longest time between two commits.
func (l *steadyLoad) longestPause() time.Duration {
	var longest time.Duration
	for i := 1; i < len(l.commits); i++ {
		longest = max(longest, l.commits[i].Sub(l.commits[i-1]))
	}
	return longest
}

// TestTransferLeadershipUnderLoad: under steady broadcasts from every
// node, the leader hands over to a chosen follower and then to whichever
// is furthest along; each time the target leads, no broadcast fails or
// commits twice, and commits pause for far less than an election timeout.
func TestTransferLeadershipUnderLoad(t *testing.T) {
	scenario(t, func(t *testing.T) {
		c := newCluster(t, 3, 41)
		l := c.leader()
		stop := make(chan struct{})
		load := startLoad(c, stop)
		time.Sleep(200 * time.Millisecond)

		target := without(c.ids, l)[0]
		ctx, cancel := contextWithTimeout(5 * time.Second)
		require.NoError(t, c.nodes[l].TransferLeadership(ctx, target))
		cancel()
		require.Equal(t, target, c.leader(), "the chosen follower leads")
		assert.EqualValues(t, 1, c.nodes[l].Metrics().LeadershipTransfers)
		time.Sleep(200 * time.Millisecond)

		ctx, cancel = contextWithTimeout(5 * time.Second)
		require.NoError(t, c.nodes[target].TransferLeadership(ctx, raftlite.None))
		cancel()
		next := c.leader()
		require.NotEqual(t, target, next)
		time.Sleep(200 * time.Millisecond)
		close(stop)
		load.wg.Wait()

		c.settle()
		seq, at := c.checkLog()
		for msg, idx := range load.acked {
			require.Contains(t, at, msg)
			assert.Equal(t, idx, at[msg].Index, "%q", msg)
		}
		require.GreaterOrEqual(t, len(seq), len(load.acked))
		pause := load.longestPause()
		t.Logf("%d broadcasts; longest pause in commits %v (election timeout 500ms)", len(load.acked), pause)
		assert.Less(t, pause, 250*time.Millisecond, "a transfer pauses commits for far less than an election timeout")
	})
}

// TestTransferLeadershipFailsCleanly: asked of a follower, a transfer says
// ErrNotLeader; to a node that is cut off, it is abandoned after an
// election timeout with ErrTransferFailed, and the leader goes on leading
// and takes the broadcasts it held meanwhile.
func TestTransferLeadershipFailsCleanly(t *testing.T) {
	scenario(t, func(t *testing.T) {
		c := newCluster(t, 3, 42)
		l := c.leader()
		fs := without(c.ids, l)
		ctx, cancel := contextWithTimeout(5 * time.Second)
		defer cancel()
		require.ErrorIs(t, c.nodes[fs[0]].TransferLeadership(ctx, l), raftlite.ErrNotLeader)
		require.ErrorIs(t, c.nodes[l].TransferLeadership(ctx, 99), raftlite.ErrTransferFailed, "not a member")

		c.net.Isolate(fs[0])
		c.broadcast(l, "while one follower is cut off")
		var held uint64
		var wg sync.WaitGroup
		wg.Go(func() {
			time.Sleep(100 * time.Millisecond) // during the transfer
			held = c.broadcast(fs[1], "made during the transfer")
		})
		start := time.Now()
		require.ErrorIs(t, c.nodes[l].TransferLeadership(ctx, fs[0]), raftlite.ErrTransferFailed)
		took := time.Since(start)
		wg.Wait()
		assert.GreaterOrEqual(t, took, 450*time.Millisecond, "abandoned only after an election timeout (counted in heartbeats)")
		assert.Less(t, took, time.Second)
		assert.Equal(t, l, c.leaderAmong(without(c.ids, fs[0])), "the leader goes on leading")
		assert.NotZero(t, held, "the broadcast held during the transfer committed")
		c.net.Heal()
		c.settle()
		_, at := c.checkLog()
		require.Contains(t, at, "made during the transfer")
	})
}

// TestCloseOnTheLeaderHandsOver: closing the leader hands leadership over
// first, so the others commit again well within an election timeout.
func TestCloseOnTheLeaderHandsOver(t *testing.T) {
	scenario(t, func(t *testing.T) {
		c := newCluster(t, 3, 43)
		l := c.leader()
		c.broadcast(l, "before")
		start := time.Now()
		require.NoError(t, c.nodes[l].Close())
		c.mu.Lock()
		delete(c.nodes, l)
		c.mu.Unlock()
		<-c.readerDone[l]
		rest := without(c.ids, l)
		idx := c.broadcast(rest[0], "after")
		took := time.Since(start)
		t.Logf("from Close on the leader to the next commit: %v", took)
		assert.Less(t, took, 250*time.Millisecond, "no election timeout's worth of unavailability")
		c.waitDeliveredIndex(idx)
	})
}
