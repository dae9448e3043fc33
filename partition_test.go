package raftlite_test

// Scenario tests on the partitions that disjoint groups cannot express: a
// bridge, a ring, a one-way cut and a node that goes down and comes back.
// Like scenario_test.go they run real Nodes on transport/mem in a
// testing/synctest bubble, so every wait is in virtual time.

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/raftlite/raftlite"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// broadcastFromEvery has every live node make each broadcasts, one after
// another, all nodes at once; each must commit within d. It returns the
// index each broadcast committed at, and logs the longest wait.
func (c *cluster) broadcastFromEvery(each int, d time.Duration) map[string]uint64 {
	c.t.Helper()
	var mu sync.Mutex
	acked := map[string]uint64{}
	var slowest time.Duration
	var wg sync.WaitGroup
	for _, id := range c.live() {
		n := c.nodes[id]
		wg.Go(func() {
			for i := range each {
				msg := fmt.Sprintf("from %d #%d", id, i)
				ctx, cancel := contextWithTimeout(d)
				start := time.Now()
				idx, err := n.Broadcast(ctx, []byte(msg))
				cancel()
				if !assert.NoError(c.t, err, "broadcast %q", msg) {
					return
				}
				mu.Lock()
				acked[msg] = idx
				slowest = max(slowest, time.Since(start))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	c.t.Logf("the slowest broadcast took %v (virtual) to commit", slowest)
	require.Len(c.t, acked, len(c.live())*each, "every broadcast commits")
	return acked
}

// checkAcked asserts that every acknowledged broadcast was delivered once, at
// the index its Broadcast returned, and that nothing else was delivered.
func checkAcked(t *testing.T, acked map[string]uint64, seq []raftlite.Delivery, at map[string]raftlite.Delivery) {
	t.Helper()
	require.Len(t, seq, len(acked), "delivered exactly the acknowledged broadcasts")
	for msg, idx := range acked {
		require.Contains(t, at, msg)
		assert.Equal(t, idx, at[msg].Index, "%q returned index %d", msg, idx)
	}
}

// topIndex returns the highest of the indexes in acked.
func topIndex(acked map[string]uint64) uint64 {
	var top uint64
	for _, idx := range acked {
		top = max(top, idx)
	}
	return top
}

// topTerm returns the highest term any live node is in.
func (c *cluster) topTerm() uint64 {
	var top uint64
	for _, id := range c.live() {
		top = max(top, c.nodes[id].Status().Term)
	}
	return top
}

// checkPrefixes asserts that what each live node delivered is a prefix of
// one sequence with no payload twice: nodes may lag, never disagree.
func (c *cluster) checkPrefixes() {
	c.t.Helper()
	got := map[raftlite.NodeID][]raftlite.Delivery{}
	var longest []raftlite.Delivery
	for _, id := range c.live() {
		got[id] = c.deliveries(id)
		if len(got[id]) > len(longest) {
			longest = got[id]
		}
	}
	seen := map[string]bool{}
	for _, d := range longest {
		require.False(c.t, seen[string(d.Data)], "payload %q delivered twice (again at index %d)", d.Data, d.Index)
		seen[string(d.Data)] = true
	}
	for id, ds := range got {
		for k, d := range ds {
			want := longest[k]
			require.True(c.t, d.Index == want.Index && d.Term == want.Term && string(d.Data) == string(want.Data),
				"node %d delivered %+v at position %d, another node %+v", id, d, k, want)
		}
	}
}

// TestBridgeNodeKeepsTwoHalvesCommittingUntilItLeads: five nodes, two halves
// of two that meet only through a fifth, the bridge, running Raft as the
// paper has it (no pre-vote or check-quorum: TestPartialPartitionKeepsItsLeader
// is the default's story). Any leader but the
// bridge cannot reach the far half, whose election timeouts depose it through
// the bridge; the bridge reaches everyone, so it ends up leading for good.
// Without the network ever healing, concurrent broadcasts from every node all
// commit, each once, and every node delivers the same sequence.
func TestBridgeNodeKeepsTwoHalvesCommittingUntilItLeads(t *testing.T) {
	scenario(t, func(t *testing.T) {
		c := newClusterWith(t, 5, 21, withoutPreVoteOrCheckQuorum)
		l := c.leader()
		// Put the current leader in a half, so that the bridge has to take over.
		fs := without(c.ids, l)
		bridge, halfA, halfB := fs[0], []raftlite.NodeID{l, fs[1]}, []raftlite.NodeID{fs[2], fs[3]}
		c.net.Bridge(bridge, halfA, halfB)
		require.False(t, c.net.Linked(halfA[0], halfB[0]), "the halves must not meet")

		acked := c.broadcastFromEvery(10, 30*time.Second)
		c.waitDeliveredIndex(topIndex(acked))
		seq, at := c.checkLog()
		checkAcked(t, acked, seq, at)

		for range 20 {
			if c.leader() == bridge {
				break
			}
			time.Sleep(time.Second)
		}
		require.Equal(t, bridge, c.leader(), "only the bridge can keep leading")
		term := c.nodes[bridge].Status().Term
		time.Sleep(5 * time.Second) // ten election timeouts
		c.waitAgree(bridge, term)
		t.Logf("the bridge settled as leader in term %d", term)
	})
}

// TestRingOfFiveWhereEachSeesOnlyItsNeighboursAgreesAndProgresses: without
// pre-vote or check-quorum, in a ring each node reaches its two neighbours, which with itself make a majority,
// so any node can lead and commit; but the two nodes that are not the
// leader's neighbours never hear from it, time out and depose it through
// their own neighbours, and a node whose log fell behind catches up only
// under a neighbour's leadership. Leadership keeps moving round the ring,
// about once per election timeout, yet concurrent broadcasts from every node
// all commit, once each; nodes may lag but never disagree, and once healed
// they deliver the same sequence.
//
// Progress is slow: a broadcast waits until a leader it can reach takes it,
// typically tens of (virtual) seconds and in 500 runs at most 2m20s. The
// bound is ten minutes, which costs little real time in a synctest bubble.
func TestRingOfFiveWhereEachSeesOnlyItsNeighboursAgreesAndProgresses(t *testing.T) {
	scenario(t, func(t *testing.T) {
		c := newClusterWith(t, 5, 22, withoutPreVoteOrCheckQuorum)
		c.leader()
		c.net.Ring(1, 3, 5, 2, 4) // not in id order: neighbours are 1-3, 3-5, 5-2, 2-4, 4-1
		require.True(t, c.net.Linked(1, 3))
		require.False(t, c.net.Linked(1, 2))
		before := c.topTerm()

		acked := c.broadcastFromEvery(5, 10*time.Minute)
		c.checkPrefixes()
		t.Logf("the ring went through %d terms", c.topTerm()-before)

		c.net.Heal()
		c.waitDeliveredIndex(topIndex(acked))
		seq, at := c.checkLog()
		checkAcked(t, acked, seq, at)
	})
}

// TestOneWayCutLeaderStillLeadsFollowerItCannotHear: the leader of three can
// send to follower f but hears nothing back. f keeps following, since the
// leader's heartbeats reach it: nobody stands for election, and f appends and
// delivers what the leader commits with the other follower. But a broadcast
// made at f is forwarded to a leader that cannot hear it, so it cannot commit
// until the link f→leader is restored; then it commits, once.
func TestOneWayCutLeaderStillLeadsFollowerItCannotHear(t *testing.T) {
	scenario(t, func(t *testing.T) {
		c := newCluster(t, 3, 23)
		l := c.leader()
		term := c.nodes[l].Status().Term
		fs := without(c.ids, l)
		f, g := fs[0], fs[1]
		c.broadcast(l, "before")

		c.net.Cut(f, l)
		require.True(t, c.net.Linked(l, f), "the cut is one-way")
		c.broadcast(l, "from the leader")
		idx := c.broadcast(g, "from the other follower")
		idx2, err := c.broadcastFor(f, "from the unheard follower", 2*time.Second)
		requireUnknown(t, idx2, err, "broadcast at a follower the leader cannot hear")
		c.waitDeliveredIndex(idx)
		c.waitAgree(l, term)
		assert.NotContains(t, c.deliveredData(f), "from the unheard follower")

		c.net.Restore(f, l)
		c.waitDeliveredIndex(c.broadcast(f, "after the restore"))
		c.waitAgree(l, term)
		seq, _ := c.checkLog()
		var got []string
		for _, d := range seq {
			got = append(got, string(d.Data))
		}
		require.Equal(t, []string{"before", "from the leader", "from the other follower",
			"from the unheard follower", "after the restore"}, got)
	})
}

// TestDownFollowerComesBackUpAndCatchesUp: a follower taken off the network
// misses everything the others commit and what is broadcast at it cannot
// commit. Its Node keeps running, so its election timer keeps firing. Brought
// back up, under the leader of the day it catches up, delivering everything
// in the same order as the others, its own broadcast included, once.
//
// Without pre-vote its term climbs while it is down, and on its return that
// higher term deposes the leader, though its stale log cannot win. With
// pre-vote (the default) it only asks whether it could win: its term stays,
// and it comes back without any election at all.
func TestDownFollowerComesBackUpAndCatchesUp(t *testing.T) {
	for _, preVote := range []bool{false, true} {
		t.Run(fmt.Sprintf("preVote=%v", preVote), func(t *testing.T) {
			scenario(t, func(t *testing.T) {
				c := newClusterWith(t, 3, 24, func(cfg *raftlite.Config) { cfg.DisablePreVote = !preVote })
				l := c.leader()
				term := c.nodes[l].Status().Term
				f := without(c.ids, l)[0]
				c.broadcast(f, "before")
				c.waitDeliveredIndex(c.nodes[l].Status().CommitIndex)

				c.net.Down(f)
				up := without(c.ids, f)
				for i := range 9 {
					c.broadcast(up[i%2], fmt.Sprintf("while down %d", i))
				}
				idx, err := c.broadcastFor(f, "at the down node", time.Second)
				requireUnknown(t, idx, err, "broadcast at a down node")
				time.Sleep(3 * time.Second)
				assert.Equal(t, []string{"before"}, c.deliveredData(f), "a down node hears nothing")
				if preVote {
					assert.Equal(t, term, c.nodes[f].Status().Term, "pre-vote: f never raised its term")
				} else {
					assert.Greater(t, c.nodes[f].Status().Term, term, "alone, f kept standing for election")
				}

				c.net.Up(f)
				l2 := c.leader()
				require.NotEqual(t, f, l2, "a stale log cannot win an election")
				c.waitDeliveredIndex(c.broadcast(l2, "after"))
				if preVote {
					require.Equal(t, l, l2, "pre-vote: f's return deposes nobody")
					c.waitAgree(l, term)
				}
				seq, at := c.checkLog()
				require.Len(t, seq, 12)
				require.Equal(t, "before", string(seq[0].Data))
				require.Contains(t, at, "at the down node")
				require.Greater(t, at["at the down node"].Index, at["while down 8"].Index, "it could only commit once f was up")
			})
		})
	}
}

// TestPartialPartitionKeepsItsLeader: with pre-vote and check-quorum (the
// default), a leader that still hears from a quorum keeps leading through a
// partial partition, where without them (the two tests above) leadership
// churns. Nodes that cannot reach it cannot depose it: its followers refuse
// their pre-votes while it lives. The price is theirs: a broadcast made at a
// node that cannot reach the leader waits until the network heals, then
// commits, once. The bridge: the leader in one half, the far half beyond the
// bridge. The ring: the leader's two neighbours make its quorum; the other
// two never hear from it.
func TestPartialPartitionKeepsItsLeader(t *testing.T) {
	for _, shape := range []string{"bridge", "ring"} {
		t.Run(shape, func(t *testing.T) {
			scenario(t, func(t *testing.T) {
				c := newCluster(t, 5, 25)
				l := c.leader()
				term := c.nodes[l].Status().Term
				fs := without(c.ids, l)
				var near, far []raftlite.NodeID
				switch shape {
				case "bridge":
					c.net.Bridge(fs[0], []raftlite.NodeID{l, fs[1]}, []raftlite.NodeID{fs[2], fs[3]})
					near, far = []raftlite.NodeID{l, fs[0], fs[1]}, []raftlite.NodeID{fs[2], fs[3]}
				case "ring":
					c.net.Ring(l, fs[0], fs[1], fs[2], fs[3]) // l's neighbours: fs[0] and fs[3]
					near, far = []raftlite.NodeID{l, fs[0], fs[3]}, []raftlite.NodeID{fs[1], fs[2]}
				}
				acked := map[string]uint64{}
				for i, id := range near {
					msg := fmt.Sprintf("near %d", i)
					acked[msg] = c.broadcast(id, msg)
				}
				for i, id := range far {
					idx, err := c.broadcastFor(id, fmt.Sprintf("far %d", i), 5*time.Second)
					requireUnknown(t, idx, err, "broadcast at a node that cannot reach the leader")
				}
				assert.Equal(t, term, c.topTerm(), "no node raised its term: pre-votes were refused")
				for _, id := range near {
					s := c.nodes[id].Status()
					assert.Equal(t, l, s.Leader, "node %d near the leader follows it", id)
				}

				c.net.Heal()
				for i := range far {
					acked[fmt.Sprintf("far %d", i)] = 0 // committed once healed, at an index we learn below
				}
				c.settle()
				seq, at := c.checkLog()
				require.Len(t, seq, len(acked), "every broadcast committed, once")
				for msg, idx := range acked {
					require.Contains(t, at, msg)
					if idx != 0 {
						assert.Equal(t, idx, at[msg].Index)
					}
				}
				assert.Equal(t, l, c.leader(), "healing deposes nobody")
			})
		})
	}
}
