package link

import "sync/atomic"

// Stats counts what a transport did since it started. Every drop is counted
// somewhere, so that "messages go missing" can be told apart by cause.
type Stats struct {
	// Sent: messages written to a connection (not necessarily received).
	Sent uint64
	// Delivered: inbound messages handed to deliver.
	Delivered uint64
	// DroppedQueueFull: Send found the peer's queue full (peer slow or down).
	DroppedQueueFull uint64
	// DroppedUnroutable: Send to a node that is not a peer (or self), or
	// before Start or after Close.
	DroppedUnroutable uint64
	// DroppedOversize: outbound messages larger than MaxFrameBytes.
	DroppedOversize uint64
	// DroppedSpoofed: inbound messages whose From is not the node id the
	// connection's handshake proved, or whose To is not us.
	DroppedSpoofed uint64
	// MalformedFrames: inbound frames (or handshakes) that were malformed or
	// too large; each closes its connection.
	MalformedFrames uint64
	// RefusedHandshakes: inbound connections we refused (version, cluster,
	// unknown node id, certificate identity).
	RefusedHandshakes uint64
	// DialFailures: outbound connection attempts that failed, including
	// refusals by the peer.
	DialFailures uint64
	// Connects: outbound connections established (first ones and reconnects).
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
