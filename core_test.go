package raftlite

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hand is a cluster of cores whose messages a test steps by hand; saves
// complete at once.
type hand struct {
	t     *testing.T
	cores map[NodeID]*core
	queue []Message
	sent  []Message
	cut   func(Message) bool // messages it returns true for are lost
}

func newHand(t *testing.T, logs map[NodeID][]uint64, cfg func(*coreConfig)) *hand {
	h := &hand{t: t, cores: map[NodeID]*core{}}
	var peers []NodeID
	for id := NodeID(1); int(id) <= len(logs); id++ {
		peers = append(peers, id)
	}
	for id, terms := range logs {
		cc := coreConfig{id: id, peers: peers, electionTimeout: time.Second, heartbeatInterval: 100 * time.Millisecond,
			maxEntryBytes: 1 << 10, maxBatchBytes: 1 << 20, maxInflightBytes: 4 << 20}
		if cfg != nil {
			cfg(&cc)
		}
		var ents []Entry
		var top uint64
		for i, term := range terms {
			ents = append(ents, Entry{Index: uint64(i + 1), Term: term, Kind: EntryNoop})
			top = max(top, term)
		}
		h.cores[id] = newCore(cc, HardState{Term: top, Incarnation: 1}, bootInMemory(SnapshotMeta{}, ents, 0), rand.New(rand.NewPCG(uint64(id), 0)))
		h.collect(id)
	}
	return h
}

// collect carries out a core's Ready: saves complete at once, so held
// messages go out with the others.
func (h *hand) collect(id NodeID) {
	c := h.cores[id]
	rd := c.takeReady()
	h.queue = append(h.queue, rd.Messages...)
	h.queue = append(h.queue, rd.AfterSync...)
	if rd.HardState != nil || len(rd.Entries) > 0 {
		var index, term uint64
		if k := len(rd.Entries); k > 0 {
			index, term = rd.Entries[k-1].Index, rd.Entries[k-1].Term
		}
		c.onPersisted(index, term, rd.HardState)
		h.collect(id)
	}
}

// run delivers messages until none are left.
func (h *hand) run() {
	for len(h.queue) > 0 {
		m := h.queue[0]
		h.queue = h.queue[1:]
		if h.cut != nil && h.cut(m) {
			continue
		}
		h.sent = append(h.sent, m)
		h.cores[m.To].onMessage(m)
		h.collect(m.To)
	}
}

func (h *hand) elect(id NodeID) {
	h.cores[id].onElectionTimeout()
	h.collect(id)
	h.run()
	require.Equal(h.t, Leader, h.cores[id].role, "node %d should have won the election", id)
}

func (h *hand) count(kind MessageKind, success bool) int {
	n := 0
	for _, m := range h.sent {
		if m.Kind == kind && m.Success == success {
			n++
		}
	}
	return n
}

func repeat(term uint64, n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = term
	}
	return out
}

// A follower holding 50 entries of a deposed leader's term, and another with
// 50 more of an even older one, are brought in line in a round trip per
// term, not one per entry (Raft §5.3's optimisation).
func TestBackUpSkipsAWholeTermPerRoundTrip(t *testing.T) {
	common := repeat(1, 10)
	h := newHand(t, map[NodeID][]uint64{
		1: append(append([]uint64{}, common...), repeat(3, 50)...),
		2: append(append(append([]uint64{}, common...), repeat(2, 50)...), repeat(2, 50)...),
		3: append(append([]uint64{}, common...), repeat(3, 50)...),
	}, nil)
	h.elect(1)
	assert.Equal(t, h.cores[1].log.lastIndex(), h.cores[2].log.lastIndex(), "follower 2 caught up")
	assert.Equal(t, h.cores[1].log.lastTerm(), h.cores[2].log.lastTerm())
	rejections := 0
	for _, m := range h.sent {
		if m.Kind == MsgLogResponse && !m.Success && m.From == 2 {
			rejections++
		}
	}
	assert.LessOrEqual(t, rejections, 2, "rejections from the diverged follower")
}

// A leader's batch: many broadcasts taken in one step leave as one message
// per follower and one write, and a heartbeat re-sends nothing.
func TestBroadcastsBatchIntoOneRequestAndOneWrite(t *testing.T) {
	h := newHand(t, map[NodeID][]uint64{1: nil, 2: nil, 3: nil}, nil)
	h.elect(1)
	h.sent = nil
	l := h.cores[1]
	for range 100 {
		l.onBroadcast([]byte("0123456789"))
	}
	rd := l.takeReady()
	assert.Len(t, rd.Entries, 100, "one write holds every new entry")
	requests := 0
	for _, m := range rd.Messages {
		if m.Kind == MsgLogRequest {
			requests++
			assert.Len(t, m.Entries, 100)
		}
	}
	assert.Equal(t, 2, requests, "one request per follower")
	h.queue = append(h.queue, rd.Messages...)
	l.onPersisted(rd.Entries[99].Index, rd.Entries[99].Term, nil)
	h.collect(1)
	h.run()
	require.Equal(t, l.log.lastIndex(), l.commit)

	l.onTick()
	rd = l.takeReady()
	for _, m := range rd.Messages {
		assert.Empty(t, m.Entries, "a heartbeat to an up-to-date follower carries no entries")
	}
}

// Entries beyond the batch limit go out as several requests, pipelined up
// to the in-flight limit, never the whole unacknowledged suffix at once.
func TestReplicationIsBoundedByBatchAndInflightBytes(t *testing.T) {
	h := newHand(t, map[NodeID][]uint64{1: nil, 2: nil, 3: nil}, func(c *coreConfig) {
		c.maxBatchBytes, c.maxInflightBytes = 1000, 3000
	})
	h.elect(1)
	l := h.cores[1]
	for range 200 {
		l.onBroadcast(make([]byte, 52)) // 100 bytes with the overhead
	}
	rd := l.takeReady()
	inflight := map[NodeID]int{}
	for _, m := range rd.Messages {
		size := 0
		for i := range m.Entries {
			size += m.Entries[i].size()
		}
		assert.LessOrEqual(t, size, 1000)
		inflight[m.To] += size
	}
	for id, bytes := range inflight {
		assert.LessOrEqual(t, bytes, 3000+1000, "in flight to %d", id)
	}
	h.queue = append(h.queue, rd.Messages...)
	h.run()
	l.onPersisted(l.log.lastIndex(), l.log.lastTerm(), nil)
	h.collect(1)
	h.run()
	assert.Equal(t, l.log.lastIndex(), l.commit, "everything commits as acknowledgements free the window")
}

// The Figure 8 rule: an entry of an earlier term that reaches a majority is
// not committed by counting; only an entry of the leader's own term is.
// bugs_test.go shows the same story with the rule switched off.
func TestOldTermEntriesAreNotCommittedByCounting(t *testing.T) {
	h, l := figure8(t, 0)
	assert.Equal(t, uint64(3), l.commit, "the term-2 entry commits beneath the leader's own no-op")
	assert.Equal(t, uint64(4), h.cores[3].log.lastTerm(), "S3 holds the no-op, so S5 cannot win its vote")
}

// figure8 sets up Figure 8 (c) of the Raft paper and lets S1 lead term 4:
// S1 holds an entry of term 2 that S2 has too; S5 holds a conflicting entry
// of term 3; only S1-S3 can talk.
func figure8(t *testing.T, bugs bug) (*hand, *core) {
	h := newHand(t, map[NodeID][]uint64{1: {1, 2}, 2: {1, 2}, 3: {1}, 4: {1}, 5: {1, 3}}, func(c *coreConfig) {
		c.bug = bugs
	})
	h.cores[1].hs.Term = 3
	h.cut = func(m Message) bool { return m.To > 3 || m.From > 3 }
	h.elect(1)
	l := h.cores[1]
	l.onTick() // without the no-op, the first heartbeat starts replication
	h.collect(1)
	h.run()
	require.Equal(t, Leader, l.role)
	return h, l
}

// A follower that lost its disk rejects the leader's probe at the index it
// had acknowledged; the leader must go back to where the follower's log now
// ends, not probe that index for ever (as it did while it trusted the old
// match).
func TestLeaderRefillsAFollowerThatLostItsDisk(t *testing.T) {
	h := newHand(t, map[NodeID][]uint64{1: {1, 1, 1, 1}, 2: {1, 1, 1, 1}, 3: {1, 1, 1, 1}}, nil)
	h.elect(1)
	l := h.cores[1]
	require.Equal(t, l.log.lastIndex(), l.progress[2].match)
	cc := h.cores[2].cfg
	h.cores[2] = newCore(cc, HardState{Incarnation: 2}, bootInMemory(SnapshotMeta{}, nil, 0), rand.New(rand.NewPCG(2, 2)))
	h.collect(2)
	l.onTick()
	h.collect(1)
	for steps := 0; len(h.queue) > 0; steps++ {
		require.Less(t, steps, 1000, "the leader and the follower that lost its disk exchange messages without end")
		m := h.queue[0]
		h.queue = h.queue[1:]
		h.cores[m.To].onMessage(m)
		h.collect(m.To)
	}
	assert.Equal(t, l.log.lastIndex(), h.cores[2].log.lastIndex(), "the follower has the leader's log again")
	assert.Equal(t, l.log.lastIndex(), l.progress[2].match)
}
