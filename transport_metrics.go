package raftlite

import (
	"cmp"
	"slices"
)

// TransportMetricsReporter is implemented by a Transport that counts what
// it moved, per peer, and what it dropped, by reason. Node.Metrics
// includes its figures (Metrics.Transport) when the node's transport
// implements it; tcp, quic and mem do. TransportMetrics is called from any
// goroutine, at any time after Start, and must not block.
type TransportMetricsReporter interface {
	// TransportMetrics returns the transport's counts since Start.
	TransportMetrics() TransportMetrics
}

// TransportMetrics is what a transport counted since it started.
type TransportMetrics struct {
	// Name names the transport in metrics ("tcp", "quic", "mem").
	Name string
	// Peers is the traffic with each peer, by ID.
	Peers []PeerTraffic
	// Drops counts the messages and frames dropped, by reason: for tcp
	// and quic "queue_full" (a slow or dead peer), "unroutable" (no such
	// peer, or sent before Start or after Close), "oversize" (above
	// MaxFrameBytes), "spoofed" (a From or To that the connection cannot
	// carry) and "malformed" (a bad frame or handshake, which closes its
	// connection); for mem, "network" (its faults, or a full queue) and
	// "unroutable" (a node not among its peers).
	Drops map[string]uint64
	// Connects counts outbound connections established, reconnections
	// included; DialFailures the attempts that failed; and
	// RefusedConnections the inbound connections refused (another
	// cluster or protocol version, an unknown node, a certificate that
	// does not name the node it claims). Zero for mem.
	Connects, DialFailures, RefusedConnections uint64
}

// PeerTraffic is a transport's traffic with one peer.
type PeerTraffic struct {
	// ID is the peer's id.
	ID NodeID
	// MessagesSent counts the messages written to the peer's connection
	// (not necessarily received); MessagesReceived those read from it and
	// handed to the node.
	MessagesSent, MessagesReceived uint64
	// BytesSent and BytesReceived count the bytes of raftlite's framing
	// (handshakes, messages and keep-alives) to and from the peer, below
	// any TLS. Zero for mem, which does not encode messages.
	BytesSent, BytesReceived uint64
}

// Peer returns the traffic with peer id, and whether there is any.
func (t TransportMetrics) Peer(id NodeID) (PeerTraffic, bool) {
	i, ok := slices.BinarySearchFunc(t.Peers, id, func(p PeerTraffic, id NodeID) int { return cmp.Compare(p.ID, id) })
	if !ok {
		return PeerTraffic{}, false
	}
	return t.Peers[i], true
}
