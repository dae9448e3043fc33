package mem_test

import (
	"fmt"
	"testing"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/transport/mem"
	"github.com/raftlite/raftlite/transport/transporttest"
)

// The in-memory transport passes the same conformance suite as tcp and quic.
func TestConformance(t *testing.T) {
	transporttest.Run(t, func(t *testing.T, ids []raftlite.NodeID) transporttest.Net {
		network := mem.NewNetwork(1)
		peers := map[raftlite.NodeID]string{}
		for _, id := range ids {
			peers[id] = fmt.Sprint("node-", id)
		}
		return transporttest.Net{Peers: peers, New: func(id raftlite.NodeID) raftlite.Transport { return network.Transport(id) }}
	}, transporttest.Options{})
}
