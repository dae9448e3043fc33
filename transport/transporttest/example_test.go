package transporttest_test

import (
	"fmt"
	"math/rand/v2"
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
//
// The addresses are random ports that nothing reserves: the suite asks
// MakeNet again when a Start finds one taken.
func ExampleRun() {
	newTransport := func(raftlite.NodeID) raftlite.Transport {
		return tcp.New(tcp.Config{ClusterID: "conformance"})
	}
	maxMessageBytes := tcp.New(tcp.Config{}).MaxMessageBytes()
	testConformance := func(t *testing.T) {
		transporttest.Run(t, func(t *testing.T, ids []raftlite.NodeID) transporttest.Net {
			peers := map[raftlite.NodeID]string{}
			for _, id := range ids {
				peers[id] = randomAddr() // or any opaque name your transport resolves
			}
			return transporttest.Net{Peers: peers, New: newTransport}
		}, transporttest.Options{MaxMessageBytes: maxMessageBytes, Size: wire.Size})
	}
	_ = testConformance // in a _test.go file: func TestConformance(t *testing.T)
}

// randomAddr returns a loopback address on a random port below the
// ephemeral ranges of Linux, macOS and Windows, which only a process asking
// for that very port can take.
func randomAddr() string {
	return fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12768))
}
