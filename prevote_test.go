package raftlite

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The known traps of pre-vote and check-quorum, each a scenario on hand-
// stepped cores with heartbeats and election timeouts at chosen ticks. Each
// returns what went wrong, or "" if the cluster came through. A test below
// runs them as they are; TestPreVoteTrapsNeedTheirFixes (bugs_test.go) runs
// each with its fix switched off and requires it to go wrong.
var preVoteTraps = []struct {
	name string
	bug  bug // switches the fix off
	run  func(t *testing.T, b bug) string
}{
	{"PreCandidateForgetsItsLeader", bugPreCandidateKeepsLeader, trapPreCandidatesRefuseEachOther},
	{"LowerTermPreVoteIsAnswered", bugDropLowerTermPreVote, trapLowerTermPreVoteDropped},
	{"StrandedNodeForcesAnElection", bugIgnoreLowerTermLeader, trapStrandedHigherTerm},
	{"FollowersGrantTheirLeadersPreVote", bugRefuseLeadersPreVote, trapLeadersOwnPreVote},
}

func TestPreVoteTraps(t *testing.T) {
	for _, trap := range preVoteTraps {
		t.Run(trap.name, func(t *testing.T) {
			if msg := trap.run(t, 0); msg != "" {
				t.Fatal(msg)
			}
		})
	}
}

// newElectionHand is a hand cluster with pre-vote and check-quorum on, and
// bug b switched on.
func newElectionHand(t *testing.T, logs map[NodeID][]uint64, b bug) *hand {
	return newHand(t, logs, func(cc *coreConfig) {
		cc.preVote, cc.checkQuorum, cc.bug = true, true, b
	})
}

// electionClock drives a hand cluster in heartbeats, firing each node's
// election timer at chosen ticks: first at next[id], then every period
// ticks after it fired or after the node last heard from a leader.
type electionClock struct {
	h       *hand
	now     int
	next    map[NodeID]int // when each node's timer fires next
	period  int
	stopped map[NodeID]bool
}

// tick advances the running nodes by one heartbeat, fires the timers that
// are due and delivers what follows.
func (k *electionClock) tick() {
	k.now++
	ids := make([]NodeID, 0, len(k.h.cores))
	for id := NodeID(1); int(id) <= len(k.h.cores); id++ {
		if !k.stopped[id] {
			ids = append(ids, id)
		}
	}
	for _, id := range ids {
		k.h.cores[id].onTick()
		k.h.collect(id)
	}
	k.h.run()
	for _, id := range ids {
		c := k.h.cores[id]
		if c.role == Leader || (c.role == Follower && c.leader != None && c.electionElapsed == 0) {
			k.next[id] = k.now + k.period // a leader, or a follower that just heard from one
		}
		if k.now >= k.next[id] {
			c.onElectionTimeout()
			k.h.collect(id)
			k.next[id] = k.now + k.period
		}
	}
	k.h.run()
}

// leaderAmong returns a node of ids that leads, or None.
func leaderAmong(h *hand, ids ...NodeID) NodeID {
	for _, id := range ids {
		if h.cores[id].role == Leader {
			return id
		}
	}
	return None
}

// etcd-io/etcd#8334: the leader is cut off. Node 3 holds an entry node 2
// lacks, so node 2 cannot win; node 3 can, with node 2's vote. They time out
// in turn, five ticks apart. A pre-candidate that remembered the leader it
// gave up on, and counted itself in lease with it, would refuse node 3's
// pre-vote every time, while node 3 refused node 2's for its log: no leader
// ever.
func trapPreCandidatesRefuseEachOther(t *testing.T, b bug) string {
	h := newElectionHand(t, map[NodeID][]uint64{1: {1}, 2: {1}, 3: {1}}, b)
	h.elect(1)
	h.cut = func(m Message) bool { return m.To == 2 && len(m.Entries) > 0 } // node 2 hears heartbeats only
	h.cores[1].onBroadcast([]byte("x"))
	h.collect(1)
	h.run()
	if h.cores[3].log.lastIndex() <= h.cores[2].log.lastIndex() {
		return "setup: node 3 should hold more than node 2"
	}
	h.cut = func(m Message) bool { return m.From == 1 || m.To == 1 }
	k := &electionClock{h: h, period: 10, next: map[NodeID]int{1: 1 << 30, 2: 10, 3: 15}, stopped: map[NodeID]bool{1: true}}
	for k.now < 200 {
		k.tick()
		if leaderAmong(h, 2, 3) != None {
			return ""
		}
	}
	return fmt.Sprintf("no leader among nodes 2 and 3 after %d ticks: pre-candidates refused each other", k.now)
}

// etcd-io/etcd#8243: node 3 is down. Node 1 holds the longer log but is a
// term behind node 2, whose short log cannot win. Node 1's pre-vote, for a
// term below node 2's, must be refused with node 2's term, so that node 1
// catches up and can stand; dropped, it leaves node 1 asking for ever.
func trapLowerTermPreVoteDropped(t *testing.T, b bug) string {
	h := newElectionHand(t, map[NodeID][]uint64{1: {1, 2}, 2: {1}, 3: {1}}, b)
	h.cores[2].hs.Term = 5
	h.cut = func(m Message) bool { return m.From == 3 || m.To == 3 }
	k := &electionClock{h: h, period: 10, next: map[NodeID]int{1: 15, 2: 10, 3: 1 << 30}, stopped: map[NodeID]bool{3: true}}
	for k.now < 200 {
		k.tick()
		if leaderAmong(h, 1, 2) != None {
			return ""
		}
	}
	return fmt.Sprintf("no leader after %d ticks: node 1 stayed at term %d, node 2 at %d", k.now, h.cores[1].hs.Term, h.cores[2].hs.Term)
}

// A node stranded at a higher term (it stood for election while cut off,
// before pre-vote, say) rejoins a healthy cluster. Its pre-votes are refused
// while the leader lives, so it can rejoin only by answering the leader's
// lower-term requests with its term, which makes the leader step down and
// stand again at a term above it.
func trapStrandedHigherTerm(t *testing.T, b bug) string {
	h := newElectionHand(t, map[NodeID][]uint64{1: {1}, 2: {1}, 3: {1}}, b)
	h.elect(1)
	h.cores[3].becomeFollower(7, None) // stood for election alone, before pre-vote, say
	h.collect(3)
	k := &electionClock{h: h, period: 10, next: map[NodeID]int{1: 10, 2: 10, 3: 15}, stopped: map[NodeID]bool{}}
	for k.now < 200 {
		k.tick()
		l := leaderAmong(h, 1, 2, 3)
		if l != None && h.cores[3].leader == l && h.cores[3].hs.Term == h.cores[l].hs.Term {
			return ""
		}
	}
	return fmt.Sprintf("node 3 still stranded at term %d after %d ticks (node 1: %v in term %d)",
		h.cores[3].hs.Term, k.now, h.cores[1].role, h.cores[1].hs.Term)
}

// hashicorp/raft#606: a leader that cannot hear its followers steps down
// (check-quorum), while they still hear it and count it live. When it
// stands again, its followers must grant its pre-vote: the leader they
// count on is the one asking. Refused, it waits for them to time out.
func trapLeadersOwnPreVote(t *testing.T, b bug) string {
	h := newElectionHand(t, map[NodeID][]uint64{1: {1}, 2: {1}, 3: {1}}, b)
	h.elect(1)
	h.cut = func(m Message) bool { return m.To == 1 } // the leader hears nothing
	k := &electionClock{h: h, period: 10, next: map[NodeID]int{1: 1 << 30, 2: 1 << 30, 3: 1 << 30}, stopped: map[NodeID]bool{}}
	for h.cores[1].role == Leader && k.now < 50 {
		k.tick()
	}
	if h.cores[1].role == Leader {
		return "setup: the leader never stepped down"
	}
	if h.cores[2].leader != 1 || h.cores[3].leader != 1 {
		return "setup: the followers should still follow node 1"
	}
	h.cut = nil
	h.cores[1].onElectionTimeout()
	h.collect(1)
	h.run()
	if h.cores[1].role != Leader {
		return fmt.Sprintf("node 1's own followers refused it: it is %v", h.cores[1].role)
	}
	return ""
}

// Reads that arrive while a round of confirmation is out wait for the next
// round and share it: two rounds, not one per read.
func TestReadsArrivingTogetherShareARound(t *testing.T) {
	h := newHand(t, map[NodeID][]uint64{1: {1}, 2: {1}, 3: {1}}, nil)
	h.elect(1)
	l := h.cores[1]
	l.onReadIndex(1)
	h.collect(1) // round 1 goes out
	for id := uint64(2); id <= 10; id++ {
		l.onReadIndex(id)
		h.collect(1)
	}
	sent := len(h.queue)
	var done []readDone
	for len(h.queue) > 0 {
		m := h.queue[0]
		h.queue = h.queue[1:]
		h.cores[m.To].onMessage(m)
		rd := h.cores[m.To].takeReady()
		h.queue = append(append(h.queue, rd.Messages...), rd.AfterSync...)
		if m.To == 1 {
			done = append(done, rd.Reads...)
		}
	}
	require.Len(t, done, 10, "every read answered")
	for _, r := range done {
		assert.Equal(t, l.commit, r.Index)
	}
	assert.Equal(t, uint64(2), l.reads.seq, "reads 2-10 waited for round 1 and shared round 2")
	assert.Equal(t, 2, sent, "one heartbeat per follower went out for round 1 while the others waited")
}

// A leader's lease rests on the followers that confirmed it refusing votes
// until it runs out. Node 2 confirms leader 1's lease, then restarts; node
// 3, cut off from node 1, stands for election. Were node 2 to vote at once,
// as though it had promised nothing before its crash, node 3 would lead
// and commit while node 1, cut off now too, still served lease reads at its
// old commit index: stale reads. It returns what went wrong, or "".
func leaseAcrossAVoterRestart(t *testing.T, b bug) string {
	h := newHand(t, map[NodeID][]uint64{1: {1}, 2: {1}, 3: {1}}, func(cc *coreConfig) {
		cc.preVote, cc.checkQuorum, cc.bug = true, true, b
		cc.leaseTicks = leaseTicks(cc.electionTimeout, cc.heartbeatInterval)
	})
	for id := NodeID(1); id <= 3; id++ { // past the guard of nodes that just started
		for range 10 {
			h.cores[id].onTick()
		}
		h.collect(id)
	}
	h.queue = nil
	h.elect(1)
	l := h.cores[1]
	h.cut = func(m Message) bool { return (m.From == 1 && m.To == 3) || (m.From == 3 && m.To == 1) }
	l.onReadIndex(1)
	h.collect(1)
	h.run()
	if !l.leaseValid() {
		return "setup: node 1 holds no lease"
	}

	// Node 2 restarts with what it saved; node 1 is cut off from everyone.
	old := h.cores[2]
	ents := old.log.slice(old.log.memFirst(), old.log.lastIndex()+1, 1<<30)
	h.cores[2] = newCore(old.cfg, old.hs, bootInMemory(SnapshotMeta{}, ents, 0), rand.New(rand.NewPCG(2, 1)))
	h.collect(2)
	h.cut = func(m Message) bool { return m.From == 1 || m.To == 1 }
	h.cores[3].onElectionTimeout()
	h.collect(3)
	h.run()
	if n := h.cores[3]; n.role == Leader {
		n.onBroadcast([]byte("written while node 1 still holds its lease"))
		h.collect(3)
		h.run()
	}

	l.onReadIndex(2)
	rd := l.takeReady()
	if len(rd.Reads) != 1 {
		return "setup: node 1 did not serve the read from its lease"
	}
	if got, committed := rd.Reads[0].Index, h.cores[3].commit; got < committed {
		return fmt.Sprintf("node 1 served a lease read at %d while node 3 had committed up to %d", got, committed)
	}
	return ""
}

func TestLeaseSurvivesAVoterRestart(t *testing.T) {
	if msg := leaseAcrossAVoterRestart(t, 0); msg != "" {
		t.Fatal(msg)
	}
}
