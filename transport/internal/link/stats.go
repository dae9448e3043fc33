package link

import "sync/atomic"

// Stats counts what a transport did since it started. Every drop is counted
// somewhere, so that "messages go missing" can be told apart by cause.
type Stats struct {
	// Sent counts messages written to a connection (not necessarily
	// received).
	Sent uint64
	// Delivered counts inbound messages handed to deliver.
	Delivered uint64
	// DroppedQueueFull counts messages Send dropped because the peer's
	// queue was full: the peer is slow, or down.
	DroppedQueueFull uint64
	// DroppedUnroutable counts messages sent to a node that is not a peer
	// (or is this node), or before Start or after Close.
	DroppedUnroutable uint64
	// DroppedOversize counts outbound messages larger than MaxFrameBytes.
	DroppedOversize uint64
	// DroppedSpoofed counts inbound messages whose From is not the node id
	// the connection's handshake proved, or whose To is not this node.
	DroppedSpoofed uint64
	// MalformedFrames counts inbound frames (or handshakes) that were
	// malformed or too large; each closes its connection.
	MalformedFrames uint64
	// RefusedHandshakes counts inbound connections this node refused
	// (version, cluster, unknown node id, certificate identity).
	RefusedHandshakes uint64
	// DialFailures counts outbound connection attempts that failed or timed
	// out, including those the peer refused.
	DialFailures uint64
	// Connects counts outbound connections established, first ones and
	// reconnections alike.
	Connects uint64
}

type counters struct {
	sent, delivered, queueFull, unroutable, oversize, spoofed,
	malformed, refused, dialFailures, connects atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Sent: c.sent.Load(), Delivered: c.delivered.Load(),
		DroppedQueueFull: c.queueFull.Load(), DroppedUnroutable: c.unroutable.Load(),
		DroppedOversize: c.oversize.Load(), DroppedSpoofed: c.spoofed.Load(),
		MalformedFrames: c.malformed.Load(), RefusedHandshakes: c.refused.Load(),
		DialFailures: c.dialFailures.Load(), Connects: c.connects.Load(),
	}
}
