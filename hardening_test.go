package raftlite

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// entryBytesTo sums the sizes of the entries sent to id in msgs.
func entryBytesTo(msgs []Message, id NodeID) int {
	n := 0
	for _, m := range msgs {
		if m.To == id {
			for i := range m.Entries {
				n += m.Entries[i].size()
			}
		}
	}
	return n
}

// A leader that cannot reach a follower probes it with heartbeats that
// carry no entries: a dead follower costs a heartbeat's bytes, not a batch
// every heartbeat. (Before, it was sent up to MaxBatchBytes per heartbeat:
// 10 MiB/s here.)
func TestProbesToADeadFollowerCarryNoEntries(t *testing.T) {
	h := newHand(t, map[NodeID][]uint64{1: nil, 2: nil, 3: nil}, nil)
	h.cut = func(m Message) bool { return m.To == 3 || m.From == 3 }
	h.elect(1)
	l := h.cores[1]
	for range 2048 {
		l.onBroadcast(make([]byte, 1024-entryOverhead))
	}
	h.collect(1)
	h.run()
	require.Equal(t, l.log.lastIndex(), l.commit, "nodes 1 and 2 commit without 3")
	perSecond := 0
	h.cut = func(m Message) bool {
		if m.To == 3 {
			perSecond += entryBytesTo([]Message{m}, 3)
		}
		return m.To == 3 || m.From == 3
	}
	const ticks = 10 // one second of heartbeats
	for range ticks {
		l.onTick()
		h.collect(1)
		h.run()
	}
	t.Logf("entry bytes sent to a dead follower: %d per second", perSecond)
	assert.Zero(t, perSecond, "heartbeats to a follower being probed carry no entries")

	// Once the follower answers, it gets its entries at once.
	h.cut = nil
	h.sent = nil
	l.onTick()
	h.collect(1)
	h.run()
	assert.Equal(t, l.log.lastIndex(), h.cores[3].log.lastIndex(), "the follower caught up once it answered")
	assert.Equal(t, l.commit, h.cores[3].commit)
}

// A follower forwards its pending broadcasts in a window of
// maxInflightBytes, sending more as earlier ones commit, rather than all
// of them after every change of leader.
func TestForwardingIsBoundedByTheInflightWindow(t *testing.T) {
	h := newHand(t, map[NodeID][]uint64{1: nil, 2: nil, 3: nil}, func(c *coreConfig) {
		c.maxBatchBytes, c.maxInflightBytes = 4<<10, 16<<10
	})
	h.elect(1)
	f := h.cores[2]
	for range 1000 { // about 1 MiB
		f.onBroadcast(make([]byte, 1024-entryOverhead))
	}
	rd := f.takeReady()
	forwarded := entryBytesTo(rd.Messages, 1)
	assert.LessOrEqual(t, forwarded, 16<<10+4<<10, "one window (plus one batch) is forwarded at once")
	assert.Positive(t, forwarded)
	// Every pending broadcast commits as the window slides.
	h.queue = append(h.queue, rd.Messages...)
	h.run()
	for range 100 {
		if len(f.pending) == 0 {
			break
		}
		h.cores[1].onTick()
		h.collect(1)
		h.collect(2)
		h.run()
	}
	assert.Empty(t, f.pending, "every forwarded broadcast committed")
	assert.Equal(t, h.cores[1].log.lastIndex(), f.commit)
}

// sessionsOf recomputes the sessions of the log [1, last] from scratch: the
// model that the incremental bookkeeping must agree with.
func sessionsOf(c *core) map[NodeID]broadcastID {
	s := map[NodeID]broadcastID{}
	for i := c.log.memFirst(); i <= c.log.lastIndex(); i++ {
		noteSession(s, c.log.at(i))
	}
	return s
}

// Cutting the log's tail restores each origin's session to what it was
// before the cut entries, whatever mix of origins and incarnations they had.
func TestTruncationRestoresSessions(t *testing.T) {
	h := newHand(t, map[NodeID][]uint64{1: nil, 2: nil, 3: nil}, nil)
	f := h.cores[2]
	f.hs.Term = 3
	var ents []Entry
	for i := uint64(1); i <= 60; i++ {
		origin := NodeID(i%3 + 1)
		ents = append(ents, Entry{Index: i, Term: 1 + i/20, Origin: origin, Incarnation: 1 + i/25, Seq: i})
	}
	require.True(t, f.appendFromLeader(ents))
	f.advanceCommit(10)
	for _, cut := range []uint64{55, 41, 30, 12} {
		f.truncateAfter(cut)
		assert.Equal(t, sessionsOf(f), f.sessions, "after cutting to %d", cut)
	}
	assert.Len(t, f.sessionUndo, 2, "undo records are kept for uncommitted entries only")
}

// BenchmarkTruncateLongTail replaces the last entry of a long uncommitted
// tail again and again: the cost must not grow with the tail. Before the
// undo records it rescanned the whole in-memory log: 86 µs per cut with 1k
// entries and 1.56 ms with 100k; now both cost about 0.15 ms, most of it
// copying the chunk that the cut falls in.
func BenchmarkTruncateLongTail(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			c := newCore(coreConfig{id: 2, peers: []NodeID{1, 2, 3}, electionTimeout: 1, heartbeatInterval: 1,
				maxEntryBytes: 1 << 10, maxBatchBytes: 1 << 20, maxInflightBytes: 4 << 20},
				HardState{Term: 1}, bootInMemory(SnapshotMeta{}, nil, 0), rand.New(rand.NewPCG(1, 2)))
			ents := make([]Entry, n)
			for i := range ents {
				ents[i] = Entry{Index: uint64(i + 1), Term: 1, Origin: NodeID(i%3 + 1), Incarnation: 1, Seq: uint64(i + 1)}
			}
			c.appendFromLeader(ents)
			// Two versions of the last entry, from leaders of different
			// terms: each replaces the other, cutting the log's tail.
			last := [2]Entry{ents[n-1], ents[n-1]}
			last[1].Term = 2
			want := maps.Clone(c.sessions)
			b.ResetTimer()
			for i := range b.N {
				c.appendFromLeader(last[(i+1)%2 : (i+1)%2+1])
			}
			c.appendFromLeader(last[:1])
			b.StopTimer()
			if !maps.Equal(want, c.sessions) {
				b.Fatal("sessions changed")
			}
		})
	}
}
