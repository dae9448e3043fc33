package raftlite

import (
	"fmt"
	"time"
)

// The Node's save pipeline: group commits, and the messages that wait on
// them. A message the core holds behind a save (a vote, an acknowledgement)
// leaves only after the save that covers it has returned.

// saveBatch is one group commit: state to save, then messages to release.
type saveBatch struct {
	hs        *HardState
	entries   []Entry
	afterSync []Message
}

// add folds a ready's state and held messages into the batch.
func (b *saveBatch) add(rd *ready) {
	if rd.HardState != nil {
		b.hs = rd.HardState
	}
	b.entries = mergeWrites(b.entries, rd.Entries)
	b.afterSync = append(b.afterSync, rd.AfterSync...)
}

type saveResult struct {
	batch *saveBatch
	err   error
}

// commit makes b durable in p, then releases the messages that waited on
// it: only now may a vote or an acknowledgement leave.
func (b *saveBatch) commit(p Persister, send func(Message), bugs bug) error {
	b.beforeSave(send, bugs)
	if err := p.Save(b.hs, b.entries); err != nil {
		return err
	}
	b.afterSave(send, bugs)
	return nil
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
	if rd.HardState == nil && len(rd.Entries) == 0 && len(rd.AfterSync) == 0 {
		return
	}
	if p.saving == nil && p.unsaved == nil && rd.HardState == nil && len(rd.Entries) == 0 {
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
	clear(b.entries)
	clear(b.afterSync)
	*b = saveBatch{entries: b.entries[:0], afterSync: b.afterSync[:0]}
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
	switch {
	case rd.ElectionTimer > 0:
		election.Reset(rd.ElectionTimer)
	case rd.ElectionTimer < 0:
		election.Stop()
	}
	for _, m := range rd.Messages {
		n.transport.Send(m)
	}
	n.requestFetches(rd.Fetches)
	n.pipe.queue(&rd, n.transport.Send)
	for _, a := range rd.Acked {
		n.resolve(a)
	}
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
	if !n.onSaved(saveResult{batch: b, err: b.commit(n.persister, n.transport.Send, n.core.cfg.bug)}) {
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
		err := b.commit(n.persister, n.transport.Send, n.core.cfg.bug)
		select {
		case n.saved <- saveResult{batch: b, err: err}:
		case <-n.closing:
		}
	}
}

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
	n.pipe.saved(r.batch, n.core)
	return true
}
