package raftlite

// Transport moves Messages between Nodes. It is one-way message passing, as
// the event formulation of Raft needs; request/response pairing is the core's
// business, not the transport's.
//
// Delivery is best effort and the Node tolerates loss, duplication and
// reordering: Raft retransmits, and every handler checks terms and indices
// rather than trusting arrival order. A Node calls Send from more than one
// goroutine (its event loop, and its saver for messages that wait on a
// disk sync), so messages from one Node may reach the network in a different
// order from the one the algorithm produced them in; a transport need only
// keep the order of Send calls made by one goroutine, one after the other.
//
// Implementations live in subpackages (transport/mem, transport/tcp,
// transport/quic) and must pass transport/transporttest.
type Transport interface {
	// Start begins moving messages for node self. peers maps every node
	// to reach, self included, to its address: the members of the
	// configuration, and Config.Peers (a transport that implements
	// PeerUpdater is told when that changes). deliver is called with every
	// inbound message addressed to self, from the transport's goroutines;
	// it may block, which is how a busy Node pushes back on the network.
	// Start is called once, before any Send.
	Start(self NodeID, peers map[NodeID]string, deliver func(Message)) error

	// Send hands m to the network for delivery to m.To. It never blocks and
	// never fails loudly: delivery is best effort (Raft retransmits), but
	// messages that do arrive from one sending goroutine arrive in the order
	// sent. Send is safe for concurrent use. The transport must not modify m
	// or anything it points to; the receiver must not either.
	Send(m Message)

	// Close stops all goroutines of the transport; deliver is not called
	// after Close returns.
	Close() error
}

// MessageSizeLimiter is implemented by a Transport that cannot carry a
// message larger than some size, as tcp and quic cannot carry a frame over
// their MaxFrameBytes. New refuses a Config whose largest message (a batch
// of MaxBatchBytes, or one entry of MaxEntryBytes, plus the encoding's
// overhead) would not fit: such a message would be dropped on every retry
// and the follower waiting for it would never catch up.
type MessageSizeLimiter interface {
	// MaxMessageBytes returns the largest message the transport carries,
	// measured in raftlite's msgpack encoding (transport/wire.Size).
	MaxMessageBytes() int
}

// PeerUpdater is implemented by a Transport that finds nodes by address, as
// tcp and quic do, so that it can reach nodes added after Start and let go
// of those removed. A Node calls SetPeers whenever the nodes it must reach
// change: when a configuration entry is added to its log or cut from it,
// when a snapshot is installed, and when a removal commits. A transport
// that finds nodes by id needs nothing of the kind; mem implements it only
// to drop messages to nodes it was not told of, as tcp would.
type PeerUpdater interface {
	// SetPeers replaces the peers given to Start, in the same form: every
	// node to reach, this node included, by id, with its address (which
	// may be empty when the configuration gave none). The map is the
	// transport's to keep.
	//
	// Messages to a node added are sent to its address; a node whose
	// address changed is reached at the new one. A node no longer listed
	// is let go: Send drops messages to it, as to any unknown node, its
	// queue is dropped and its connections are closed. What the transport
	// does with connections from nodes it does not know is its own choice
	// (tcp and quic refuse them).
	//
	// A Node calls SetPeers only after Start returned, from one goroutine,
	// possibly while Send runs on others; it must not block for long.
	// Calls after Close are ignored.
	SetPeers(peers map[NodeID]string)
}
