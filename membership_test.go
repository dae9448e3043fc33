package raftlite_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/raftlite/raftlite"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// join starts node id as a node that is not yet a member (Config.Join).
func (c *cluster) join(id raftlite.NodeID) {
	c.t.Helper()
	c.ids = append(c.ids, id)
	c.peers[id] = fmt.Sprintf("node-%d", id)
	c.persisters[id] = raftlite.NewMemoryPersister()
	configure := c.configure
	c.configure = func(cfg *raftlite.Config) {
		if configure != nil {
			configure(cfg)
		}
		cfg.Join = cfg.ID == id || cfg.Join
	}
	c.start(id)
	c.configure = configure
}

// change makes a membership change on the leader, retrying while the
// previous one is in progress.
func (c *cluster) change(ch raftlite.MembershipChange) {
	c.t.Helper()
	for range 100 {
		l := c.leader()
		ctx, cancel := contextWithTimeout(10 * time.Second)
		err := c.nodes[l].ChangeMembership(ctx, ch)
		cancel()
		if err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("membership change %+v never went through", ch)
}

// voters returns the voters of the leader's configuration.
func (c *cluster) voters() []raftlite.NodeID {
	var ids []raftlite.NodeID
	for _, m := range c.nodes[c.leader()].Status().Membership.Members {
		if !m.Learner {
			ids = append(ids, m.ID)
		}
	}
	return ids
}

// TestGrowThreeToFiveAndShrinkBackUnderLoad: under steady broadcasts from
// the first three nodes, two nodes join and become voters (each a learner
// until it caught up); then, under broadcasts from the two new ones, two of
// the first three, the leader among them, are removed. No broadcast fails
// or commits twice, and the members that remain deliver one log.
func TestGrowThreeToFiveAndShrinkBackUnderLoad(t *testing.T) {
	scenario(t, func(t *testing.T) {
		c := newCluster(t, 3, 51)
		c.leader()
		stop := make(chan struct{})
		grow := startLoad(c, stop)
		time.Sleep(100 * time.Millisecond)
		for _, id := range []raftlite.NodeID{4, 5} {
			c.join(id)
			c.change(raftlite.MembershipChange{Op: raftlite.AddVoter, ID: id, Addr: c.peers[id]})
		}
		assert.Equal(t, []raftlite.NodeID{1, 2, 3, 4, 5}, c.voters())
		// Each addition takes two configurations: the learner, then its
		// promotion.
		assert.EqualValues(t, 4, c.nodes[c.leader()].Metrics().MembershipChanges)
		time.Sleep(100 * time.Millisecond)
		close(stop)
		grow.wg.Wait()

		first := c.leader()
		other := without([]raftlite.NodeID{1, 2, 3}, first)[0]
		stop = make(chan struct{})
		shrink := startLoadOn(c, stop, 4, 5)
		time.Sleep(100 * time.Millisecond)
		for _, id := range []raftlite.NodeID{other, first} {
			c.change(raftlite.MembershipChange{Op: raftlite.Remove, ID: id})
		}
		assert.NotContains(t, c.voters(), first)
		assert.Len(t, c.voters(), 3)
		time.Sleep(200 * time.Millisecond)
		close(stop)
		shrink.wg.Wait()

		c.stop(first)
		c.stop(other)
		c.settle()
		_, at := c.checkLog()
		for _, load := range []*steadyLoad{grow, shrink} {
			for msg, idx := range load.acked {
				require.Contains(t, at, msg)
				require.Equal(t, idx, at[msg].Index, "%q", msg)
			}
		}
		t.Logf("%d broadcasts while growing, longest pause in commits %v; %d while shrinking, longest pause %v",
			len(grow.acked), grow.longestPause(), len(shrink.acked), shrink.longestPause())
	})
}

// TestRemovedNodeCannotDeposeTheLeader: a removed node keeps running, hears
// nothing more and stands for election again and again; the members ignore
// it, and the leader stays.
func TestRemovedNodeCannotDeposeTheLeader(t *testing.T) {
	scenario(t, func(t *testing.T) {
		c := newClusterWith(t, 3, 52, withoutPreVoteOrCheckQuorum) // no pre-vote: it would raise its term
		l := c.leader()
		gone := without(c.ids, l)[0]
		c.change(raftlite.MembershipChange{Op: raftlite.Remove, ID: gone})
		term := c.nodes[l].Status().Term
		time.Sleep(3 * time.Second)
		c.mu.Lock()
		rest := without(c.ids, gone)
		c.mu.Unlock()
		assert.Equal(t, l, c.leaderAmong(rest))
		assert.Equal(t, term, c.nodes[l].Status().Term, "the removed node's elections deposed nobody")
		assert.Greater(t, c.nodes[gone].Status().Term, term, "the removed node kept standing")
		c.stop(gone)
		idx := c.broadcast(rest[0], "after")
		c.waitDeliveredIndex(idx)
	})
}

// TestRollingReplacementOfEveryNodeUnderLoad: under steady broadcasts
// from the nodes that stay, each node of a three-node cluster is replaced
// in turn by a new one: the new node joins and becomes a voter, then the
// old one is removed (the leader among them, handing over) and stopped.
// No broadcast fails or commits twice, and commits never pause for as long
// as an election timeout.
func TestRollingReplacementOfEveryNodeUnderLoad(t *testing.T) {
	scenario(t, func(t *testing.T) {
		c := newCluster(t, 3, 53)
		c.leader()
		var loads []*steadyLoad
		for old := raftlite.NodeID(1); old <= 3; old++ {
			fresh := old + 3
			stop := make(chan struct{})
			var loaders []raftlite.NodeID
			for _, id := range c.live() {
				if id != old {
					loaders = append(loaders, id)
				}
			}
			load := startLoadOn(c, stop, loaders...)
			loads = append(loads, load)
			time.Sleep(50 * time.Millisecond)
			c.join(fresh)
			c.change(raftlite.MembershipChange{Op: raftlite.AddVoter, ID: fresh, Addr: c.peers[fresh]})
			c.change(raftlite.MembershipChange{Op: raftlite.Remove, ID: old})
			time.Sleep(50 * time.Millisecond)
			close(stop)
			load.wg.Wait()
			c.stop(old)
		}
		assert.Equal(t, []raftlite.NodeID{4, 5, 6}, c.voters())
		c.settle()
		_, at := c.checkLog()
		var pause time.Duration
		n := 0
		for _, load := range loads {
			for msg, idx := range load.acked {
				require.Contains(t, at, msg)
				require.Equal(t, idx, at[msg].Index, "%q", msg)
			}
			n += len(load.acked)
			pause = max(pause, load.longestPause())
		}
		t.Logf("%d broadcasts across the three replacements; longest pause in commits %v (election timeout 500ms)", n, pause)
		assert.Less(t, pause, 250*time.Millisecond)
	})
}

// TestLeaderAddedAtRunTimeRemovesItselfAndHandsOver: node 4 joins a cluster
// whose members were started without its address (on mem, which sends
// only to the peers a Node gives it, as tcp can), becomes the leader, and
// removes itself. The others keep it among their transport's peers until
// its removal commits, so it hears them acknowledge the entry, learns
// that it committed and hands over: ChangeMembership succeeds, and the
// three go on without it.
func TestLeaderAddedAtRunTimeRemovesItselfAndHandsOver(t *testing.T) {
	scenario(t, func(t *testing.T) {
		c := newCluster(t, 3, 53)
		c.leader()
		c.join(4)
		c.change(raftlite.MembershipChange{Op: raftlite.AddVoter, ID: 4, Addr: c.peers[4]})
		ctx, cancel := contextWithTimeout(10 * time.Second)
		defer cancel()
		require.NoError(t, c.nodes[c.leader()].TransferLeadership(ctx, 4))
		require.Equal(t, raftlite.NodeID(4), c.leader())

		remove := raftlite.MembershipChange{Op: raftlite.Remove, ID: 4}
		err := c.nodes[4].ChangeMembership(ctx, remove)
		for range 100 {
			if !errors.Is(err, raftlite.ErrChangeInProgress) {
				break
			}
			time.Sleep(20 * time.Millisecond) // node 4 has not committed in its term yet
			err = c.nodes[4].ChangeMembership(ctx, remove)
		}
		require.NoError(t, err, "the removal committed and node 4 learnt it")
		rest := []raftlite.NodeID{1, 2, 3}
		l := c.leaderAmong(rest)
		assert.NotEqual(t, raftlite.Leader, c.nodes[4].Status().Role, "node 4 stepped down")
		c.stop(4)
		idx := c.broadcast(l, "after")
		c.waitDeliveredIndex(idx)
	})
}

// TestWipedDiskComesBackUnderTheSameID: a follower's disk is wiped and it
// comes back under its id with nothing. It has lost its votes and what it
// acknowledged, so it must not count: the leader shows it as on the wrong
// disk, and with the third node down nothing commits and no one is
// elected, though two of three nodes run. Re-added with AddVoter, it goes
// through the learner stage, catches up from nothing, and counts again:
// the cluster commits with the third node down.
func TestWipedDiskComesBackUnderTheSameID(t *testing.T) {
	scenario(t, func(t *testing.T) {
		c := newCluster(t, 3, 53)
		l := c.leader()
		wiped, other := without(c.ids, l)[0], without(c.ids, l)[1]
		c.broadcast(wiped, "before")
		for _, x := range c.nodes[l].Status().Membership.Members {
			require.NotZero(t, x.DiskID, "the leader recorded node %d's disk", x.ID)
		}
		old, _ := memberOf(c.nodes[l].Status().Membership, wiped)

		c.stop(wiped)
		c.persisters[wiped] = raftlite.NewMemoryPersister()
		c.start(wiped)
		c.waitDelivered(1) // it hears from the leader again, and delivers from nothing
		f, ok := followerOf(c.nodes[l].Status(), wiped)
		require.True(t, ok)
		assert.True(t, f.WrongDisk, "the leader sees node %d answer from another disk", wiped)
		assert.NotEqual(t, old.DiskID, f.DiskID)

		c.stop(other)
		_, err := c.broadcastFor(l, "stuck", 5*time.Second)
		require.Error(t, err, "committed with a wiped node standing in for a quorum")
		time.Sleep(5 * time.Second)
		for _, id := range []raftlite.NodeID{l, wiped} {
			assert.NotEqual(t, raftlite.Leader, c.nodes[id].Status().Role, "node %d leads with the wiped node's vote", id)
		}

		c.start(other)
		c.change(raftlite.MembershipChange{Op: raftlite.AddVoter, ID: wiped})
		now, ok := memberOf(c.nodes[c.leader()].Status().Membership, wiped)
		require.True(t, ok)
		assert.False(t, now.Learner)
		assert.Equal(t, f.DiskID, now.DiskID, "the configuration records the new disk")

		l = c.leader()
		if l == other {
			require.NoError(t, c.nodes[l].TransferLeadership(t.Context(), raftlite.None))
			l = c.leader()
		}
		c.stop(other)
		idx := c.broadcast(l, "after")
		c.waitDeliveredIndex(idx)
		c.checkLog()
	})
}

func memberOf(m raftlite.Membership, id raftlite.NodeID) (raftlite.Member, bool) {
	for _, x := range m.Members {
		if x.ID == id {
			return x, true
		}
	}
	return raftlite.Member{}, false
}

func followerOf(s raftlite.Status, id raftlite.NodeID) (raftlite.FollowerStatus, bool) {
	for _, f := range s.Followers {
		if f.ID == id {
			return f, true
		}
	}
	return raftlite.FollowerStatus{}, false
}
