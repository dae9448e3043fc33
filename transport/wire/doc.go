// Package wire is the byte format that raftlite's network transports
// (transport/tcp, transport/quic) speak: length-prefixed frames carrying a
// handshake and then msgpack-encoded raftlite.Messages.
//
//	var conn bytes.Buffer // a net.Conn, in a transport
//	w := wire.NewWriter(&conn, wire.DefaultMaxFrameBytes)
//	if err := w.WriteHandshake(&wire.Handshake{Version: wire.Version, ClusterID: "prod", Node: 1}); err != nil {
//		log.Fatal(err)
//	}
//	sent := raftlite.Message{Kind: raftlite.MsgVoteRequest, From: 1, To: 2, Term: 7, LastIndex: 10, LastTerm: 6}
//	if err := w.WriteMessage(&sent); err != nil {
//		log.Fatal(err)
//	}
//	// The other end:
//	r := wire.NewReader(&conn, wire.DefaultMaxFrameBytes)
//	var h wire.Handshake
//	if err := r.ReadHandshake(&h); err != nil {
//		log.Fatal(err)
//	}
//	fmt.Println("node", h.Node, "of cluster", h.ClusterID, "compatible:", h.Check("prod") == nil)
//	var m raftlite.Message
//	if err := r.ReadMessage(&m); err != nil {
//		log.Fatal(err) // errors.Is(err, wire.ErrMalformed) etc.
//	}
//
// The package Example runs this code.
//
// # Frames
//
// Every frame is an unsigned varint (as encoding/binary.AppendUvarint
// writes it) giving the body's length in bytes, then the body. A reader
// refuses a length above its limit (ErrFrameTooLarge) before allocating,
// and grows its buffer only as bytes actually arrive.
//
// # Connection
//
// The dialing side sends a Handshake frame (protocol Version, cluster id,
// its node id, a per-start instance number). The accepting side answers with
// its own Handshake; if it refuses, that answer carries a Refusal code and a
// reason and the connection is closed, so the dialer learns why
// (Handshake.Err wraps ErrRefused and ErrVersion, ErrCluster, ...). After an
// accepted handshake the dialer sends one Message frame per message, and
// the acceptor, if the dialer's handshake asked for it (KeepAlive), an
// empty frame at the interval its answer names, so that the dialer can tell
// a dead connection from an idle one. Messages flow one way; each ordered
// pair of nodes has its own connection.
//
// # Messages
//
// A Message body is the msgpack map its struct tags describe ("k", "f",
// "o", "t", ...; entries under "e" as maps "i", "t", "k", "o", "n", "q",
// "d"), zero optional fields omitted. The encoder and decoder are written
// by hand for speed and so that every length read from the network is
// checked against the bytes left in the frame before it is used, but the
// result is plain msgpack: msgpack.Unmarshal reads it and DecodeMessage
// reads msgpack.Marshal's output. Unknown keys are skipped. Nil and empty
// Data (and Entries) are not distinguished.
package wire
