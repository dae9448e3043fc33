package raftlite

import (
	"hash/crc32"
	"maps"
	"slices"
)

// Snapshots in the core: taking one compacts the log behind it, a leader
// streams its latest one to a follower that its log no longer reaches, and
// the follower installs it (Raft §7). The bytes are read and written at
// the edges (the Node's fetcher and save pipeline, or the simulator); the
// core decides which bytes go where, and checks them.

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// snapshotTransfer is a leader's stream of its latest snapshot to one
// follower: chunks are read back from the Persister one at a time and sent
// with up to maxInflightBytes of them unacknowledged.
type snapshotTransfer struct {
	meta    SnapshotMeta
	sent    uint64 // bytes read and sent: the offset of the next chunk
	acked   uint64 // bytes the follower confirmed
	crc     uint32 // of the bytes sent
	reading bool   // a chunk is being read back
	eof     bool   // the last chunk was sent
	idle    int    // heartbeats since the follower last answered
	budget  int    // bytes it may still read before the next heartbeat, with a rate cap
}

// incomingSnapshot is a follower's side of a transfer: the chunks written
// so far to the Persister's sink.
type incomingSnapshot struct {
	from NodeID
	term uint64
	meta SnapshotMeta
	next uint64 // the offset expected next
	crc  uint32
	idle int // heartbeats since the last chunk
}

// snapshotRead asks the driver for the chunk at Offset of the latest
// snapshot (which must be at Index), for follower To, to hand to
// onSnapshotRead.
type snapshotRead struct {
	To            NodeID
	Index, Offset uint64
	MaxBytes      int
}

// snapshotWrite is one step of storing a received snapshot, done by the
// save pipeline in order: Begin opens a sink, Data is written to it, Done
// closes it (durable; then onSnapshotStored), Abort discards it.
type snapshotWrite struct {
	Begin *SnapshotMeta
	Data  []byte
	Done  bool
	Abort bool
}

// transferTimeoutTicks is how long a transfer may go without a word from
// the other side before it is abandoned: two election timeouts.
func (cc *coreConfig) transferTimeoutTicks() int { return 2 * cc.ticksPerElection() }

// snapshotMeta describes a snapshot of the application's state as of
// index, which must be committed and still in the log's reach. Its
// sessions are those of the committed log: the ones at index, or ones
// the committed entries after index also lead to.
func (c *core) snapshotMeta(index uint64) (SnapshotMeta, bool) {
	if index > c.commit || index < c.log.offset || index <= c.snapshot.Index {
		return SnapshotMeta{}, false
	}
	conf := c.confAsOf(index).clone()
	meta := SnapshotMeta{Index: index, Term: c.log.term(index), Sessions: c.sessionsAtCommit(), Membership: &conf}
	if c.injected(bugSnapshotWithoutSessions) {
		meta.Sessions = nil
	}
	return meta, true
}

// sessionsAtCommit returns the exactly-once table as of the commit index:
// sessions with the changes of uncommitted entries undone.
func (c *core) sessionsAtCommit() []BroadcastID {
	at := maps.Clone(c.sessions)
	for _, ch := range slices.Backward(c.sessionUndo) {
		if ch.had {
			at[ch.origin] = ch.prev
		} else {
			delete(at, ch.origin)
		}
	}
	out := make([]BroadcastID, 0, len(at))
	for _, origin := range slices.Sorted(maps.Keys(at)) {
		out = append(out, BroadcastID{Origin: origin, Incarnation: at[origin].incarnation, Seq: at[origin].seq})
	}
	return out
}

// compactBehind forgets the log up to TrailingEntries before the snapshot
// at index, in memory and, through the save pipeline, on disk.
func (c *core) compactBehind(index uint64) {
	through := index - min(index, c.cfg.trailingEntries)
	if c.injected(bugCompactPastSnapshot) {
		through = c.commit
	}
	if through <= c.log.offset {
		return
	}
	c.log.compact(through)
	c.forgetConfs(through)
	c.out.Compact = max(c.out.Compact, through)
}

// sendSnapshot starts streaming the latest snapshot to f, whose next entry
// the log no longer holds.
func (c *core) sendSnapshot(f NodeID, pr *progress) {
	if pr.transfer != nil {
		return
	}
	pr.transfer = &snapshotTransfer{meta: c.snapshot, budget: c.cfg.snapshotBytesPerTick}
	c.stats.snapshotTransfers++
	c.readSnapshotChunk(f, pr.transfer)
}

func (c *core) readSnapshotChunk(f NodeID, t *snapshotTransfer) {
	capped := c.cfg.snapshotBytesPerTick > 0
	if t.reading || t.eof || t.sent-t.acked >= uint64(c.cfg.maxInflightBytes) || (capped && t.budget <= 0) {
		return
	}
	t.reading = true
	size := c.cfg.maxBatchBytes
	if t.sent == 0 {
		// The first chunk carries the description too; every chunk
		// carries at least a byte, or the transfer would not move.
		size = max(size-snapshotMetaSize(&t.meta), 1)
	}
	if capped {
		t.budget -= size
	}
	c.out.SnapshotReads = append(c.out.SnapshotReads,
		snapshotRead{To: f, Index: t.meta.Index, Offset: t.sent, MaxBytes: size})
}

// snapshotMetaSize bounds the encoding of meta in a message: 33 bytes
// (rounded up to 40), and 34 per session.
func snapshotMetaSize(meta *SnapshotMeta) int { return 40 + 34*len(meta.Sessions) }

// endTransfer stops streaming to f; unless the follower has the snapshot
// now, the next answer to a heartbeat starts a new transfer from scratch.
func (c *core) endTransfer(f NodeID, pr *progress) {
	if pr.transfer == nil {
		return
	}
	pr.transfer = nil
	c.out.TransfersEnded = append(c.out.TransfersEnded, f)
}

// watchTransfer abandons a transfer to a follower that stopped answering:
// it may have crashed, or be cut off, and must not hold a reader open for
// ever. The next answer to a heartbeat starts a new one.
// With a rate cap, each heartbeat also lets it read a heartbeat's worth of
// bytes more (a chunk's worth at most saved up).
func (c *core) watchTransfer(f NodeID, pr *progress) {
	t := pr.transfer
	if t == nil {
		return
	}
	if t.idle++; t.idle >= c.cfg.transferTimeoutTicks() {
		c.endTransfer(f, pr)
		return
	}
	if perTick := c.cfg.snapshotBytesPerTick; perTick > 0 {
		t.budget = min(t.budget+perTick, max(perTick, c.cfg.maxBatchBytes))
		c.readSnapshotChunk(f, t)
	}
}

// abortIncoming discards a snapshot being received.
func (c *core) abortIncoming() {
	if c.incoming != nil {
		c.incoming = nil
		c.out.SnapshotWrites = append(c.out.SnapshotWrites, snapshotWrite{Abort: true})
	}
}

// installSnapshot makes the log start after a stored snapshot (Raft §7):
// if the log holds the snapshot's last entry, the entries after it stay;
// otherwise the whole log goes, on disk too.
func (c *core) installSnapshot(meta SnapshotMeta) {
	c.snapshot = meta
	c.stats.snapshotsInstalled++
	matches := c.log.term(meta.Index) == meta.Term || c.injected(bugKeepConflictsOnInstall)
	if meta.Index <= c.log.lastIndex() && matches && !c.injected(bugInstallOldSnapshot) {
		c.advanceCommit(meta.Index)
		c.compactBehind(meta.Index)
		return
	}
	c.log.restartAfter(meta.Index, meta.Term)
	if meta.Membership != nil {
		c.setConfs([]confAt{{index: meta.Index, conf: meta.Membership.clone()}})
	} else {
		c.setConfs(c.confs[:1]) // a cluster that never changed: the bootstrap's
	}
	c.confChanged = true
	c.sessions = sessionsFrom(meta.Sessions)
	c.sessionUndo = c.sessionUndo[:0]
	c.stableIndex = meta.Index
	c.out.Entries = c.out.Entries[:0] // what was still to be saved went with the log
	c.out.Discard, c.out.DiscardIndex = true, meta.Index
	c.commit = max(c.commit, meta.Index)
	if c.injected(bugInstallOldSnapshot) {
		c.commit = meta.Index
	}
	c.ackFromSessions(meta.Sessions)
}

// ackFromSessions releases our own broadcasts that a snapshot shows
// committed: they were compacted away before this node saw them, so it
// does not know their index.
func (c *core) ackFromSessions(sessions []BroadcastID) {
	for _, s := range sessions {
		if s.Origin != c.cfg.id || s.Incarnation != c.hs.Incarnation {
			continue
		}
		for len(c.pending) > 0 && c.pending[0].Seq <= s.Seq {
			c.out.Acked = append(c.out.Acked, ack{Seq: c.pending[0].Seq, InSnapshot: true})
			c.popPending()
		}
	}
}

func sessionsFrom(ids []BroadcastID) map[NodeID]broadcastID {
	m := make(map[NodeID]broadcastID, len(ids))
	for _, s := range ids {
		m[s.Origin] = broadcastID{incarnation: s.Incarnation, seq: s.Seq}
	}
	return m
}

// crcUpdate extends a CRC-32C with data.
func crcUpdate(crc uint32, data []byte) uint32 { return crc32.Update(crc, castagnoli, data) }
