// Package tcp is a raftlite.Transport over TCP, optionally with mutual TLS.
// Pick it for ordinary deployments; transport/quic is the alternative when
// head-of-line blocking or connection migration matters.
//
//	tr := tcp.New(tcp.Config{ClusterID: "prod", TLS: tlsConfig}) // TLS optional: see transport/tlsutil
//	cfg := raftlite.Config{
//		ID:        1,
//		Peers:     map[raftlite.NodeID]string{1: "10.0.0.1:7000", 2: "10.0.0.2:7000", 3: "10.0.0.3:7000"},
//		Transport: tr, // the Node starts and closes it
//		Persister: persister,
//	}
//
// raftlite.New(cfg) starts the node and its transport, which listens on
// this node's address in Peers (TCP 10.0.0.1:7000) unless this package's
// Config.Listen says otherwise. ExampleConfig builds this configuration; the
// package Example drives two transports by hand.
//
// Each node keeps one outbound connection to each peer and accepts one from
// each, so each direction of each pair is one ordered stream. Connections
// speak transport/wire: a handshake (protocol version, cluster id, node id)
// and then length-prefixed msgpack messages.
//
// # Delivery
//
// Send never blocks: it puts the message on the peer's bounded queue
// (Config.SendQueue) and drops it, counting, when the queue is full, as it
// is while a peer is down or slow. That is safe because Raft retransmits
// everything that matters; blocking would instead stall the node on its
// slowest peer. A writer goroutine per peer drains the queue, coalescing
// whatever is queued into one write. Messages that do arrive from one
// sender arrive in the order sent, across reconnections too. The reader
// calls deliver in order and waits for it, so a busy node pushes back
// through TCP flow control to the sender, whose queue then drops.
//
// # Failures
//
// A link is back within Config.IdleTimeout (default 1s, two of raftlite's
// default election timeouts) of a peer restarting or a partition healing,
// and usually much sooner, so that a follower hears its leader again
// before it calls an election. The accepting side sends a
// keep-alive every quarter of IdleTimeout, and the dialing side gives up a
// connection that hears nothing for IdleTimeout, whether the peer crashed
// or the network cut it. After a failure the writer dials again as soon as
// a message is sent, not after a backoff grown long while the peer was
// away, and at once when the peer, restarted, connects to us. An attempt
// whose packets a partition swallowed may take up to Config.DialTimeout to
// fail; while messages are sent, another starts beside it every quarter of
// IdleTimeout, and the first to succeed wins. Only a peer that refuses the
// handshake (another cluster, a wrong identity) is retried with backoff,
// up to Config.MaxBackoff.
//
// # Membership
//
// A Node tells its transport of members added and removed
// (raftlite.PeerUpdater): a node added is dialed at its address; a node
// removed has its queue dropped and its connections closed, both ways.
// Connections from a node that is not a peer are refused, so a node being
// added is refused until this node learns of it, and then redials at once
// as this node connects to it.
//
// # Security
//
// Without Config.TLS, traffic is plaintext and unauthenticated. With it,
// both sides present certificates chaining to the configured CA, and each
// certificate must name the node id its holder claims (URI SAN
// raftlite:node:<id>; see transport/tlsutil). A message's From must match
// the connection's proven node id, or it is dropped and counted.
//
// Stats reports counters for messages sent, delivered and dropped (by
// cause), malformed frames, refused handshakes, dial failures and connects.
package tcp
