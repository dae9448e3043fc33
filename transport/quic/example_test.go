package quic_test

import (
	"fmt"
	"log"
	"log/slog"

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
	got := make(chan raftlite.Message, 1)
	quiet := slog.New(slog.DiscardHandler)
	start := func(id raftlite.NodeID, peers map[raftlite.NodeID]string, deliver func(raftlite.Message)) *quic.Transport {
		cfg, err := ca.Config(id) // names node id, trusts the CA
		if err != nil {
			log.Fatal(err)
		}
		tr := quic.New(quic.Config{ClusterID: "example", TLS: cfg, Listen: "127.0.0.1:0", Logger: quiet})
		if err := tr.Start(id, peers, deliver); err != nil {
			log.Fatal(err)
		}
		return tr
	}
	// The receiver listens on a port the kernel picks; the sender learns it
	// from Addr. The receiver never dials node 1, so it needs no address
	// for it, only to know it is a member.
	t2 := start(2, map[raftlite.NodeID]string{1: "", 2: ""}, func(m raftlite.Message) { got <- m })
	defer t2.Close()
	t1 := start(1, map[raftlite.NodeID]string{1: "", 2: t2.Addr().String()}, func(raftlite.Message) {})
	defer t1.Close()
	t1.Send(raftlite.Message{Kind: raftlite.MsgVoteRequest, From: 1, To: 2, Term: 7})
	m := <-got
	fmt.Println(m.Kind, "from node", m.From, "in term", m.Term)
	// Output: VoteRequest from node 1 in term 7
}

// The configuration of node 1 of a three-node cluster, as the package
// documentation shows it. Building it starts nothing: the transport listens
// only once raftlite.New(cfg) starts it.
func ExampleConfig() {
	ca, err := tlsutil.NewCA("example CA") // in production: tlsutil.LoadConfig
	if err != nil {
		log.Fatal(err)
	}
	tlsConfig, err := ca.Config(1)
	if err != nil {
		log.Fatal(err)
	}
	// A wal.Log, rather, to survive a crash.
	persister := raftlite.NewMemoryPersister()
	tr := quic.New(quic.Config{ClusterID: "prod", TLS: tlsConfig}) // see transport/tlsutil
	cfg := raftlite.Config{
		ID:        1,
		Peers:     map[raftlite.NodeID]string{1: "10.0.0.1:7000", 2: "10.0.0.2:7000", 3: "10.0.0.3:7000"},
		Transport: tr, // the Node starts and closes it
		Persister: persister,
	}
	fmt.Println(len(cfg.Peers), "members; listening:", tr.Addr() != nil)
	// Output: 3 members; listening: false
}
