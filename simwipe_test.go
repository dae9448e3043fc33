package raftlite

import (
	"math/rand/v2"
	"time"
)

// Wiped disks in the simulator: a node loses its storage (and its
// application's state) and comes back on an empty one under the same id,
// as a machine whose disk was replaced does; an operator then re-adds it
// with AddVoter. Disk identity (disk.go) must keep it from voting twice in
// a term, which the single-vote check watches.
//
// Wipes draw from their own generator, not the scheduler's, so that seeds
// without them run exactly as they did before wipes existed.

// checkSingleVote: a leader won only with votes each voter gave it first
// in its term.
const checkSingleVote = "single vote"

type wipeSchedule struct {
	rng *rand.Rand
	// afterVote: a node that has just granted a vote is wiped with this
	// chance, which is when losing the vote matters most.
	afterVote float64
	// pending: wiped nodes the operator has not re-added yet; one at a
	// time, so that a 3-node cluster keeps a quorum. coming: a wipe is
	// about to strike.
	pending map[NodeID]bool
	coming  bool
}

// newWipes decides whether seed wipes disks, and how often.
func newWipes(seed uint64) *wipeSchedule {
	rng := rand.New(rand.NewPCG(seed, 0x3ad15c))
	if rng.Float64() >= 0.3 {
		return nil
	}
	return &wipeSchedule{rng: rng, afterVote: []float64{0.05, 0.2}[rng.IntN(2)], pending: map[NodeID]bool{}}
}

// scheduleWipes wipes a node now and then during the storm, and plays the
// operator who re-adds wiped nodes, until the simulation ends.
func (c *simCluster) scheduleWipes() {
	w := c.wipes
	if w == nil {
		return
	}
	var wipe func()
	wipe = func() {
		if c.s.Now() >= simChaos {
			return
		}
		c.s.After(time.Duration(300+w.rng.IntN(1200))*time.Millisecond, wipe)
		c.wipeSoon(c.nodes[1+w.rng.IntN(len(c.nodes)-1)], "at random")
	}
	c.s.After(time.Duration(w.rng.IntN(1000))*time.Millisecond, wipe)
	var operate func()
	operate = func() {
		c.s.After(time.Duration(100+w.rng.IntN(400))*time.Millisecond, operate)
		c.readdWiped()
	}
	c.s.After(200*time.Millisecond, operate)
}

// wipeable says whether wiping n now can be caught: the committed
// configuration records its disk, and every node's disk holds that
// configuration, so that whichever node campaigns knows the disk. (A node
// that lacks it, a heartbeat or so at a member's start, could be fooled;
// see disk.go.)
func (c *simCluster) wipeable(n *simNode) bool {
	if len(c.wipes.pending) > 0 || c.wipes.coming || !n.alive {
		return false
	}
	l := c.leader()
	if l == nil {
		return false
	}
	// A wiped voter no longer counts: with fewer than three voters
	// the rest cannot make a quorum without it, ever (a real cluster
	// would need an operator to force a new configuration).
	for _, conf := range []Membership{*l.core.conf(), l.core.confAsOf(l.core.commit)} {
		if countVotersOf(conf) < 3 {
			return false
		}
	}
	idx := l.core.committedConfIndex()
	x, ok := l.core.confAsOf(l.core.commit).member(n.id)
	if idx == 0 || idx > uint64(len(c.terms)) || !ok || x.DiskID != n.disk.hs.DiskID {
		return false
	}
	for _, m := range c.nodes[1:] {
		if !m.disk.covers(idx, c.terms[idx-1]) {
			return false
		}
	}
	return true
}

func countVotersOf(m Membership) int {
	n := 0
	for _, x := range m.Members {
		if !x.Learner {
			n++
		}
	}
	return n
}

// wipeSoon crashes n within a few milliseconds, if it can be wiped, and
// brings it back soon after on an empty disk.
func (c *simCluster) wipeSoon(n *simNode, why string) {
	if !c.wipeable(n) {
		return
	}
	w := c.wipes
	w.coming = true
	life := n.life
	c.s.After(time.Duration(w.rng.IntN(3))*time.Millisecond, func() {
		w.coming = false
		if !n.alive || n.life != life {
			return
		}
		w.pending[n.id] = true
		c.tracef("node %d's disk is wiped %s", n.id, why)
		c.crash(n)
		n.lostDisk, n.disk = n.disk, &simDisk{}
		n.delivered, n.appHash = 0, 0
		c.s.After(time.Duration(1+w.rng.IntN(300))*time.Millisecond, func() {
			if !n.alive {
				c.restart(n)
			}
		})
	})
}

// readdWiped is the operator: a wiped node whose disk the committed
// configuration does not record yet is re-added as a voter.
func (c *simCluster) readdWiped() {
	l := c.leader()
	for id := range c.wipes.pending {
		n := c.nodes[id]
		if l == nil || !n.alive {
			continue
		}
		x, ok := l.core.confAsOf(l.core.commit).member(id)
		if !ok || (x.DiskID == n.disk.hs.DiskID && !x.Learner) {
			delete(c.wipes.pending, id)
			continue
		}
		c.tracef("operator: node %d asked to re-add wiped node %d", l.id, id)
		l.core.onChangeMembership(confChange{kind: changeAddVoter, member: Member{ID: id}})
		c.afterEvent(l)
	}
}

// noteDurableVote records the first vote each node made durable in each
// term, its own as a candidate included, for the single-vote check.
func (c *simCluster) noteDurableVote(id NodeID, hs *HardState) {
	key := [2]uint64{uint64(id), hs.Term}
	if _, ok := c.votesGiven[key]; !ok {
		c.votesGiven[key] = hs.VotedFor
	}
}

// noteVote: a vote is sent only once durable, but a bug may send it
// before; and the voter may be wiped right after.
func (c *simCluster) noteVote(m *Message) {
	key := [2]uint64{uint64(m.From), m.Term}
	if _, ok := c.votesGiven[key]; !ok {
		c.votesGiven[key] = m.To
	}
	if w := c.wipes; w != nil && c.s.Now() < simChaos && w.rng.Float64() < w.afterVote {
		c.wipeSoon(c.nodes[m.From], "right after voting")
	}
}

// checkSingleVote: a new leader n counted only votes that were the first
// its voters gave in its term. A voter that forgot its vote, with its
// disk, and voted again must not be counted.
func (c *simCluster) checkSingleVote(n *simNode) {
	for v := range n.core.votes {
		if v == n.id || !n.core.conf().isVoter(v) {
			continue
		}
		if first, ok := c.votesGiven[[2]uint64{uint64(v), n.core.hs.Term}]; ok && first != n.id {
			c.fail(checkSingleVote, "node %d won term %d counting node %d's vote, but node %d voted for %d first in that term",
				n.id, n.core.hs.Term, v, v, first)
			return
		}
	}
}
