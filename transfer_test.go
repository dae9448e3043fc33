package raftlite

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A leader streams a snapshot no faster than its cap: between two
// heartbeats it reads at most a heartbeat's worth of bytes (and a chunk
// over), however fast the follower acknowledges, and over many heartbeats
// it keeps to the rate.
func TestSnapshotTransferKeepsToItsRate(t *testing.T) {
	const chunk, perTick, ticks = 100, 250, 20
	h := newHand(t, map[NodeID][]uint64{1: nil, 2: nil, 3: nil}, func(c *coreConfig) {
		c.maxBatchBytes, c.maxInflightBytes, c.snapshotBytesPerTick = chunk, 100*chunk, perTick
	})
	h.cut = func(m Message) bool { return m.To == 3 || m.From == 3 }
	h.elect(1)
	l := h.cores[1]
	for range 3 {
		l.onBroadcast([]byte("x"))
		h.collect(1)
		h.run()
	}
	meta, ok := l.snapshotMeta(l.commit)
	require.True(t, ok)
	l.onSnapshotTaken(meta)
	l.takeReady()
	require.Equal(t, meta.Index, l.log.offset, "compacted behind the snapshot")

	pr := l.progress[3]
	pr.next, pr.probing = 1, false // follower 3 needs what was compacted
	l.sendAppends(3, pr)
	require.NotNil(t, pr.transfer)
	total := 0
	for tick := range ticks {
		read := 0
		for read <= 10*(perTick+chunk) { // enough to show a cap that does not hold
			rd := l.takeReady()
			if len(rd.SnapshotReads) == 0 {
				break
			}
			for _, r := range rd.SnapshotReads {
				read += r.MaxBytes
				l.onSnapshotRead(3, r, make([]byte, r.MaxBytes), false, true)
			}
			// The follower takes everything at once: only the cap holds
			// the leader back.
			l.onMessage(Message{Kind: MsgSnapshotResponse, From: 3, To: 1, Term: l.hs.Term, Success: true, Match: pr.transfer.sent})
		}
		assert.LessOrEqual(t, read, perTick+chunk, "bytes read before heartbeat %d", tick+1)
		total += read
		l.onTick()
		l.onMessage(Message{Kind: MsgSnapshotResponse, From: 3, To: 1, Term: l.hs.Term, Success: true, Match: pr.transfer.sent})
	}
	assert.GreaterOrEqual(t, total, ticks*perTick-chunk, "the transfer keeps moving at its rate")
}
