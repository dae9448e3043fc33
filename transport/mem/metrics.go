package mem

import (
	"maps"
	"slices"

	"github.com/raftlite/raftlite"
)

var _ raftlite.TransportMetricsReporter = (*Transport)(nil)

// traffic is what one Transport counts, for raftlite.Node.Metrics.
type traffic struct {
	sent, received map[raftlite.NodeID]uint64
	dropped        uint64 // by the network
	unroutable     uint64 // sent to a node not in the peers
}

func (tr *traffic) count(m *map[raftlite.NodeID]uint64, peer raftlite.NodeID) {
	if *m == nil {
		*m = map[raftlite.NodeID]uint64{}
	}
	(*m)[peer]++
}

// TransportMetrics returns the messages this Transport sent to and
// received from each peer, and those it lost: under the reason "network"
// to the network's faults, to a closed or full destination; under
// "unroutable" those sent to a node not in its peers (Start's, or
// SetPeers'). mem encodes nothing, so it counts no bytes.
func (t *Transport) TransportMetrics() raftlite.TransportMetrics {
	t.net.mu.Lock()
	defer t.net.mu.Unlock()
	tr := &t.traffic
	ids := slices.Sorted(maps.Keys(tr.sent))
	for id := range tr.received {
		if _, ok := tr.sent[id]; !ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	m := raftlite.TransportMetrics{Name: "mem", Drops: map[string]uint64{"network": tr.dropped, "unroutable": tr.unroutable}}
	for _, id := range ids {
		m.Peers = append(m.Peers, raftlite.PeerTraffic{ID: id, MessagesSent: tr.sent[id], MessagesReceived: tr.received[id]})
	}
	return m
}
