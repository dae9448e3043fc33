package quic_test

import (
	"fmt"
	"log"
	"log/slog"
	"net"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/transport/quic"
	"github.com/raftlite/raftlite/transport/tlsutil"
)

// Two transports on loopback, mutually authenticated with certificates from
// a throwaway CA, exchange a message. In a cluster the Node starts its
// transport and calls Send; here the example does both by hand.
func Example() {
	ca, err := tlsutil.NewCA("example CA")
	if err != nil {
		log.Fatal(err)
	}
	peers := map[raftlite.NodeID]string{1: loopbackAddr(), 2: loopbackAddr()}
	got := make(chan raftlite.Message, 1)
	deliver := map[raftlite.NodeID]func(raftlite.Message){
		1: func(raftlite.Message) {},
		2: func(m raftlite.Message) { got <- m },
	}
	for _, id := range []raftlite.NodeID{1, 2} {
		cfg, err := ca.Config(id) // names node id, trusts the CA
		if err != nil {
			log.Fatal(err)
		}
		tr := quic.New(quic.Config{ClusterID: "example", TLS: cfg, Logger: slog.New(slog.DiscardHandler)})
		if err := tr.Start(id, peers, deliver[id]); err != nil {
			log.Fatal(err)
		}
		defer tr.Close()
		if id == 1 {
			tr.Send(raftlite.Message{Kind: raftlite.MsgVoteRequest, From: 1, To: 2, Term: 7})
		}
	}
	m := <-got
	fmt.Println(m.Kind, "from node", m.From, "in term", m.Term)
	// Output: VoteRequest from node 1 in term 7
}

// loopbackAddr returns a loopback UDP address that nothing listens on.
func loopbackAddr() string {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}
