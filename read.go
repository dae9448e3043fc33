package raftlite

import "slices"

// Linearizable reads (Raft thesis §6.4). A read may be served at the
// leader's commit index once the leader has shown that it still led after
// the read arrived: a quorum answered a round of heartbeats sent after it.
// Reads that arrive together share a round, and a follower asks its leader
// for a whole batch at once. A leader also waits until an entry of its own
// term has committed: only then does its commit index cover everything
// committed before it was elected.

// readDone reports that this node's read ID may be served once the
// application has been handed every message up to Index.
type readDone struct{ ID, Index uint64 }

// readState is a node's reads in progress.
type readState struct {
	// local holds this node's reads not yet handed to a round (on the
	// leader) or asked of a leader (on the others), oldest first.
	local []uint64
	// asked holds the batches of local reads sent to a leader and not yet
	// answered, oldest first.
	asked     []askedBatch
	lastBatch uint64

	// On the leader: reads waiting for a round, and the rounds sent but
	// not yet confirmed, oldest first. seq numbers the latest round; every
	// log request carries it and followers echo it back.
	waiting []readRequest
	rounds  []readRound
	seq     uint64
	// readSeq is the latest round that carries reads, confirmed the
	// latest round a quorum answered: while readSeq is unconfirmed, new
	// reads wait for the next round, so that all that arrive meanwhile
	// share it.
	readSeq, confirmed uint64
	// leaseUntil is the tick before which, with lease reads on, a read is
	// served without a round of its own.
	leaseUntil int
	// noLease: this leader handed leadership over (MsgTimeoutNow); it
	// holds no lease again until it is elected anew.
	noLease bool
	// leaseFrom is the first round that may extend the lease: none sent
	// before the membership last changed.
	leaseFrom uint64
	acks      []uint64 // scratch for confirm
}

// readRequest is a read the leader serves: one of its own (from itself,
// id the read's) or a follower's batch (id the batch number, of the
// follower's life incarnation: batch numbers start over when it restarts).
type readRequest struct {
	from        NodeID
	id          uint64
	incarnation uint64
}

type readRound struct {
	seq   uint64
	index uint64 // the commit index when the round went out
	tick  int
	reqs  []readRequest
}

type askedBatch struct {
	batch uint64
	ids   []uint64
	tick  int
}

// onReadIndex takes a read of this node's own, numbered id by the driver.
func (c *core) onReadIndex(id uint64) {
	c.reads.local = append(c.reads.local, id)
}

// onReadIndexRequest: a follower asks, for its batch m.ReadSeq, whether we
// lead and what our commit index is. A node that does not lead stays
// silent: the follower asks again when it learns of a leader, or after an
// election timeout.
func (c *core) onReadIndexRequest(m Message) {
	if c.role == Leader {
		c.reads.waiting = append(c.reads.waiting, readRequest{from: m.From, id: m.ReadSeq, incarnation: m.Incarnation})
	}
}

// onReadIndexResponse: the leader confirmed our batch m.ReadSeq at
// m.Commit. An answer to a batch already answered, asked again under
// another number, or asked by an earlier life, is dropped.
func (c *core) onReadIndexResponse(m Message) {
	if m.Incarnation != c.hs.Incarnation {
		return
	}
	r := &c.reads
	k := slices.IndexFunc(r.asked, func(a askedBatch) bool { return a.batch == m.ReadSeq })
	if k < 0 {
		return
	}
	ids := r.asked[k].ids
	r.asked = slices.Delete(r.asked, k, k+1)
	for _, id := range ids {
		c.out.Reads = append(c.out.Reads, readDone{ID: id, Index: m.Commit})
	}
}

// moveReads hands this node's reads on: into the leader's queue, or to the
// leader in one batch. On the leader it then serves what it can.
func (c *core) moveReads() {
	r := &c.reads
	if c.role == Leader {
		for _, id := range r.local {
			r.waiting = append(r.waiting, readRequest{from: c.cfg.id, id: id})
		}
		r.local = r.local[:0]
		c.serveReads()
		return
	}
	if c.leader == None || len(r.local) == 0 {
		return
	}
	r.lastBatch++
	r.asked = append(r.asked, askedBatch{batch: r.lastBatch, ids: r.local, tick: c.ticks})
	r.local = nil
	c.send(Message{Kind: MsgReadIndex, To: c.leader, ReadSeq: r.lastBatch, Incarnation: c.hs.Incarnation})
}

// serveReads answers the waiting reads at once when no round is needed (a
// cluster of one, or a valid lease), or sends them out in a new round.
func (c *core) serveReads() {
	r := &c.reads
	if len(r.waiting) == 0 || c.log.term(c.commit) != c.hs.Term {
		return
	}
	if (c.quorum == 1 && c.isVoter()) || c.leaseValid() || c.injected(bugReadWithoutConfirm) {
		for _, q := range r.waiting {
			c.answerRead(q, c.commit)
		}
		r.waiting = r.waiting[:0]
		return
	}
	if r.readSeq > r.confirmed {
		return // they go together, once the round out now is answered
	}
	c.startRound(r.waiting)
	r.waiting, r.readSeq = nil, r.seq
	c.confirmRounds() // a cluster whose only voter is this node
	for _, f := range c.members {
		if pr := c.progress[f]; pr != nil {
			c.sendLogRequest(f, pr, nil)
		}
	}
}

// startRound opens round seq+1 for reqs: log requests from now on carry
// its number.
func (c *core) startRound(reqs []readRequest) {
	r := &c.reads
	r.seq++
	r.rounds = append(r.rounds, readRound{seq: r.seq, index: c.commit, tick: c.ticks, reqs: reqs})
}

// onReadAck: follower f echoed round seq, at our term.
func (c *core) onReadAck(pr *progress, seq uint64) {
	if seq <= pr.readAck {
		return
	}
	pr.readAck = seq
	c.confirmRounds()
}

// confirmRounds answers the reads of every round a quorum of the voters
// (this node included, if it votes) has answered.
func (c *core) confirmRounds() {
	r := &c.reads
	if len(r.rounds) == 0 {
		return
	}
	// The highest round a quorum has answered, this node included.
	r.acks = r.acks[:0]
	for _, id := range c.voters {
		if id == c.cfg.id {
			r.acks = append(r.acks, r.seq)
		} else if p := c.progress[id]; p != nil && c.countsFor(id) {
			r.acks = append(r.acks, p.readAck)
		}
	}
	if len(r.acks) < c.quorum {
		return
	}
	slices.Sort(r.acks)
	confirmed := r.acks[len(r.acks)-c.quorum]
	r.confirmed = max(r.confirmed, confirmed)
	k := 0
	for ; k < len(r.rounds) && r.rounds[k].seq <= confirmed; k++ {
		round := &r.rounds[k]
		for _, q := range round.reqs {
			c.answerRead(q, round.index)
		}
		if c.cfg.leaseTicks > 0 && round.seq >= r.leaseFrom {
			r.leaseUntil = max(r.leaseUntil, round.tick+c.cfg.leaseTicks)
		}
	}
	r.rounds = slices.Delete(r.rounds, 0, k)
}

func (c *core) answerRead(q readRequest, index uint64) {
	if q.from == c.cfg.id {
		c.out.Reads = append(c.out.Reads, readDone{ID: q.id, Index: index})
		return
	}
	c.send(Message{Kind: MsgReadIndexResponse, To: q.from, ReadSeq: q.id, Incarnation: q.incarnation, Commit: index})
}

// leaseValid says whether a quorum answered, less than a lease ago, a
// round this leader sent: none of them will vote for another leader until
// their election timeout passes (check-quorum), so none can have been
// elected since.
func (c *core) leaseValid() bool {
	return c.cfg.leaseTicks > 0 && c.role == Leader && !c.reads.noLease && c.ticks < c.reads.leaseUntil
}

// expireLease ends the lease now: the driver saw its clock jump, or its
// loop stall, so that ticks no longer measure time.
func (c *core) expireLease() { c.reads.leaseUntil = 0 }

// renewLease opens an empty round on a lease-holding leader's heartbeat,
// so that its answers extend the lease.
func (c *core) renewLease() {
	if c.cfg.leaseTicks > 0 {
		c.startRound(nil)
	}
}

// retryReads asks again for batches a leader has not answered within an
// election timeout: the request or its answer may have been lost.
func (c *core) retryReads() {
	r := &c.reads
	k := 0
	for k < len(r.asked) && c.ticks-r.asked[k].tick >= c.cfg.ticksPerElection() {
		r.local = append(r.local, r.asked[k].ids...)
		k++
	}
	r.asked = slices.Delete(r.asked, 0, k)
}

// readsLeaderChanged: batches asked of the old leader go to the new one.
func (c *core) readsLeaderChanged() {
	r := &c.reads
	for _, a := range r.asked {
		r.local = append(r.local, a.ids...)
	}
	r.asked = nil
}

// readsSteppedDown: a leader that steps down keeps its own reads, to ask
// the next leader, and drops its followers', which they ask again.
func (c *core) readsSteppedDown() {
	r := &c.reads
	keep := func(reqs []readRequest) {
		for _, q := range reqs {
			if q.from == c.cfg.id {
				r.local = append(r.local, q.id)
			}
		}
	}
	for _, round := range r.rounds {
		keep(round.reqs)
	}
	keep(r.waiting)
	r.rounds, r.waiting, r.leaseUntil, r.noLease = nil, nil, 0, false
	r.readSeq, r.confirmed = 0, 0
}
