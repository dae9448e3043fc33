// Package transporttest is a conformance suite for raftlite.Transport
// implementations, in the manner of testing/fstest: every transport in this
// repository runs it, and so should yours.
//
// A transport's test (func TestConformance(t *testing.T), say) calls Run
// with a MakeNet that gives every node an address and a New that makes its
// transport, and Options that say how large a message it carries:
//
//	transporttest.Run(t, func(t *testing.T, ids []raftlite.NodeID) transporttest.Net {
//		peers := map[raftlite.NodeID]string{}
//		for _, id := range ids {
//			peers[id] = randomAddr() // or any opaque name your transport resolves
//		}
//		return transporttest.Net{Peers: peers, New: newTransport}
//	}, transporttest.Options{MaxMessageBytes: maxMessageBytes, Size: wire.Size})
//
// ExampleRun shows it whole, for transport/tcp.
//
// The suite calls MakeNet once per subtest (again if a first Start finds
// its address in use, see MakeNet), calls New once per node it starts
// (and again for a node it restarts, which must come back on the same
// address), Starts each transport with the whole of Peers (but in
// PeersAtRunTime), and Closes every transport it started. Addresses are opaque strings: an in-memory transport
// may hand out names instead of host:port.
//
// What it checks: delivery of every field; FIFO order per pair with
// thousands of messages; the size limit (or, without one, a large message);
// many goroutines sending at once; a peer restarting on the same address;
// how soon messages flow again after a peer restarts, after a partition
// heals and after a peer crashes and restarts behind a partition (within
// Options.ReconnectWithin, two of raftlite's default election timeouts);
// Send not blocking while a peer is down; Close during traffic (deliver is
// not called after Close returns); the per-peer message counts of a
// transport that reports metrics (raftlite.TransportMetricsReporter); for
// a transport that learns of peers at run time (raftlite.PeerUpdater),
// that a node added by SetPeers is reached both ways, and that one removed
// is sent nothing more and leaves no goroutine of its links behind; and no
// goroutine left behind (goleak).
// The partition subtests need Net.Partition, a way for the transport's
// test to cut the network (transport/tcp and transport/quic put a proxy in
// front of every node, transport/mem isolates every node); without it they
// are skipped.
//
// The suite keeps at most 64 messages in flight per sending goroutine and at
// most 256 per pair, so a transport whose queues hold that many must not
// drop anything on a healthy link; it never relies on drops either.
// Subtests run one at a time, as goleak cannot tell parallel subtests' goroutines
// apart.
package transporttest
