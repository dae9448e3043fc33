package raftlite_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/raftlite/raftlite"
)

// TestMetricsCountAQuietClustersWork: three nodes elect once, 20 broadcasts
// on the leader and 10 on a follower commit, a follower reads once. The
// counters say exactly that, and what one node counts sending, its peer
// counts receiving.
func TestMetricsCountAQuietClustersWork(t *testing.T) {
	scenario(t, func(t *testing.T) {
		c := newCluster(t, 3, 1)
		l := c.leader()
		f := without(c.ids, l)[0]
		for i := range 20 {
			c.broadcast(l, fmt.Sprintf("on-leader-%d", i))
		}
		for i := range 10 {
			c.broadcast(f, fmt.Sprintf("on-follower-%d", i))
		}
		ctx, cancel := contextWithTimeout(time.Second)
		defer cancel()
		_, err := c.nodes[f].ReadIndex(ctx)
		require.NoError(t, err)
		c.waitDelivered(30)
		quiesce()

		var elections, won uint64
		for _, id := range c.ids {
			m := c.nodes[id].Metrics()
			elections += m.Elections
			won += m.ElectionsWon
			assert.Equal(t, uint64(1), m.LeaderChanges, "node %d learnt of one leader", id)
			assert.Zero(t, m.StepDowns, "node %d", id)
			st := c.nodes[id].Status()
			assert.Equal(t, float64(st.LastIndex), m.SaveEntries.Sum, "node %d saves each entry once", id)
			assert.Equal(t, m.SaveLatency.Count, m.SaveEntries.Count, "node %d", id)
			assert.NotZero(t, m.SaveLatency.Count, "node %d", id)
		}
		assert.Equal(t, uint64(1), elections, "one election")
		assert.Equal(t, uint64(1), won, "won once")
		assert.Equal(t, uint64(1), c.nodes[l].Metrics().ElectionsWon, "by the leader")

		ml, mf := c.nodes[l].Metrics(), c.nodes[f].Metrics()
		assert.Equal(t, uint64(20), ml.Broadcasts)
		assert.Equal(t, uint64(20), ml.CommitLatency.Count, "the leader's broadcasts committed")
		assert.Zero(t, ml.Forwards, "a leader forwards nothing")
		assert.Equal(t, uint64(10), mf.Broadcasts)
		assert.Equal(t, uint64(10), mf.CommitLatency.Count, "the follower's broadcasts committed")
		assert.Equal(t, uint64(10), mf.Forwards, "the follower forwarded each once")
		assert.Zero(t, mf.ForwardRetries, "and never again")
		assert.Equal(t, uint64(1), mf.ReadLatency.Count, "one read")

		for _, id := range c.ids {
			if id == l {
				continue
			}
			toF, ok := ml.Peer(id)
			require.True(t, ok, "the leader counts node %d", id)
			assert.Equal(t, uint64(31), toF.EntriesSent, "the no-op and 30 broadcasts, each replicated once to node %d", id)
			assert.Positive(t, toF.EntryBytesSent)
			assert.Zero(t, toF.SnapshotBytesSent)
		}
		checkPeersAgree(t, c)
	})
}

// checkPeersAgree: on a network that lost nothing, what each node counts
// sending to a peer, the peer counts receiving; and the transport counts
// what the node handed it.
func checkPeersAgree(t *testing.T, c *cluster) {
	t.Helper()
	for _, from := range c.ids {
		mFrom := c.nodes[from].Metrics()
		assert.Equal(t, "mem", mFrom.Transport.Name)
		for _, to := range c.ids {
			if to == from {
				continue
			}
			mTo := c.nodes[to].Metrics()
			sent, _ := mFrom.Peer(to)
			received, _ := mTo.Peer(from)
			assert.Equal(t, sent.MessagesSent, received.MessagesReceived, "node %d to node %d, by kind", from, to)
			trSent, _ := mFrom.Transport.Peer(to)
			trReceived, _ := mTo.Transport.Peer(from)
			assert.Equal(t, total(sent.MessagesSent), trSent.MessagesSent, "node %d to node %d: node and transport", from, to)
			assert.Equal(t, trSent.MessagesSent, trReceived.MessagesReceived, "node %d to node %d: transports", from, to)
		}
	}
}

// quiesce lets the saves under way finish (a crashDisk save takes up to
// 2ms), and the messages that waited on them arrive: then, between two
// heartbeats, nothing is in flight.
func quiesce() {
	time.Sleep(10 * time.Millisecond) // virtual
	synctest.Wait()
}

func total(byKind map[string]uint64) uint64 {
	var n uint64
	for _, v := range byKind {
		n += v
	}
	return n
}

// TestMetricsCountALeaderChange: the leader is cut off while both followers
// have broadcasts on their way to it. It steps down (check-quorum), the
// others elect a new leader, and the follower that did not win forwards its
// broadcast again, to the new leader; once healed, the old leader follows.
func TestMetricsCountALeaderChange(t *testing.T) {
	scenario(t, func(t *testing.T) {
		c := newCluster(t, 3, 2)
		old := c.leader()
		c.broadcast(old, "before")
		c.net.Isolate(old)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var pending []*raftlite.Pending
		for _, id := range c.ids {
			if id != old {
				p, err := c.nodes[id].Submit(ctx, []byte(fmt.Sprintf("from-%d", id)))
				require.NoError(t, err)
				pending = append(pending, p)
			}
		}
		for _, p := range pending {
			_, err := p.Wait(ctx)
			require.NoError(t, err)
		}
		leader := c.leaderAmong(without(c.ids, old))
		c.net.Heal()
		c.waitDelivered(3)
		quiesce()

		mOld := c.nodes[old].Metrics()
		assert.Equal(t, uint64(1), mOld.StepDowns, "the isolated leader stepped down")
		assert.Equal(t, uint64(2), mOld.LeaderChanges, "itself, then the new leader")
		var won uint64
		for _, id := range c.ids {
			m := c.nodes[id].Metrics()
			won += m.ElectionsWon
			assert.Equal(t, uint64(1), m.CommitLatency.Count, "node %d's broadcast committed", id)
			if id != old {
				assert.Equal(t, uint64(1), m.Forwards, "node %d forwarded its broadcast to the old leader", id)
			}
		}
		assert.Equal(t, uint64(2), won, "two elections won: the first leader's, then %d's", leader)
		for _, id := range without(c.ids, old, leader) {
			assert.NotZero(t, c.nodes[id].Metrics().ForwardRetries, "node %d forwarded its broadcast again, to the new leader", id)
		}
	})
}

// TestMetricsCountSnapshots: while node 3 is down the others snapshot and
// compact; back, it is sent the leader's snapshot, installs it and hands
// it to its application. Each step is counted where it happened.
func TestMetricsCountSnapshots(t *testing.T) {
	scenario(t, func(t *testing.T) {
		c := newSnapCluster(t, 3)
		c.agree(c.broadcast(5, "before"))
		app3 := c.apps[3]
		c.stop(3)
		c.agree(c.broadcast(120, "while-down"))
		c.start(3, app3)
		c.agree(c.broadcast(5, "after"))

		var leader *raftlite.Node
		for id, n := range c.nodes {
			m := n.Metrics()
			if id != 3 {
				assert.Positive(t, m.SnapshotsTaken, "node %d's application snapshotted", id)
			}
			if n.Status().Role == raftlite.Leader {
				leader = n
			}
		}
		require.NotNil(t, leader)
		ml := leader.Metrics()
		assert.Positive(t, ml.SnapshotTransfers, "the leader streamed its snapshot")
		to3, _ := ml.Peer(3)
		assert.Positive(t, to3.SnapshotBytesSent)
		assert.Positive(t, to3.MessagesSent["Snapshot"])
		m3 := c.nodes[3].Metrics()
		assert.Equal(t, uint64(1), m3.SnapshotsInstalled, "node 3 installed it")
		assert.Equal(t, uint64(1), m3.SnapshotsRestored, "and handed it to its application")
		assert.Zero(t, m3.SnapshotTransfers)
	})
}
