package mem_test

import (
	"fmt"
	"testing"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/transport/mem"
	"github.com/raftlite/raftlite/transport/transporttest"
)

// The in-memory transport passes the same conformance suite as tcp and
// quic, the partition subtests included: Net.Partition isolates every node
// with the network's link faults, which lose messages sent during the cut
// and those in flight when it comes, silently, as a real partition does.
func TestConformance(t *testing.T) {
	transporttest.Run(t, func(t *testing.T, ids []raftlite.NodeID) transporttest.Net {
		network := mem.NewNetwork(1)
		peers := map[raftlite.NodeID]string{}
		for _, id := range ids {
			peers[id] = fmt.Sprint("node-", id)
		}
		return transporttest.Net{
			Peers: peers,
			New:   func(id raftlite.NodeID) raftlite.Transport { return network.Transport(id) },
			Partition: func() (heal func()) {
				for _, id := range ids {
					network.Isolate(id)
				}
				return network.Heal
			},
		}
	}, transporttest.Options{})
}
