// Package quic is a raftlite.Transport over QUIC (quic-go), always
// encrypted with TLS 1.3 and, when configured, mutually authenticated with
// the same node-identity certificates as transport/tcp.
//
//	tr := quic.New(quic.Config{ClusterID: "prod", TLS: tlsConfig}) // see transport/tlsutil
//	cfg := raftlite.Config{
//		ID:        1,
//		Peers:     map[raftlite.NodeID]string{1: "10.0.0.1:7000", 2: "10.0.0.2:7000", 3: "10.0.0.3:7000"},
//		Transport: tr, // the Node starts and closes it
//		Persister: persister,
//	}
//
// raftlite.New(cfg) starts the node and its transport, which listens on
// this node's address in Peers (UDP 10.0.0.1:7000) unless this package's
// Config.Listen says otherwise. ExampleConfig builds this configuration; the
// package Example drives two transports by hand.
//
// Each direction of each pair of nodes is one QUIC connection carrying one
// long-lived stream (not a stream per message: Raft wants order per pair),
// with the same handshake and frames as transport/tcp (transport/wire), and
// the same queueing, dropping, ordering and reconnection rules; see that
// package.
//
// # Without TLS: encrypted, not authenticated
//
// QUIC cannot run without TLS, so with Config.TLS nil the transport makes a
// throwaway self-signed certificate and skips verification of its peers.
// Traffic is encrypted against passive eavesdroppers, but anyone who can
// reach the UDP port can connect and speak as any member, and an active
// attacker can intercept. A warning is logged at Start. Use
// transport/tlsutil for anything but a trusted network.
//
// # Choices
//
// ALPN is "raftlite/1". 0-RTT is off (replayable early data and Raft do not
// mix). Flow-control windows are sized from MaxFrameBytes so that the
// largest frame fits. QUIC's own idle timeout is Config.IdleTimeout, with
// PINGs at a quarter of it, beside the keep-alives of transport/wire: a
// crashed peer sends no CONNECTION_CLOSE, and its connection is given up
// within IdleTimeout rather than lingering.
package quic
