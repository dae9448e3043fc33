package wire_test

import (
	"bytes"
	"fmt"
	"log"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/transport/wire"
)

// A dialer's handshake and a message, written to a buffer that stands in
// for the connection and read back as the acceptor reads them.
func Example() {
	var conn bytes.Buffer // a net.Conn, in a transport
	w := wire.NewWriter(&conn, wire.DefaultMaxFrameBytes)
	if err := w.WriteHandshake(&wire.Handshake{Version: wire.Version, ClusterID: "prod", Node: 1}); err != nil {
		log.Fatal(err)
	}
	sent := raftlite.Message{Kind: raftlite.MsgVoteRequest, From: 1, To: 2, Term: 7, LastIndex: 10, LastTerm: 6}
	if err := w.WriteMessage(&sent); err != nil {
		log.Fatal(err)
	}
	// The other end:
	r := wire.NewReader(&conn, wire.DefaultMaxFrameBytes)
	var h wire.Handshake
	if err := r.ReadHandshake(&h); err != nil {
		log.Fatal(err)
	}
	fmt.Println("node", h.Node, "of cluster", h.ClusterID, "compatible:", h.Check("prod") == nil)
	var m raftlite.Message
	if err := r.ReadMessage(&m); err != nil {
		log.Fatal(err) // errors.Is(err, wire.ErrMalformed) etc.
	}
	fmt.Println(m.Kind, "from", m.From, "to", m.To, "in term", m.Term, "took", wire.Size(&m), "bytes")
	// Output:
	// node 1 of cluster prod compatible: true
	// VoteRequest from 1 to 2 in term 7 took 21 bytes
}
