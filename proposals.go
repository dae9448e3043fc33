package raftlite

import (
	"context"
	"sync"
)

// proposalQueue is how broadcasts pass from Submit to the event loop.
//
// It replaced a channel. Under load many callers submit at once: a
// channel handed the loop one broadcast per receive, and each caller
// stayed parked until the loop took its own, so that with 64 clients the
// loop's select and the channel's lock were a third of the process's CPU.
// Here a caller appends under a lock and goes on to wait for its commit;
// it wakes the loop only when the queue was empty, and the loop takes
// everything queued at once.
//
// The queue also keeps MaxPendingBroadcasts: what is queued plus what the
// loop took and has not seen commit stays within limit.
type proposalQueue struct {
	mu     sync.Mutex
	queued []*Pending
	inCore int   // taken by the loop and not yet committed, as of its last settle
	limit  int   // MaxPendingBroadcasts
	closed error // once the loop has stopped: why Submit fails
	// room, if a caller waits for room, is closed when some appears.
	room chan struct{}
	// wake holds a token while the queue may hold something the loop has
	// not taken: the caller that makes the queue non-empty puts it there.
	wake chan struct{}

	// Owned by the loop: the array of its last batch, emptied, for the
	// next swap; and inCore as the loop last told it.
	spare     []*Pending
	published int
}

func newProposalQueue(limit int) proposalQueue {
	return proposalQueue{limit: limit, wake: make(chan struct{}, 1)}
}

// push queues p, waiting while the queue and the core hold limit
// broadcasts between them.
func (q *proposalQueue) push(ctx context.Context, p *Pending) error {
	for {
		q.mu.Lock()
		if q.closed != nil {
			err := q.closed
			q.mu.Unlock()
			return err
		}
		if len(q.queued)+q.inCore < q.limit {
			q.queued = append(q.queued, p)
			first := len(q.queued) == 1
			q.mu.Unlock()
			if first {
				select {
				case q.wake <- struct{}{}:
				default: // a token is there already
				}
			}
			return nil
		}
		if q.room == nil {
			q.room = make(chan struct{})
		}
		room := q.room
		q.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// take returns everything queued, oldest first, counting it as in the
// core. The loop hands the batch back with done before it takes again.
func (q *proposalQueue) take() []*Pending {
	q.mu.Lock()
	batch := q.queued
	q.queued = q.spare
	q.inCore += len(batch)
	q.mu.Unlock()
	q.spare = nil
	q.published += len(batch)
	return batch
}

// done takes back the array of a batch that take returned.
func (q *proposalQueue) done(batch []*Pending) {
	clear(batch)
	q.spare = batch[:0]
}

// settle tells the queue how many broadcasts the core holds uncommitted,
// waking callers that wait for room if that fell. The loop calls it every
// turn; it locks only when the count changed.
func (q *proposalQueue) settle(inCore int) {
	if inCore == q.published {
		return
	}
	q.published = inCore
	q.mu.Lock()
	freed := inCore < q.inCore
	q.inCore = inCore
	if freed && q.room != nil {
		close(q.room)
		q.room = nil
	}
	q.mu.Unlock()
}

// close makes every later push fail with err, and returns what was still
// queued: broadcasts that never reached the log.
func (q *proposalQueue) close(err error) []*Pending {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = err
	if q.room != nil {
		close(q.room)
		q.room = nil
	}
	left := q.queued
	q.queued = nil
	return left
}
