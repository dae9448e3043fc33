package raftlite

// Checks that mutation testing (scripts/mutation.sh) showed missing: each
// test pins one rule of the core that a surviving mutant broke unnoticed.

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// kinds returns how many of msgs are of kind k and addressed to to.
func kinds(msgs []Message, k MessageKind, to NodeID) int {
	n := 0
	for _, m := range msgs {
		if m.Kind == k && m.To == to {
			n++
		}
	}
	return n
}

// The commit index is saved only along with a save that happens anyway
// (entries, or a change of term or vote): a save of its own would cost a
// sync for what is only a hint.
func TestMutationCommitIndexIsSavedOnlyAlongWithOtherSaves(t *testing.T) {
	h := newHand(t, map[NodeID][]uint64{1: nil, 2: nil, 3: nil}, nil)
	h.elect(1)
	l := h.cores[1]
	require.Equal(t, uint64(1), l.commit, "the no-op committed")
	assert.Zero(t, l.hs.Commit, "no save was made for the commit index alone")

	l.onTick()
	rd := l.takeReady()
	assert.Nil(t, rd.HardState, "a heartbeat saves nothing")
	assert.Empty(t, rd.Entries)

	l.onBroadcast([]byte("x"))
	rd = l.takeReady()
	require.Len(t, rd.Entries, 1)
	require.NotNil(t, rd.HardState, "the commit index rides along with the new entry")
	assert.Equal(t, uint64(1), rd.HardState.Commit)
}

// A follower forwards each pending broadcast to a leader once: heartbeats
// from the same leader send nothing again, and a new leader is sent every
// pending broadcast at once, without waiting for the retry timeout.
func TestMutationPendingBroadcastsAreForwardedAgainOnlyToANewLeader(t *testing.T) {
	h := newHand(t, map[NodeID][]uint64{1: nil, 2: nil, 3: nil}, nil)
	h.elect(1)
	proposed := map[NodeID]int{}
	h.cut = func(m Message) bool {
		if m.Kind == MsgPropose {
			proposed[m.To]++
			return true // lost: the broadcast stays pending
		}
		return false
	}
	f := h.cores[2]
	f.onBroadcast([]byte("x"))
	h.collect(2)
	h.run()
	require.Equal(t, 1, proposed[1])
	for range 3 {
		h.cores[1].onTick()
		h.collect(1)
		h.run()
	}
	assert.Equal(t, 1, proposed[1], "heartbeats of the same leader do not make the follower forward again")

	h.elect(3)
	assert.Equal(t, 1, proposed[3], "the new leader is sent the pending broadcast at once")
}

// A new leader stops its election timer (Ready.ElectionTimer < 0): it does
// not time out on itself.
func TestMutationANewLeaderStopsItsElectionTimer(t *testing.T) {
	h := newHand(t, map[NodeID][]uint64{1: nil, 2: nil, 3: nil}, nil)
	c := h.cores[1]
	var votes []Message
	h.cut = func(m Message) bool {
		if m.Kind == MsgVoteResponse {
			votes = append(votes, m)
			return true
		}
		return false
	}
	c.onElectionTimeout()
	h.collect(1)
	h.run()
	require.NotEmpty(t, votes)
	c.onMessage(votes[0])
	require.Equal(t, Leader, c.role)
	assert.Negative(t, c.takeReady().ElectionTimer)
}

// A new leader's first request to each follower starts right after the
// leader's log as it was elected (nextIndex = last index + 1, Raft Figure
// 2): it carries only the leader's no-op, not entries the follower holds.
func TestMutationANewLeaderProbesFromTheEndOfItsLog(t *testing.T) {
	h := newHand(t, map[NodeID][]uint64{1: {1, 1, 1}, 2: {1, 1, 1}, 3: {1, 1, 1}}, nil)
	h.elect(1)
	var first *Message
	for i, m := range h.sent {
		if m.Kind == MsgLogRequest && m.To == 2 {
			first = &h.sent[i]
			break
		}
	}
	require.NotNil(t, first)
	assert.Equal(t, uint64(3), first.PrevIndex)
	assert.Equal(t, uint64(1), first.PrevTerm)
	require.Len(t, first.Entries, 1)
	assert.Equal(t, EntryNoop, first.Entries[0].Kind)
	assert.Equal(t, uint64(4), first.Entries[0].Index)
}

// A follower refuses a request that would cut a committed entry, which no
// correct leader sends: it keeps its log, does not answer, and counts the
// request as dropped.
func TestMutationAFollowerRefusesToCutCommittedEntries(t *testing.T) {
	h := newHand(t, map[NodeID][]uint64{1: {1, 1}, 2: {1, 1}, 3: {1, 1}}, nil)
	f := h.cores[2]
	f.advanceCommit(2)
	f.takeReady()
	f.onMessage(Message{Kind: MsgLogRequest, From: 1, To: 2, Term: 2, PrevIndex: 1, PrevTerm: 1, Commit: 2,
		Entries: []Entry{{Index: 2, Term: 2, Kind: EntryNoop}}})
	assert.Equal(t, uint64(1), f.dropped)
	assert.Equal(t, uint64(1), f.log.term(2), "the committed entry stays")
	rd := f.takeReady()
	assert.Empty(t, rd.Entries)
	assert.Zero(t, kinds(append(rd.Messages, rd.AfterSync...), MsgLogResponse, 1), "no answer")
}

// A broadcast that commits frees its place in the forwarding window at
// once, the last one forwarded included: with a window of one entry, the
// next broadcast is forwarded as soon as the previous one commits.
func TestMutationCommittedBroadcastsFreeTheForwardingWindow(t *testing.T) {
	one := (&Entry{Data: []byte("x")}).size()
	h := newHand(t, map[NodeID][]uint64{1: nil, 2: nil, 3: nil}, func(c *coreConfig) {
		c.maxInflightBytes = one
	})
	h.elect(1)
	f := h.cores[2]
	for seq := uint64(1); seq <= 3; seq++ {
		f.onBroadcast([]byte("x"))
		h.collect(2)
		h.run()
		require.Empty(t, f.pending, "broadcast %d committed without waiting for a retry", seq)
		assert.Zero(t, f.forwardedBytes)
	}
}

// A new commit index goes out at once, in a request of its own, to every
// follower that holds what it was last told committed, not only to the one
// whose acknowledgement advanced it: a follower whose acknowledgements are
// lost still learns what committed without waiting for a heartbeat.
func TestMutationTheCommitIndexReachesFollowersWhoseAcksAreLost(t *testing.T) {
	h := newHand(t, map[NodeID][]uint64{1: nil, 2: nil, 3: nil}, nil)
	h.elect(1)
	for id := NodeID(2); id <= 3; id++ {
		assert.Equal(t, uint64(1), h.cores[id].commit, "follower %d learned the no-op committed", id)
	}
	h.cut = func(m Message) bool { return m.Kind == MsgLogResponse && m.From == 3 }
	h.cores[1].onBroadcast([]byte("x"))
	h.collect(1)
	h.run()
	require.Equal(t, uint64(2), h.cores[1].commit)
	assert.Equal(t, uint64(2), h.cores[3].commit, "follower 3 learned the broadcast committed")
}

// Forwarded broadcasts are batched up to maxBatchBytes inclusive: pending
// broadcasts that exactly fill a batch leave in one Propose.
func TestMutationForwardedBatchesFillMaxBatchBytes(t *testing.T) {
	one := (&Entry{Data: []byte("x")}).size()
	h := newHand(t, map[NodeID][]uint64{1: nil, 2: nil, 3: nil}, func(c *coreConfig) {
		c.maxBatchBytes = 2 * one
	})
	h.elect(1)
	f := h.cores[2]
	for range 4 {
		f.onBroadcast([]byte("x"))
	}
	rd := f.takeReady()
	var sizes []int
	for _, m := range rd.Messages {
		if m.Kind == MsgPropose {
			sizes = append(sizes, len(m.Entries))
		}
	}
	assert.Equal(t, []int{2, 2}, sizes, "entries per Propose")
}

// The core takes terms below maxTerm and drops anything from maxTerm on:
// a term that large cannot come from counting elections, and the next
// election would wrap it around.
func TestMutationTermsFromMaxTermOnAreDropped(t *testing.T) {
	h := newHand(t, map[NodeID][]uint64{1: nil, 2: nil, 3: nil}, nil)
	f := h.cores[2]
	f.onMessage(Message{Kind: MsgVoteRequest, From: 1, To: 2, Term: maxTerm})
	assert.Equal(t, uint64(1), f.dropped)
	assert.Less(t, f.hs.Term, uint64(maxTerm))
	f.onMessage(Message{Kind: MsgVoteRequest, From: 1, To: 2, Term: maxTerm - 1})
	assert.Equal(t, uint64(1), f.dropped, "the largest term taken")
	assert.Equal(t, uint64(maxTerm-1), f.hs.Term)
}

// A log request whose first entry has a lower term than the entry before
// it (PrevTerm) is malformed, since terms never decrease along a log: it
// is dropped, not appended.
func TestMutationARequestWhoseTermsGoBackIsDropped(t *testing.T) {
	h := newHand(t, map[NodeID][]uint64{1: {2}, 2: {2}, 3: {2}}, nil)
	f := h.cores[2]
	f.onMessage(Message{Kind: MsgLogRequest, From: 1, To: 2, Term: 2, PrevIndex: 1, PrevTerm: 2,
		Entries: []Entry{{Index: 2, Term: 1, Kind: EntryNoop}}})
	assert.Equal(t, uint64(1), f.dropped)
	assert.Equal(t, uint64(1), f.log.lastIndex())
}

// Entries of exactly maxEntryBytes are taken, from a leader and from a
// forwarding follower; one byte more and the message is dropped.
func TestMutationEntriesOfMaxEntryBytesAreTaken(t *testing.T) {
	h := newHand(t, map[NodeID][]uint64{1: nil, 2: nil, 3: nil}, nil)
	h.elect(1)
	l, f := h.cores[1], h.cores[2]
	limit := l.cfg.maxEntryBytes
	for _, size := range []int{limit, limit + 1} {
		before := f.dropped
		f.onMessage(Message{Kind: MsgLogRequest, From: 1, To: 2, Term: l.hs.Term, PrevIndex: f.log.lastIndex(),
			PrevTerm: f.log.lastTerm(), Entries: []Entry{{Index: f.log.lastIndex() + 1, Term: l.hs.Term, Data: make([]byte, size)}}})
		assert.Equal(t, size > limit, f.dropped > before, "a log request with an entry of %d bytes dropped", size)
		f.takeReady()

		before = l.dropped
		l.onMessage(Message{Kind: MsgPropose, From: 2, To: 1, Term: l.hs.Term,
			Entries: []Entry{{Kind: EntryData, Origin: 2, Incarnation: 1, Seq: 1, Data: make([]byte, size)}}})
		assert.Equal(t, size > limit, l.dropped > before, "a proposal of %d bytes dropped", size)
	}
}

// A follower resends the broadcasts the leader has not committed after an
// election timeout's worth of heartbeats (ticksPerElection), not sooner and
// not later.
func TestMutationPendingBroadcastsAreResentAfterAnElectionTimeoutOfTicks(t *testing.T) {
	h := newHand(t, map[NodeID][]uint64{1: nil, 2: nil, 3: nil}, nil)
	h.elect(1)
	f := h.cores[2]
	ticks := f.cfg.ticksPerElection()
	require.Greater(t, ticks, 1)
	f.onBroadcast([]byte("x"))
	rd := f.takeReady() // the Propose is lost
	require.Equal(t, 1, kinds(rd.Messages, MsgPropose, 1))
	for tick := 1; tick <= 2*ticks; tick++ {
		f.onTick()
		rd = f.takeReady()
		want := 0
		if tick%ticks == 0 {
			want = 1
		}
		assert.Equal(t, want, kinds(rd.Messages, MsgPropose, 1), "proposals resent at tick %d", tick)
	}
}

// Entries read back from disk for a lagging follower go out in batches that
// fill maxBatchBytes inclusive, and never beyond the in-flight window: a
// read that arrives with the window full sends nothing.
func TestMutationEntriesReadBackFillABatchWithinTheWindow(t *testing.T) {
	batch := (&Entry{Kind: EntryNoop}).size() + (&Entry{Data: []byte("x")}).size() // entries 1 and 2
	h := newHand(t, map[NodeID][]uint64{1: nil, 2: nil, 3: nil}, func(c *coreConfig) {
		c.maxBatchBytes, c.maxInflightBytes = batch, batch
	})
	l := h.cores[1]
	l.log.chunkSize = 2 // so that entries leave memory after a few
	h.cut = func(m Message) bool { return m.To == 3 || m.From == 3 }
	h.elect(1)
	for range 9 {
		l.onBroadcast([]byte("x"))
		h.collect(1)
		h.run()
	}
	require.Equal(t, uint64(10), l.commit)
	l.evict(l.commit)
	require.Equal(t, uint64(9), l.log.memFirst())

	// Follower 3 answers a probe; the leader must read entries 1-8 back.
	h.cut = nil
	l.onTick()
	h.collect(1)
	h.run()
	pr := l.progress[3]
	require.Equal(t, uint64(1), pr.next)
	require.True(t, pr.fetching)
	saved := h.cores[2].log.all()[:8]

	l.onFetched(3, saved)
	rd := l.takeReady()
	require.Len(t, rd.Messages, 1)
	assert.Len(t, rd.Messages[0].Entries, 2, "entries 1 and 2 fill a batch exactly")
	l.onFetched(3, saved[2:])
	assert.Empty(t, l.takeReady().Messages, "the window is full until follower 3 acknowledges")

	h.queue = append(h.queue, rd.Messages...)
	h.run()
	for pr.next < l.log.memFirst() {
		l.onFetched(3, saved[pr.next-1:])
		h.collect(1)
		h.run()
	}
	assert.Equal(t, uint64(10), h.cores[3].commit, "follower 3 caught up")
}

// Heartbeats while nothing is pending do not count towards resending: a
// broadcast accepted after a long quiet spell is resent an election
// timeout's worth of ticks after it was sent, not at the next tick.
func TestMutationQuietTicksDoNotHastenAResend(t *testing.T) {
	h := newHand(t, map[NodeID][]uint64{1: nil, 2: nil, 3: nil}, nil)
	h.elect(1)
	f := h.cores[2]
	ticks := f.cfg.ticksPerElection()
	for range 2*ticks + ticks/2 {
		f.onTick()
		f.takeReady()
	}
	f.onBroadcast([]byte("x"))
	rd := f.takeReady() // the Propose is lost
	require.Equal(t, 1, kinds(rd.Messages, MsgPropose, 1))
	for tick := 1; tick < ticks; tick++ {
		f.onTick()
		assert.Zero(t, kinds(f.takeReady().Messages, MsgPropose, 1), "a proposal resent at tick %d of %d", tick, ticks)
	}
}

// A vote request of the leader's own term (from a candidate that lost the
// election) changes nothing: the leader keeps leading and refuses the
// vote, and a follower keeps its leader.
func TestMutationAVoteRequestOfTheSameTermDeposesNobody(t *testing.T) {
	h := newHand(t, map[NodeID][]uint64{1: nil, 2: nil, 3: nil}, nil)
	h.elect(1)
	l, f := h.cores[1], h.cores[2]
	term := l.hs.Term
	for _, c := range []*core{l, f} {
		c.onMessage(Message{Kind: MsgVoteRequest, From: 3, To: c.cfg.id, Term: term, LastIndex: 100, LastTerm: term})
		rd := c.takeReady()
		for _, m := range append(rd.Messages, rd.AfterSync...) {
			assert.False(t, m.Kind == MsgVoteResponse && m.Success, "node %d granted a second vote in term %d", c.cfg.id, term)
		}
	}
	assert.Equal(t, Leader, l.role, "the leader stepped down")
	assert.Equal(t, NodeID(1), f.leader, "the follower forgot its leader")
}

// A candidate that hears from the leader of its own term steps down to
// follow it (Raft §5.2), rather than stay a candidate that appends.
func TestMutationACandidateFollowsTheLeaderOfItsTerm(t *testing.T) {
	h := newHand(t, map[NodeID][]uint64{1: nil, 2: nil, 3: nil}, nil)
	h.elect(1)
	c := h.cores[2]
	c.onElectionTimeout() // a candidate in term 2, whose requests are lost
	c.takeReady()
	require.Equal(t, Candidate, c.role)
	l := h.cores[3]
	l.onElectionTimeout()
	h.collect(3)
	h.cut = func(m Message) bool { return m.To == 2 && m.Kind == MsgVoteRequest }
	h.run()
	require.Equal(t, Leader, l.role)
	require.Equal(t, c.hs.Term, l.hs.Term, "the leader won the term the candidate stands in")
	l.onTick()
	h.collect(3)
	h.run()
	assert.Equal(t, Follower, c.role)
	assert.Equal(t, NodeID(3), c.leader)
}

// A follower whose log ends before a leader's probe says where it ends,
// and the leader's next probe starts exactly there.
func TestMutationAShortLogIsProbedFromItsEnd(t *testing.T) {
	h := newHand(t, map[NodeID][]uint64{1: repeat(1, 6), 2: repeat(1, 2), 3: repeat(1, 6)}, nil)
	h.elect(1)
	assert.Equal(t, uint64(2), firstAccepted(t, h, 2).PrevIndex, "the probe that matched follows the follower's last entry")
}

// A follower whose log conflicts in a run of term 3 names the term; the
// leader, which holds entries of term 3 up to index 5, goes straight to
// just after them (Raft §5.3's optimisation), not to where the follower's
// run starts.
func TestMutationTheLeaderSkipsToItsLastEntryOfTheConflictingTerm(t *testing.T) {
	h := newHand(t, map[NodeID][]uint64{
		1: {1, 1, 1, 3, 3, 5, 5}, 2: {1, 1, 1, 3, 3, 3, 3, 3}, 3: {1, 1, 1, 3, 3, 5, 5},
	}, nil)
	h.elect(1)
	assert.Equal(t, uint64(5), firstAccepted(t, h, 2).PrevIndex)
}

// firstAccepted returns the first successful log response from id.
func firstAccepted(t *testing.T, h *hand, id NodeID) Message {
	for _, m := range h.sent {
		if m.Kind == MsgLogResponse && m.From == id && m.Success {
			return m
		}
	}
	t.Fatalf("node %d accepted nothing", id)
	return Message{}
}

// When the last of several pipelined batches is lost, the follower's
// rejection of the next heartbeat names where its log ends, and the
// leader resends from there: the entry it lost, not the one before.
func TestMutationALostLastBatchIsResentAlone(t *testing.T) {
	one := (&Entry{Data: []byte("x")}).size()
	h := newHand(t, map[NodeID][]uint64{1: nil, 2: nil, 3: nil}, func(c *coreConfig) {
		c.maxBatchBytes = one // a batch per entry
	})
	h.elect(1)
	l := h.cores[1]
	for range 3 {
		l.onBroadcast([]byte("x"))
	}
	last := l.log.lastIndex()
	h.cut = func(m Message) bool {
		return m.Kind == MsgLogRequest && m.To == 2 && len(m.Entries) > 0 && m.Entries[0].Index == last
	}
	h.collect(1)
	h.run()
	require.Equal(t, last-1, l.progress[2].match, "follower 2 holds all but the last entry")
	h.cut, h.sent = nil, nil
	l.onTick()
	h.collect(1)
	h.run()
	var resends []uint64
	for _, m := range h.sent {
		if m.Kind == MsgLogRequest && m.To == 2 && len(m.Entries) > 0 {
			resends = append(resends, m.PrevIndex)
		}
	}
	assert.Equal(t, []uint64{last - 1}, resends, "the entries resent to follower 2 start after what it holds")
}
