package raftlite

import (
	"cmp"
	"context"
)

// Leadership transfer (Raft thesis §3.10): the leader stops appending new
// entries, brings the target's log up to its own, and tells it to stand at
// once (MsgTimeoutNow); the target's vote requests say so, and followers
// that still hear from the leader vote anyway. The transfer is abandoned
// after an election timeout, and the leader goes on as before. Broadcasts
// that arrive meanwhile are held: the leader's own wait in pending, and
// followers' are dropped and forwarded again, so that the exactly-once
// rules hold whoever leads next.

// transferState is a leader's transfer in progress.
type transferState struct {
	to    NodeID
	ticks int  // heartbeats since it began
	told  bool // MsgTimeoutNow went out
	// leaving: the leader began it because it was removed; nobody waits
	// for its outcome, and the leader steps down however it ends.
	leaving bool
}

// transferOutcome reports, through ready, how a transfer asked of this
// node ended: ok if it stepped down for a later term (the target stood);
// notLeader if it did not lead when asked.
type transferOutcome struct {
	ok, notLeader bool
}

// onTransferLeadership hands leadership to node to, or to the follower
// whose log is furthest along when to is None. A node that does not lead,
// or a target that is not another member, ends it at once, failed.
func (c *core) onTransferLeadership(to NodeID) {
	if c.role != Leader {
		c.out.Transfers = append(c.out.Transfers, transferOutcome{notLeader: true})
		return
	}
	if to == None {
		to = c.mostUpToDateFollower()
	}
	if c.progress[to] == nil || !c.conf().isVoter(to) || (c.handover != nil && c.handover.leaving) {
		// Not a voter, or this leader is leaving already.
		c.out.Transfers = append(c.out.Transfers, transferOutcome{})
		return
	}
	if c.handover != nil {
		c.endLeadershipTransfer(false) // the newer request wins
	}
	c.handover = &transferState{to: to}
	c.tellIfCaughtUp(to)
}

// mostUpToDateFollower returns the follower with the highest match index,
// the lowest id among equals, or None if there is none.
func (c *core) mostUpToDateFollower() NodeID {
	best := None
	for _, f := range c.voters {
		if pr := c.progress[f]; pr != nil && c.countsFor(f) && (best == None || pr.match > c.progress[best].match) {
			best = f
		}
	}
	return best
}

// tellIfCaughtUp sends MsgTimeoutNow once the target holds the whole log.
func (c *core) tellIfCaughtUp(f NodeID) {
	t, pr := c.handover, c.progress[f]
	if t == nil || t.to != f || t.told || pr == nil || pr.match < c.log.lastIndex() {
		return
	}
	t.told = true
	// The target will be elected without waiting out anyone's lease, and
	// answers it sent before could renew ours: no lease for the rest of
	// this leadership.
	c.expireLease()
	c.reads.noLease = true
	c.stats.leadershipTransfers++
	c.send(Message{Kind: MsgTimeoutNow, To: f})
}

// transferTick abandons a transfer that has not ended within an election
// timeout.
func (c *core) transferTick() {
	if t := c.handover; t != nil {
		if t.ticks++; t.ticks >= c.cfg.ticksPerElection() {
			c.endLeadershipTransfer(false)
		}
	}
}

// endLeadershipTransfer reports the transfer's outcome. Abandoned, the
// leader takes the broadcasts it held back.
func (c *core) endLeadershipTransfer(ok bool) {
	t := c.handover
	if t == nil {
		return
	}
	c.handover = nil
	if !t.leaving {
		c.out.Transfers = append(c.out.Transfers, transferOutcome{ok: ok})
	}
	if c.role == Leader && t.leaving {
		c.becomeFollower(c.hs.Term, None)
		return
	}
	if c.role == Leader {
		for _, e := range c.pending {
			c.acceptBroadcast(e)
		}
	}
}

// onTimeoutNow: our leader hands leadership to us. We stand at once,
// without pre-vote: the leader vouched for our log.
func (c *core) onTimeoutNow(m Message) {
	if m.Term != c.hs.Term || m.From != c.leader || c.role != Follower {
		return
	}
	c.becomeCandidate(true)
}

// transferCall is one TransferLeadership waiting for the loop.
type transferCall struct {
	to    NodeID
	reply chan error // buffered
}

// TransferLeadership hands leadership to node to, or, with to None, to the
// follower whose log is furthest along, and returns once this node has
// stepped down for it. Meanwhile the leader appends no new broadcasts:
// they wait, and commit under the next leader, each once. It returns
// ErrNotLeader on a node that does not lead, and ErrTransferFailed if the
// target did not take over within an election timeout; the leader then
// goes on leading. Close calls it on a leader, so that stopping a leader
// costs the cluster no election timeout.
func (n *Node) TransferLeadership(ctx context.Context, to NodeID) error {
	call := transferCall{to: to, reply: make(chan error, 1)}
	outcome, err := callLoop(ctx, n, n.transferCalls, call, call.reply)
	return cmp.Or(err, outcome)
}

// takeTransfer hands a TransferLeadership call to the core.
func (n *Node) takeTransfer(call transferCall) {
	n.transferWaiters = append(n.transferWaiters, call.reply)
	n.core.onTransferLeadership(call.to)
}

// endTransfers replies to the calls whose transfers ended, in order: the
// core reports one outcome per call.
func (n *Node) endTransfers(outcomes []transferOutcome) {
	for _, o := range outcomes {
		if len(n.transferWaiters) == 0 {
			return
		}
		var err error
		switch {
		case o.notLeader:
			err = ErrNotLeader
		case !o.ok:
			err = ErrTransferFailed
		}
		n.transferWaiters[0] <- err
		n.transferWaiters = n.transferWaiters[1:]
	}
}

// handOverBeforeClose transfers leadership, if this node leads others,
// before it stops: bounded by an election timeout, and quiet on failure.
func (n *Node) handOverBeforeClose() {
	if s := n.Status(); s.Role != Leader || len(s.Membership.Members) < 2 {
		return // a cluster of one has nobody to hand over to
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ElectionTimeout)
	defer cancel()
	if err := n.TransferLeadership(ctx, None); err != nil {
		n.log.Info("closing without handing over leadership", "err", err)
	}
}
