package transporttest_test

import (
	"net"
	"testing"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/transport/tcp"
	"github.com/raftlite/raftlite/transport/transporttest"
	"github.com/raftlite/raftlite/transport/wire"
)

// A transport's own test runs the suite, here transport/tcp's: MakeNet gives
// each node a fresh address and New makes a transport for it. Options say
// how large a message the transport promises to carry, measured as it
// measures them. Without Net.Partition, the partition subtests are skipped.
func ExampleRun() {
	testConformance := func(t *testing.T) {
		makeNet := func(t *testing.T, ids []raftlite.NodeID) transporttest.Net {
			peers := map[raftlite.NodeID]string{}
			for _, id := range ids {
				peers[id] = freeAddr(t)
			}
			return transporttest.Net{
				Peers: peers,
				New: func(raftlite.NodeID) raftlite.Transport {
					return tcp.New(tcp.Config{ClusterID: "conformance"})
				},
			}
		}
		transporttest.Run(t, makeNet, transporttest.Options{
			MaxMessageBytes: tcp.New(tcp.Config{}).MaxMessageBytes(),
			Size:            wire.Size,
		})
	}
	_ = testConformance // in a _test.go file: func TestConformance(t *testing.T)
}

// freeAddr returns a loopback address that nothing listens on.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
