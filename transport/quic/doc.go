// Package quic is a raftlite.Transport over QUIC (quic-go), always
// encrypted with TLS 1.3 and, when configured, mutually authenticated with
// the same node-identity certificates as transport/tcp.
//
//	tr := quic.New(quic.Config{ClusterID: "prod", TLS: tlsConfig})
//	peers := map[raftlite.NodeID]string{1: "10.0.0.1:7000", 2: "10.0.0.2:7000", 3: "10.0.0.3:7000"}
//	err := tr.Start(1, peers, node.Deliver) // UDP addresses
//	defer tr.Close()
//
// Each direction of each pair of nodes is one QUIC connection carrying one
// long-lived stream (not a stream per message: Raft wants order per pair),
// with the same handshake and frames as transport/tcp (transport/wire), and
// the same queueing, dropping and ordering rules; see that package.
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
// mix). Keep-alives go out at a third of Config.IdleTimeout. Flow-control
// windows are sized from MaxFrameBytes so that the largest frame fits. A
// restarted peer is noticed by its CONNECTION_CLOSE or, after a crash, by
// the new instance number in its handshake when it reconnects.
package quic
