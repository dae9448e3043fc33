package wire

import "errors"

// Errors returned by this package and by the transports built on it, to be
// compared with errors.Is. They are wrapped with %w and a detail.
var (
	// ErrFrameTooLarge is returned when a frame's length prefix, or an
	// outgoing message, exceeds the configured maximum. Inbound, the frame
	// is refused before anything of the claimed size is allocated.
	ErrFrameTooLarge = errors.New("wire: frame too large")
	// ErrMalformed is returned when bytes from the network are not a valid
	// frame, handshake or message.
	ErrMalformed = errors.New("wire: malformed frame")
	// ErrVersion is returned when the peer speaks another protocol version.
	ErrVersion = errors.New("wire: protocol version mismatch")
	// ErrCluster is returned when the peer belongs to another cluster.
	ErrCluster = errors.New("wire: cluster id mismatch")
	// ErrUnknownPeer is returned when the peer's node id is not a member,
	// or is our own.
	ErrUnknownPeer = errors.New("wire: unknown peer")
	// ErrIdentity is returned when the peer's certificate does not name the
	// node id it claims, or the node at an address is not the one expected
	// there.
	ErrIdentity = errors.New("wire: peer identity mismatch")
	// ErrRefused is returned when the peer refused our handshake; the error
	// also wraps the sentinel for the peer's reason (ErrVersion,
	// ErrCluster, ...).
	ErrRefused = errors.New("wire: handshake refused by peer")
)
