package raftlite

// Transport moves Messages between Nodes. It is one-way message passing, as
// the event formulation of Raft needs; request/response pairing is the core's
// business, not the transport's.
//
// Implementations live in subpackages (transport/mem, transport/tcp,
// transport/quic) and must pass transport/transporttest.
type Transport interface {
	// Start begins moving messages for node self. peers maps every voting
	// member, self included, to its address. deliver is called with every
	// inbound message addressed to self, from the transport's goroutines, in
	// FIFO order per sending peer; it may block, which is how a busy Node
	// pushes back on the network. Start is called once, before any Send.
	Start(self NodeID, peers map[NodeID]string, deliver func(Message)) error

	// Send hands m to the network for delivery to m.To. It never blocks and
	// never fails loudly: delivery is best effort (Raft retransmits), but
	// messages that do arrive from one sender arrive in the order sent. Send
	// is safe for concurrent use. The transport must not modify m or anything
	// it points to; the receiver must not either.
	Send(m Message)

	// Close stops all goroutines of the transport; deliver is not called
	// after Close returns.
	Close() error
}
