package wire

import (
	"fmt"
	"time"

	"github.com/raftlite/raftlite"
)

// Version is the protocol version this package speaks. It changes whenever
// the handshake or the message encoding changes incompatibly; peers with
// different versions refuse each other rather than misread messages.
const Version = 1

// MaxHandshakeBytes bounds a handshake frame, whatever MaxFrameBytes is:
// nothing legitimate in a handshake is large, and a stranger should not be
// able to make us buffer megabytes before we know who it is.
const MaxHandshakeBytes = 4096

// Refusal says why a handshake was refused. Handshake.Err turns it into an
// error wrapping ErrRefused and the matching sentinel.
type Refusal uint8

// The refusals an acceptor may answer with.
const (
	// Accepted is no refusal: the acceptor will read our messages.
	Accepted Refusal = iota
	// RefuseVersion: we speak another protocol version (ErrVersion).
	RefuseVersion
	// RefuseCluster: we belong to another cluster (ErrCluster).
	RefuseCluster
	// RefuseUnknownPeer: our node id is not a member (ErrUnknownPeer).
	RefuseUnknownPeer
	// RefuseIdentity: our certificate does not name our node id
	// (ErrIdentity).
	RefuseIdentity
)

func (r Refusal) sentinel() error {
	switch r {
	case RefuseVersion:
		return ErrVersion
	case RefuseCluster:
		return ErrCluster
	case RefuseUnknownPeer:
		return ErrUnknownPeer
	case RefuseIdentity:
		return ErrIdentity
	}
	return ErrMalformed
}

// RefusalFor maps an error from Check or an identity check to the code
// sent back to the peer: the code of the sentinel it wraps, or
// RefuseIdentity if it wraps none.
func RefusalFor(err error) Refusal {
	for _, r := range []Refusal{RefuseVersion, RefuseCluster, RefuseUnknownPeer, RefuseIdentity} {
		if isErr(err, r.sentinel()) {
			return r
		}
	}
	return RefuseIdentity
}

// Handshake opens every connection, in both directions: the dialer sends
// its own, the acceptor answers with its own, carrying a Refusal and a
// reason if it will not talk to the dialer. Only then do message frames
// follow, from the dialer, and keep-alive frames, from the acceptor if the
// dialer asked for them.
//
// On the wire it is a msgpack map with keys "v" (Version), "c" (ClusterID),
// "n" (Node), "i" (Instance), "r" (Refusal), "m" (Reason) and, when not
// zero, "k" (KeepAlive, in milliseconds). Every future version must keep
// "v" and "r" so that mismatches are reported clearly.
type Handshake struct {
	// Version is the protocol version the sender speaks.
	Version uint64
	// ClusterID names the sender's cluster.
	ClusterID string
	// Node is the sender's node id.
	Node raftlite.NodeID
	// Instance is chosen at random each time a transport starts. A new value
	// from a peer means the peer restarted, so any connection we hold to it
	// is stale even if it has not failed yet.
	Instance uint64
	// Refusal, in an acceptor's answer, says why it will not talk to the
	// dialer; Accepted otherwise.
	Refusal Refusal
	// Reason explains a refusal in words, for the dialer's log.
	Reason string
	// KeepAlive, from a dialer, asks the acceptor to send an empty frame
	// this often, so that the dialer can tell a dead connection from an
	// idle one; from an acceptor, it is the interval it will keep. Zero
	// means none: peers of earlier releases neither ask nor answer, and
	// the encoding omits the key. It travels in whole milliseconds, and is
	// read as at most MaxKeepAlive.
	KeepAlive time.Duration
}

// MaxKeepAlive bounds Handshake.KeepAlive as read from the network.
const MaxKeepAlive = time.Hour

// Check reports whether a peer's handshake is compatible with ours.
func (h *Handshake) Check(clusterID string) error {
	if h.Version != Version {
		return fmt.Errorf("%w: peer node %d speaks version %d, we speak %d", ErrVersion, h.Node, h.Version, Version)
	}
	if h.ClusterID != clusterID {
		return fmt.Errorf("%w: peer node %d is in cluster %q, we are in %q", ErrCluster, h.Node, h.ClusterID, clusterID)
	}
	return nil
}

// Err turns a refusal received from a peer into an error wrapping both
// ErrRefused and the sentinel for the reason. It is nil if not refused.
func (h *Handshake) Err() error {
	if h.Refusal == Accepted {
		return nil
	}
	return fmt.Errorf("%w: %w: %s", ErrRefused, h.Refusal.sentinel(), h.Reason)
}

// AppendHandshake appends the msgpack encoding of h to b.
func AppendHandshake(b []byte, h *Handshake) []byte {
	keepAlive := keepAliveMillis(h.KeepAlive)
	if keepAlive == 0 {
		b = appendMapLen(b, 6)
	} else {
		b = appendMapLen(b, 7)
	}
	b = appendUint(append(b, 0xa1, 'v'), h.Version)
	b = appendStr(append(b, 0xa1, 'c'), h.ClusterID)
	b = appendUint(append(b, 0xa1, 'n'), uint64(h.Node))
	b = appendUint(append(b, 0xa1, 'i'), h.Instance)
	b = appendUint(append(b, 0xa1, 'r'), uint64(h.Refusal))
	b = appendStr(append(b, 0xa1, 'm'), h.Reason)
	if keepAlive != 0 {
		b = appendUint(append(b, 0xa1, 'k'), keepAlive)
	}
	return b
}

// keepAliveMillis rounds a positive interval up to whole milliseconds.
func keepAliveMillis(d time.Duration) uint64 {
	if d <= 0 {
		return 0
	}
	return uint64((min(d, MaxKeepAlive) + time.Millisecond - 1) / time.Millisecond)
}

// DecodeHandshake decodes one complete encoded handshake from b into *h.
func DecodeHandshake(b []byte, h *Handshake) error {
	*h = Handshake{}
	d := decoder{b: b}
	n, err := d.mapLen()
	if err != nil {
		return err
	}
	for range n {
		key, err := d.raw()
		if err != nil {
			return err
		}
		switch string(key) {
		case "v":
			h.Version, err = d.uint()
		case "c":
			var s []byte
			s, err = d.raw()
			h.ClusterID = string(s)
		case "n":
			var v uint64
			v, err = d.uint()
			h.Node = raftlite.NodeID(v)
		case "i":
			h.Instance, err = d.uint()
		case "r":
			var r uint8
			r, err = d.uint8()
			h.Refusal = Refusal(r)
		case "m":
			var s []byte
			s, err = d.raw()
			h.Reason = string(s)
		case "k":
			var ms uint64
			ms, err = d.uint()
			h.KeepAlive = time.Duration(min(ms, uint64(MaxKeepAlive/time.Millisecond))) * time.Millisecond
		default:
			err = d.skip(0)
		}
		if err != nil {
			return err
		}
	}
	if len(d.b) != 0 {
		return malformed("%d trailing bytes after handshake", len(d.b))
	}
	return nil
}
