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
	n.queueSave(&rd)
	for _, a := range rd.Acked {
		n.resolve(a)
	}
	if n.saving || n.unsaved == nil {
		return
	}
	b := n.unsaved
	n.unsaved = nil
	if !n.inlineSave {
		n.saving = true
		n.toSave <- b
		return
	}
	// An in-memory save cannot block, so it is done here rather than
	// handed to the saver: two goroutine hand-offs fewer per commit.
	if !n.onSaved(n.save(b)) {
		n.halted = true
		return
	}
	// rd is not used past this point: the next ready reuses its arrays.
	n.flush(n.core.takeReady(), election)
}

// queueSave adds what rd asks to save, and the messages that wait on it,
// to the next group commit. Messages that wait on nothing unsaved go now.
func (n *Node) queueSave(rd *ready) {
	if rd.HardState == nil && len(rd.Entries) == 0 && len(rd.AfterSync) == 0 {
		return
	}
	if !n.saving && n.unsaved == nil && rd.HardState == nil && len(rd.Entries) == 0 {
		// Nothing is being saved: what these messages depend on is durable.
		for _, m := range rd.AfterSync {
			n.transport.Send(m)
		}
		return
	}
	if n.unsaved == nil {
		n.unsaved, n.spare = n.spare, nil
		if n.unsaved == nil {
			n.unsaved = &saveBatch{}
		}
	}
	n.unsaved.add(rd)
}

// save makes b durable and then releases the messages that waited on it.
func (n *Node) save(b *saveBatch) saveResult {
	err := n.persister.Save(b.hs, b.entries)
	if err == nil {
		for _, m := range b.afterSync {
			n.transport.Send(m)
		}
	}
	return saveResult{batch: b, err: err}
}

// saver runs group commits one after another, off the event loop.
func (n *Node) saver(done chan struct{}) {
	defer close(done)
	for b := range n.toSave {
		r := n.save(b)
		select {
		case n.saved <- r:
		case <-n.closing:
		}
	}
}

// onSaved tells the core what is durable now. A failed save stops the node:
// it must not acknowledge what it could not write, and its log may now end
// in a torn record that only a restart's recovery can repair.
func (n *Node) onSaved(r saveResult) bool {
	n.saving = false
	if r.err != nil {
		err := fmt.Errorf("%w: %w", ErrStorage, r.err)
		n.err.Store(&err)
		n.log.Error("stopping: cannot save state", "err", r.err)
		return false
	}
	var index, term uint64
	if k := len(r.batch.entries); k > 0 {
		index, term = r.batch.entries[k-1].Index, r.batch.entries[k-1].Term
	}
	n.core.onPersisted(index, term, r.batch.hs)
	b := r.batch
	clear(b.entries)
	clear(b.afterSync)
	*b = saveBatch{entries: b.entries[:0], afterSync: b.afterSync[:0]}
	n.spare = b
	return true
}
