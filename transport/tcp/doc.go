// Package tcp is a raftlite.Transport over TCP, optionally with mutual TLS.
// Pick it for ordinary deployments; transport/quic is the alternative when
// head-of-line blocking or connection migration matters.
//
//	tr := tcp.New(tcp.Config{ClusterID: "prod", TLS: tlsConfig}) // TLS optional
//	peers := map[raftlite.NodeID]string{1: "10.0.0.1:7000", 2: "10.0.0.2:7000", 3: "10.0.0.3:7000"}
//	err := tr.Start(1, peers, node.Deliver) // normally done by the raftlite Node
//	tr.Send(raftlite.Message{To: 2, ...})
//	defer tr.Close()
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
