package transporttest

import (
	"sync"
	"time"

	"github.com/raftlite/raftlite"
)

// A leader sends heartbeats every 50ms; the suite sends a little faster, so
// that the moment a link is back is measured to within a few milliseconds.
const (
	heartbeatEvery  = 5 * time.Millisecond
	heartbeatStream = 5
)

// testReconnectAfterRestart stops node 2 for a while and starts it again
// while node 1 keeps sending to it, as a leader does to a follower that
// crashed, and measures how soon after the restart messages flow again,
// both ways.
func (s *suite) testReconnectAfterRestart(t tb) {
	c := s.cluster(t, 2, 2)
	n1 := c.nodes[1]
	s.sendUntilDelivered(t, n1, c.nodes[2], 1)
	s.sendUntilDelivered(t, c.nodes[2], n1, 1)
	t.Cleanup(heartbeat(n1, 2))

	c.nodes[2].close()
	// A restarting node is down for a while, long enough for its peers'
	// attempts to reach it to fail and, in a transport that backs off, to
	// grow far apart.
	hold(s.opts.ReconnectWithin)
	restarted := time.Now()
	n2 := c.start(2)
	t.Cleanup(heartbeat(n2, 1))
	s.checkResumed(t, "1->2 after node 2 restarted", n2.inbox, 1, 0, restarted)
	s.checkResumed(t, "2->1 after node 2 restarted", n1.inbox, 2, 0, restarted)
}

// testReconnectAfterPartition cuts two nodes apart while both keep sending,
// holds the partition long enough for a transport to give up on its
// connections, heals it and measures how soon messages flow again.
func (s *suite) testReconnectAfterPartition(t tb) {
	c := s.cluster(t, 2, 2)
	if c.net.Partition == nil {
		t.Skipf("Net.Partition is nil: this transport's test cannot cut the network")
	}
	n1, n2 := c.nodes[1], c.nodes[2]
	s.sendUntilDelivered(t, n1, n2, 1)
	s.sendUntilDelivered(t, n2, n1, 1)
	t.Cleanup(heartbeat(n1, 2))
	t.Cleanup(heartbeat(n2, 1))

	heal := c.net.Partition()
	s.holdPartition(t, n1, n2)
	mark1, mark2 := n1.inbox.latestOn(2, heartbeatStream), n2.inbox.latestOn(1, heartbeatStream)
	healed := time.Now()
	heal()
	s.checkResumed(t, "1->2 after the partition healed", n2.inbox, 1, mark2, healed)
	s.checkResumed(t, "2->1 after the partition healed", n1.inbox, 2, mark1, healed)
}

// testReconnectAfterCrash restarts node 2 behind a partition, so that
// nothing it said on the way down (a FIN, a CONNECTION_CLOSE) reaches node
// 1, as when a machine dies; then heals the partition and measures how soon
// messages flow again, both ways. Node 1 may learn of the crash only from
// silence, or from the new node 2 reaching it.
func (s *suite) testReconnectAfterCrash(t tb) {
	c := s.cluster(t, 2, 2)
	if c.net.Partition == nil {
		t.Skipf("Net.Partition is nil: this transport's test cannot cut the network")
	}
	n1 := c.nodes[1]
	s.sendUntilDelivered(t, n1, c.nodes[2], 1)
	s.sendUntilDelivered(t, c.nodes[2], n1, 1)
	t.Cleanup(heartbeat(n1, 2))

	heal := c.net.Partition()
	c.nodes[2].close()
	n2 := c.start(2)
	t.Cleanup(heartbeat(n2, 1))
	s.holdPartition(t, n1, n2)
	healed := time.Now()
	heal()
	s.checkResumed(t, "1->2 after node 2 crashed and restarted", n2.inbox, 1, 0, healed)
	s.checkResumed(t, "2->1 after node 2 crashed and restarted", n1.inbox, 2, 0, healed)
}

// holdPartition keeps a partition for twice ReconnectWithin. Over the
// first half, messages already in flight when the cut came may land; over
// the second, nothing may, or Net.Partition did not cut.
func (s *suite) holdPartition(t tb, nodes ...*node) {
	t.Helper()
	hold(s.opts.ReconnectWithin)
	before := make([]int, len(nodes))
	for i, n := range nodes {
		before[i] = n.inbox.count()
	}
	hold(s.opts.ReconnectWithin)
	for i, n := range nodes {
		if got := n.inbox.count() - before[i]; got > 0 {
			t.Fatalf("node %d was delivered %d messages during the partition: Net.Partition did not cut the network", n.id, got)
		}
	}
}

// hold lets d pass. The suite waits on a clock only where the duration is
// the point, as the length of a partition is; everywhere else it waits
// for deliveries.
func hold(d time.Duration) {
	timer := time.NewTimer(d)
	<-timer.C
}

// checkResumed waits for a heartbeat from node from, numbered above mark,
// to reach in, and checks that it came within ReconnectWithin of since.
func (s *suite) checkResumed(t tb, what string, in *inbox, from raftlite.NodeID, mark uint64, since time.Time) {
	t.Helper()
	if !in.waitOK(s.opts.Timeout, func() bool { return in.latest[from][heartbeatStream] > mark }) {
		t.Errorf("%s: nothing delivered within %v", what, s.opts.Timeout)
		return
	}
	took := time.Since(since)
	t.Logf("%s: first delivery after %v", what, took.Round(time.Millisecond))
	if took > s.opts.ReconnectWithin {
		t.Errorf("%s: first delivery after %v, want within %v (Options.ReconnectWithin)",
			what, took.Round(time.Millisecond), s.opts.ReconnectWithin)
	}
}

// heartbeat sends numbered messages from one node to another every
// heartbeatEvery until the returned function is called.
func heartbeat(from *node, to raftlite.NodeID) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(heartbeatEvery)
		defer tick.Stop()
		for seq := uint64(1); ; seq++ {
			from.tr.Send(seqMsg(from.id, to, heartbeatStream, seq))
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() { close(done) })
		wg.Wait()
	}
}

// latestOn returns the highest sequence number delivered on one stream from
// node id.
func (in *inbox) latestOn(id raftlite.NodeID, stream uint64) uint64 {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.latest[id][stream]
}
