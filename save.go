package raftlite

import (
	"fmt"
	"runtime"
	"time"
)

// The Node's save pipeline: group commits, and the messages that wait on
// them. A message the core holds behind a save (a vote, an acknowledgement)
// leaves only after the save that covers it has returned.

// saveBatch is one group commit: state to save, then messages to release.
type saveBatch struct {
	snapshotWrites []snapshotWrite
	discard        bool
	discardIndex   uint64
	hs             *HardState
	entries        []Entry
	compact        uint64
	afterSync      []Message
	stored         *SnapshotMeta // a received snapshot this batch made durable
	// saved and saveTook: Save was called, and how long it took (for
	// Metrics.SaveLatency).
	saved    bool
	saveTook time.Duration
}

// add folds a ready's state and held messages into the batch.
func (b *saveBatch) add(rd *ready) {
	b.snapshotWrites = append(b.snapshotWrites, rd.SnapshotWrites...)
	if rd.Discard {
		// Entries queued before are of the log that goes.
		b.entries = b.entries[:0]
		b.discard, b.discardIndex = true, rd.DiscardIndex
	}
	if rd.HardState != nil {
		b.hs = rd.HardState
	}
	b.entries = mergeWrites(b.entries, rd.Entries)
	b.compact = max(b.compact, rd.Compact)
	b.afterSync = append(b.afterSync, rd.AfterSync...)
}

func (b *saveBatch) empty() bool {
	return len(b.snapshotWrites) == 0 && !b.discard && b.hs == nil && len(b.entries) == 0 && b.compact == 0
}

type saveResult struct {
	batch *saveBatch
	err   error
}

// commit makes b durable in p, then releases the messages that waited on
// it: only now may a vote or an acknowledgement leave.
func (b *saveBatch) commit(p Persister, sink *snapshotSlot, send func(Message), bugs bug) error {
	b.beforeSave(send, bugs)
	if err := b.persist(p, sink); err != nil {
		return err
	}
	b.afterSave(send, bugs)
	return nil
}

// persist does b's work on p, in the order the core asked for it.
func (b *saveBatch) persist(p Persister, sink *snapshotSlot) error {
	for _, w := range b.snapshotWrites {
		stored, err := sink.write(p, w)
		if err != nil {
			return err
		}
		if stored != nil {
			b.stored = stored
		}
	}
	if b.discard {
		if err := p.DiscardLog(b.discardIndex); err != nil {
			return err
		}
	}
	if b.hs != nil || len(b.entries) > 0 {
		start := time.Now()
		if err := p.Save(b.hs, b.entries); err != nil {
			return err
		}
		b.saved, b.saveTook = true, time.Since(start)
	}
	if b.compact > 0 {
		return p.Compact(b.compact)
	}
	return nil
}

// snapshotSlot holds the sink of the snapshot being received, from the
// batch that begins it to the one that stores it.
type snapshotSlot struct {
	sink SnapshotSink
	meta SnapshotMeta
}

// write does one step of storing a received snapshot, and returns its
// description once it is stored.
func (s *snapshotSlot) write(p Persister, w snapshotWrite) (*SnapshotMeta, error) {
	switch {
	case w.Begin != nil:
		s.abort()
		sink, err := p.CreateSnapshot(*w.Begin)
		if err != nil {
			return nil, fmt.Errorf("storing a snapshot: %w", err)
		}
		s.sink, s.meta = sink, *w.Begin
	case s.sink == nil:
		// Its Begin failed the node already, or it was aborted.
	case w.Abort:
		s.abort()
	case w.Done:
		sink := s.sink
		s.sink = nil
		if err := sink.Close(); err != nil {
			return nil, fmt.Errorf("storing a snapshot: %w", err)
		}
		meta := s.meta
		return &meta, nil
	default:
		if _, err := s.sink.Write(w.Data); err != nil {
			s.abort()
			return nil, fmt.Errorf("storing a snapshot: %w", err)
		}
	}
	return nil, nil
}

func (s *snapshotSlot) abort() {
	if s.sink != nil {
		_ = s.sink.Abort() // nothing of it was visible
		s.sink = nil
	}
}

// beforeSave and afterSave are commit's steps around the save itself, for
// the simulator, whose saves take virtual time.
func (b *saveBatch) beforeSave(send func(Message), bugs bug) {
	if bugOn(bugs, bugReleaseBeforeSync) {
		b.release(send)
	}
}

func (b *saveBatch) afterSave(send func(Message), bugs bug) {
	if !bugOn(bugs, bugReleaseBeforeSync) {
		b.release(send)
	}
}

func (b *saveBatch) release(send func(Message)) {
	for _, m := range b.afterSync {
		send(m)
	}
}

// savePipeline is the group commit between the core and the persister:
// one save at a time, and everything that arrives meanwhile gathered into
// the next. The Node runs it with a saver goroutine, the simulator on
// virtual time.
type savePipeline struct {
	saving  *saveBatch // being saved
	unsaved *saveBatch // to save next
	spare   *saveBatch // saved, emptied for reuse
}

// queue adds what rd asks to save, and the messages that wait on it, to
// the next group commit. Messages that wait on nothing unsaved go now.
func (p *savePipeline) queue(rd *ready, send func(Message)) {
	saves := rd.HardState != nil || len(rd.Entries) > 0 || len(rd.SnapshotWrites) > 0 || rd.Discard || rd.Compact > 0
	if !saves && len(rd.AfterSync) == 0 {
		return
	}
	if p.saving == nil && p.unsaved == nil && !saves {
		// Nothing is being saved: what these messages depend on is durable.
		for _, m := range rd.AfterSync {
			send(m)
		}
		return
	}
	if p.unsaved == nil {
		p.unsaved, p.spare = p.spare, nil
		if p.unsaved == nil {
			p.unsaved = &saveBatch{}
		}
	}
	p.unsaved.add(rd)
}

// next returns the batch to save now, or nil if a save is under way or
// there is nothing to save.
func (p *savePipeline) next() *saveBatch {
	if p.saving != nil || p.unsaved == nil {
		return nil
	}
	p.saving, p.unsaved = p.unsaved, nil
	return p.saving
}

// saved tells the core what the save of b made durable, and keeps b for
// reuse.
func (p *savePipeline) saved(b *saveBatch, c *core) {
	p.saving = nil
	var index, term uint64
	if k := len(b.entries); k > 0 {
		index, term = b.entries[k-1].Index, b.entries[k-1].Term
	}
	c.onPersisted(index, term, b.hs)
	if b.stored != nil {
		c.onSnapshotStored(*b.stored)
	}
	clear(b.entries)
	clear(b.afterSync)
	clear(b.snapshotWrites)
	*b = saveBatch{entries: b.entries[:0], afterSync: b.afterSync[:0], snapshotWrites: b.snapshotWrites[:0]}
	p.spare = b
}

// crash forgets every save not yet done and returns the one under way.
func (p *savePipeline) crash() *saveBatch {
	b := p.saving
	*p = savePipeline{}
	return b
}

// flush carries out a ready.
func (n *Node) flush(rd ready, election *time.Timer) {
	n.tr.ready(n.core, &rd)
	switch {
	case rd.ElectionTimer > 0:
		election.Reset(rd.ElectionTimer)
	case rd.ElectionTimer < 0:
		election.Stop()
	}
	for _, m := range rd.Messages {
		n.transport.Send(m)
	}
	n.metrics.sent(rd.Messages, rd.AfterSync)
	n.requestFetches(&rd)
	n.pipe.queue(&rd, n.transport.Send)
	n.resolve(rd.Acked)
	n.answerReads(rd.Reads)
	n.endTransfers(rd.Transfers)
	n.endChanges(rd.ConfChanges)
	b := n.pipe.next()
	if b == nil {
		return
	}
	if !n.inlineSave {
		n.toSave <- b
		return
	}
	// An in-memory save cannot block, so it is done here rather than
	// handed to the saver: two goroutine hand-offs fewer per commit.
	if !n.onSaved(saveResult{batch: b, err: b.commit(n.persister, &n.sink, n.transport.Send, n.core.cfg.bug)}) {
		n.halted = true
		return
	}
	// rd is not used past this point: the next ready reuses its arrays.
	n.flush(n.core.takeReady(), election)
}

// saver runs group commits one after another, off the event loop.
func (n *Node) saver(done chan struct{}) {
	defer close(done)
	for b := range n.toSave {
		yieldBeforeSmallSave(b)
		err := b.commit(n.persister, &n.sink, n.transport.Send, n.core.cfg.bug)
		select {
		case n.saved <- saveResult{batch: b, err: err}:
		case <-n.closing:
		}
	}
}

// yieldBeforeSmallSave lets the goroutines that the loop readied with
// this batch, the transport's writers among them, run before the saver
// holds its P in fdatasync, when the batch is small.
//
// The loop sends a new entry to the followers and hands it to the saver in
// one turn, and Go runs the saver first. While it sat in fdatasync, the
// messages waited behind it on its P until sysmon took the P back: with
// one client on tcp+wal (three nodes, two Ps), the entry reached the
// followers 250 and 450 us after the leader sent it, so their syncs ran
// after the leader's rather than beside it. Yielding took one client's
// p50 from 470 to 340 us. A large batch means many callers whose
// goroutines the yield would also let run first: 64 clients lost 10%.
func yieldBeforeSmallSave(b *saveBatch) {
	if n := len(b.entries); n > 0 && n <= smallSave {
		runtime.Gosched()
	}
}

// smallSave is the largest batch, in entries, that yieldBeforeSmallSave
// treats as a lone caller's.
const smallSave = 4

// onSaved tells the core what is durable now. A failed save stops the node:
// it must not acknowledge what it could not write, and its log may now end
// in a torn record that only a restart's recovery can repair.
func (n *Node) onSaved(r saveResult) bool {
	if r.err != nil {
		err := fmt.Errorf("%w: %w", ErrStorage, r.err)
		n.err.Store(&err)
		n.log.Error("stopping: cannot save state", "err", r.err)
		return false
	}
	if r.batch.saved {
		n.metrics.saved(r.batch.saveTook, r.batch.entries)
	}
	n.tr.persisted(n.core, r.batch)
	n.pipe.saved(r.batch, n.core)
	return true
}
