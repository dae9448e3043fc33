package raftlite

import (
	"context"
	"time"
)

// maxPendingReads bounds the ReadIndex calls a node holds at once; more
// wait. A read whose caller gave up is held until its leader answers it.
const maxPendingReads = 1 << 16

// readIndexCall is one ReadIndex waiting for the loop.
type readIndexCall struct {
	reply chan uint64 // buffered: the loop never blocks on a caller that left
}

// ReadIndex returns an index such that, once the application has been
// handed every message up to it (WaitDelivered) and has applied them,
// reading the application's state is linearizable: the read sees every
// broadcast that committed before ReadIndex was called, on any node.
//
// The leader confirms that it still leads with a round of heartbeats
// answered by a quorum (Raft thesis §6.4), or, with Config.LeaseReads, by
// its lease; a follower asks its leader. Concurrent calls share one round.
// ReadIndex waits while no leader is known, until ctx ends. A read is
// ReadIndex, then WaitDelivered, then a wait until the application has
// applied the delivery WaitDelivered names: see the example.
func (n *Node) ReadIndex(ctx context.Context) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	call := readIndexCall{reply: make(chan uint64, 1)}
	start := time.Now()
	idx, err := callLoop(ctx, n, n.readCalls, call, call.reply)
	if err == nil {
		n.metrics.readDone(time.Since(start))
	}
	return idx, err
}

// callLoop hands call to the loop through calls and waits for its answer
// on reply, until ctx ends or the node stops. reply must be buffered: the
// loop never blocks on a caller that left.
func callLoop[C, R any](ctx context.Context, n *Node, calls chan<- C, call C, reply <-chan R) (R, error) {
	var zero R
	select {
	case calls <- call:
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-n.done:
		return zero, n.closedErr()
	}
	select {
	case r := <-reply:
		return r, nil
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-n.done:
		return zero, n.closedErr()
	}
}

// readCallsIfRoom returns the channel of ReadIndex calls, or nil while
// maxPendingReads are held.
func (n *Node) readCallsIfRoom() chan readIndexCall {
	if len(n.readWaiters) < maxPendingReads {
		return n.readCalls
	}
	return nil
}

// takeRead hands a ReadIndex call to the core.
func (n *Node) takeRead(call readIndexCall) {
	n.lastRead++
	n.readWaiters[n.lastRead] = call.reply
	n.tr.readIndex(n.core, n.lastRead)
	n.core.onReadIndex(n.lastRead)
}

// answerReads replies to the calls the core confirmed.
func (n *Node) answerReads(done []readDone) {
	for _, r := range done {
		if reply, ok := n.readWaiters[r.ID]; ok {
			reply <- r.Index
			delete(n.readWaiters, r.ID)
		}
	}
}

// onHeartbeat is the heartbeat timer. A tick that comes late means the
// loop stalled, and ticks no longer measure time: a lease counted in them
// would last longer than it should.
func (n *Node) onHeartbeat(now time.Time) {
	if !n.lastTick.IsZero() && now.Sub(n.lastTick) > n.cfg.HeartbeatInterval*3/2 {
		n.core.expireLease()
	}
	n.lastTick = now
	n.tr.tickEvent(n.core)
	n.core.onTick()
}

// WaitDelivered waits until this node has handed the application every
// message at or below index, and returns the index of the last message it
// has handed over (0 if none), which may be above index. An application
// that applies deliveries on another goroutine waits, after this, until it
// has applied that one: the Deliveries channel is buffered.
func (n *Node) WaitDelivered(ctx context.Context, index uint64) (uint64, error) {
	for {
		n.statusMu.Lock()
		delivered, last, changed := n.status.Delivered, n.lastHanded, n.deliveredChanged
		n.deliveredWaited = true
		n.statusMu.Unlock()
		if delivered >= index {
			return last, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-n.done:
			return 0, n.closedErr()
		}
	}
}
