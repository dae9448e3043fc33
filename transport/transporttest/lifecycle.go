package transporttest

import (
	"strings"
	"sync"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/raftlite/raftlite"
)

// testRestart closes node 2 and starts a new transport on its address: both
// directions must carry messages again, and a stream begun after the
// restart must arrive whole and in order.
func (s *suite) testRestart(t tb) {
	c := s.cluster(t, 2, 2)
	n1 := c.nodes[1]
	s.sendUntilDelivered(t, n1, c.nodes[2], 1)
	s.sendUntilDelivered(t, c.nodes[2], n1, 1)

	c.nodes[2].close()
	n2 := c.start(2)
	s.sendUntilDelivered(t, n1, n2, 100)
	s.sendUntilDelivered(t, n2, n1, 100)
	s.sendPaced(t, n1, n2, 7, 200, 32)
	n2.inbox.wait(t, s.opts.Timeout, "the resumed stream", func() bool { return n2.inbox.latest[1][7] >= 200 })
	if problems := seqProblems(n2.inbox.stream(1, 7), 200); len(problems) > 0 {
		t.Errorf("1->2 stream 7 after the restart: %s", strings.Join(problems, "; "))
	}
}

// untilDeliveredStream is the stream sendUntilDelivered numbers its
// messages on.
const untilDeliveredStream = 99

// sendUntilDelivered sends numbered messages, from start on, until one of
// them arrives: across a restart the first few may be lost, but one sent
// after the restart must reach the new transport, not a stale connection.
func (s *suite) sendUntilDelivered(t tb, from, to *node, start uint64) {
	t.Helper()
	const stream = untilDeliveredStream
	deadline := time.Now().Add(s.opts.Timeout)
	arrived := func() bool { return to.inbox.latest[from.id][stream] >= start }
	for seq := start; !to.inbox.waitOK(20*time.Millisecond, arrived); seq++ {
		if time.Now().After(deadline) {
			t.Fatalf("no message from %d reached %d within %v (sent messages %d to %d)", from.id, to.id, s.opts.Timeout, start, seq-1)
		}
		from.tr.Send(seqMsg(from.id, to.id, stream, seq))
	}
}

// testPeerDown sends thousands of messages to peers that never start:
// Send must not block, nor Close wait for them.
func (s *suite) testPeerDown(t tb) {
	c := s.cluster(t, 3, 1) // 2 and 3 never start
	n1 := c.nodes[1]
	begin := time.Now()
	for i := range 5000 {
		n1.tr.Send(seqMsg(1, raftlite.NodeID(2+i%2), 0, uint64(i)))
	}
	n1.tr.Send(seqMsg(1, 99, 0, 1)) // not a member: dropped, not a panic
	elapsed := time.Since(begin)
	assert.Less(t, elapsed, 2*time.Second, "Send must not block while peers are down")

	begin = time.Now()
	n1.close()
	assert.Less(t, time.Since(begin), 5*time.Second, "Close must not wait for down peers")
	n1.tr.Send(seqMsg(1, 2, 0, 1)) // after Close: dropped, not a panic
}

// testCloseDuringTraffic closes a node while all three send to each other
// and a deliver is in progress: Close must wait for it, deliver must not
// be called after Close returns, and the others must carry on.
func (s *suite) testCloseDuringTraffic(t tb) {
	c := s.cluster(t, 3, 3)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, from := range c.nodes {
		wg.Go(func() { sendToAllUntil(stop, c, from) })
	}
	n1, n2, n3 := c.nodes[1], c.nodes[2], c.nodes[3]
	n2.inbox.wait(t, s.opts.Timeout, "traffic to node 2", func() bool { return len(n2.inbox.msgs) >= 200 })
	// Close while a deliver is certainly in progress: Close must wait for it.
	n2.inbox.slow.Store(true)
	select {
	case <-n2.inbox.slowStarted:
	case <-time.After(s.opts.Timeout):
		t.Fatalf("no delivery to node 2 began")
	}
	n2.close()
	// Let traffic run on against the closed node for a while, measured in
	// messages delivered elsewhere rather than in time.
	seen := n1.inbox.count()
	n1.inbox.wait(t, s.opts.Timeout, "traffic to continue after a Close", func() bool { return len(n1.inbox.msgs) >= seen+200 })
	close(stop)
	wg.Wait()
	n1.close()
	n3.close()
	for _, n := range c.nodes {
		n.inbox.checkNoneAfterClose(t, n.id)
	}
}

// sendToAllUntil sends numbered messages from one node to every other until
// stop is closed, pacing itself on one receiver so that the test measures
// Close rather than queue drops.
func sendToAllUntil(stop <-chan struct{}, c *cluster, from *node) {
	for seq := uint64(1); ; seq++ {
		select {
		case <-stop:
			return
		default:
		}
		for _, to := range c.nodes {
			if to != from {
				from.tr.Send(seqMsg(from.id, to.id, 0, seq))
			}
		}
		if seq%64 == 0 {
			to := c.nodes[from.id%3+1]
			if !to.inbox.closed.Load() {
				to.inbox.waitOK(50*time.Millisecond, func() bool { return to.inbox.latest[from.id][0] >= seq-32 })
			}
		}
	}
}
