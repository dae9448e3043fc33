package transporttest

import (
	"fmt"

	"github.com/raftlite/raftlite"
)

// testMetrics checks a transport that reports metrics
// (raftlite.TransportMetricsReporter), and is skipped for one that does
// not: after 500 messages from node 1 to node 2, node 1 counts at least
// 500 sent to node 2 and node 2 exactly 500 received from node 1 by the
// time it has been handed the last; a transport that counts bytes counts
// them on both sides.
func (s *suite) testMetrics(t tb) {
	const count = 500
	c := s.cluster(t, 2, 2)
	from, to := c.nodes[1], c.nodes[2]
	rFrom, ok := from.tr.(raftlite.TransportMetricsReporter)
	rTo, _ := to.tr.(raftlite.TransportMetricsReporter)
	if !ok {
		t.Skipf("the transport does not implement raftlite.TransportMetricsReporter")
	}
	s.sendPaced(t, from, to, 0, count, 64)
	to.inbox.wait(t, s.opts.Timeout, fmt.Sprintf("node 2 to receive %d messages", count),
		func() bool { return to.inbox.latest[1][0] >= count })
	mFrom, mTo := rFrom.TransportMetrics(), rTo.TransportMetrics()
	if mFrom.Name == "" {
		t.Errorf("TransportMetrics has no Name")
	}
	sent, _ := mFrom.Peer(2)
	received, _ := mTo.Peer(1)
	if sent.MessagesSent < count {
		t.Errorf("node 1 counts %d messages sent to node 2, want at least %d", sent.MessagesSent, count)
	}
	if received.MessagesReceived != count {
		t.Errorf("node 2 counts %d messages received from node 1 once it was handed %d, want as many: count a message before handing it over",
			received.MessagesReceived, count)
	}
	if sent.BytesSent > 0 && received.BytesReceived == 0 {
		t.Errorf("node 1 counts %d bytes sent to node 2, but node 2 counts no bytes received from node 1", sent.BytesSent)
	}
}
