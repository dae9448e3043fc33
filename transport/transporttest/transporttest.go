package transporttest

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/raftlite/raftlite"
)

// Net is the network of one subtest: the nodes' addresses, a way to make
// their transports and, optionally, a way to cut the network.
type Net struct {
	// Peers maps every node id the suite asked for to its address.
	Peers map[raftlite.NodeID]string
	// New returns a new, unstarted transport for node id, which will be
	// started with Peers and must serve Peers[id]. It is called again for a
	// node the suite restarts, after the previous transport has closed.
	New func(id raftlite.NodeID) raftlite.Transport
	// Partition, if not nil, cuts every node of the Net off from every
	// other, as a network partition does: whatever is sent is lost, and no
	// connection is closed or reset, so a transport learns of the cut only
	// from silence. It returns a function that heals the partition. A test
	// can provide it with a proxy in front of each node that stops
	// forwarding. Without it, the subtests that need it are skipped.
	Partition func() (heal func())
}

// MakeNet returns a fresh Net (fresh addresses) for the given node ids.
// It may register cleanups with t.
//
// The addresses need not be reserved until the suite starts the nodes: if
// a node's first Start fails with an error wrapping syscall.EADDRINUSE,
// the suite closes the nodes it had started for the subtest and calls
// MakeNet again, a few times, for new addresses. So MakeNet can hand out
// random ports that nothing holds, with no window in which another
// process could take a port it released. A node restarted on its address
// gets no second chance: it must come back where it was.
type MakeNet func(t *testing.T, ids []raftlite.NodeID) Net

// DefaultReconnectWithin is the default for Options.ReconnectWithin: two of
// raftlite's default election timeouts, so that a healed link is back
// before a follower that missed its leader's heartbeats calls an election.
const DefaultReconnectWithin = time.Second

// Options describes the transport under test.
type Options struct {
	// MaxMessageBytes is the largest message the transport delivers, as
	// measured by Size; 0 means no limit, and the suite then checks only
	// that a large (4 MiB) message arrives.
	MaxMessageBytes int
	// Size measures a message for MaxMessageBytes, e.g. wire.Size for the
	// encoded size; default is the total length of the entries' Data.
	Size func(*raftlite.Message) int
	// Timeout bounds each wait for delivery; default 20s.
	Timeout time.Duration
	// ReconnectWithin bounds the time from a peer's restart, or from the
	// end of a partition, to the first message delivered again while the
	// other side sends every few milliseconds; default
	// DefaultReconnectWithin. The partition subtests hold a partition for
	// twice this long.
	ReconnectWithin time.Duration
	// Goleak holds options for the goroutine-leak check, e.g. to ignore a
	// library's global goroutines.
	Goleak []goleak.Option
}

// Run runs the conformance suite as subtests of t, one at a time.
func Run(t *testing.T, makeNet MakeNet, opts Options) {
	run(realT{t}, makeNet, opts)
}

// run is Run for any tb; the suite's own tests call it with a recorder.
func run(t tb, makeNet MakeNet, opts Options) {
	if opts.Size == nil {
		opts.Size = dataSize
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 20 * time.Second
	}
	if opts.ReconnectWithin <= 0 {
		opts.ReconnectWithin = DefaultReconnectWithin
	}
	s := &suite{makeNet: makeNet, opts: opts}
	for _, tc := range []struct {
		name string
		f    func(tb)
	}{
		{"Delivery", s.testDelivery},
		{"FIFO", s.testFIFO},
		{"MaxSize", s.testMaxSize},
		{"ConcurrentSenders", s.testConcurrentSenders},
		{"Restart", s.testRestart},
		{"ReconnectAfterRestart", s.testReconnectAfterRestart},
		{"ReconnectAfterPartition", s.testReconnectAfterPartition},
		{"ReconnectAfterCrash", s.testReconnectAfterCrash},
		{"PeerDown", s.testPeerDown},
		{"CloseDuringTraffic", s.testCloseDuringTraffic},
		{"Metrics", s.testMetrics},
		{"PeersAtRunTime", s.testPeersAtRunTime},
	} {
		t.Run(tc.name, func(t tb) {
			// Registered first, so it runs after every transport's Close.
			ignore := goleak.IgnoreCurrent()
			t.Cleanup(func() { goleak.VerifyNone(t, append([]goleak.Option{ignore}, opts.Goleak...)...) })
			tc.f(t)
		})
	}
}

type suite struct {
	makeNet MakeNet
	opts    Options
}

func dataSize(m *raftlite.Message) int {
	n := 0
	for _, e := range m.Entries {
		n += len(e.Data)
	}
	return n
}
