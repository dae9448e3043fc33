package transporttest

import (
	"time"

	"go.uber.org/goleak"

	"github.com/raftlite/raftlite"
)

// testPeersAtRunTime checks a transport that learns of peers after Start
// (raftlite.PeerUpdater), and is skipped for one that does not, as a
// cluster growing and shrinking needs: nodes 1 and 2 start knowing only
// each other, node 3 only itself. SetPeers tells node 3 of them, as a
// joining node is told, then them of node 3: messages must flow every way.
// Then SetPeers removes node 3 from nodes 1 and 2, which it need not do
// the other way: nothing they send it afterwards may reach it, though it
// runs, and once it is closed too, nothing started for its links may be
// left running, while 1 and 2 go on talking.
func (s *suite) testPeersAtRunTime(t tb) {
	c := s.clusterKnowing(t, 3, 3, func(id raftlite.NodeID) []raftlite.NodeID {
		if id == 3 {
			return []raftlite.NodeID{3}
		}
		return []raftlite.NodeID{1, 2}
	})
	n1, n2, n3 := c.nodes[1], c.nodes[2], c.nodes[3]
	updaters := map[raftlite.NodeID]raftlite.PeerUpdater{}
	for id, n := range c.nodes {
		u, ok := n.tr.(raftlite.PeerUpdater)
		if !ok {
			t.Skipf("the transport does not implement raftlite.PeerUpdater")
		}
		updaters[id] = u
	}
	s.sendUntilDelivered(t, n1, n2, 1)
	s.sendUntilDelivered(t, n2, n1, 1)
	before := goleak.IgnoreCurrent() // 1 and 2, linked

	for _, id := range []raftlite.NodeID{3, 1, 2} {
		updaters[id].SetPeers(c.peers(1, 2, 3))
	}
	for _, link := range [][2]*node{{n1, n3}, {n2, n3}, {n3, n1}, {n3, n2}} {
		s.sendUntilDelivered(t, link[0], link[1], 1)
	}

	updaters[1].SetPeers(c.peers(1, 2))
	updaters[2].SetPeers(c.peers(1, 2))
	// heartbeatStream is new to node 3: whatever arrives on it was sent
	// after node 3 was removed.
	stop1, stop2 := heartbeat(n1, 3), heartbeat(n2, 3)
	hold(s.opts.ReconnectWithin)
	stop1()
	stop2()
	for _, from := range []raftlite.NodeID{1, 2} {
		if got := len(n3.inbox.stream(from, heartbeatStream)); got > 0 {
			t.Errorf("node 3 was delivered %d messages from node %d sent after SetPeers removed it", got, from)
		}
	}
	s.sendUntilDelivered(t, n1, n2, 100)
	s.sendUntilDelivered(t, n2, n1, 100)

	n3.close()
	if err := s.noGoroutinesBut(before); err != nil {
		t.Errorf("the links to node 3 outlived its removal by SetPeers and its Close: %v", err)
	}
}

// noGoroutinesBut waits, up to Options.Timeout, for every goroutine that
// before does not ignore to end (goleak.Find gives up after half a second).
func (s *suite) noGoroutinesBut(before goleak.Option) error {
	deadline := time.Now().Add(s.opts.Timeout)
	for {
		err := goleak.Find(append([]goleak.Option{before}, s.opts.Goleak...)...)
		if err == nil || time.Now().After(deadline) {
			return err
		}
	}
}
