package tcp_test

import (
	"fmt"
	"log"
	"log/slog"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/transport/tcp"
	"github.com/raftlite/raftlite/transport/tlsutil"
)

// Two transports on loopback exchange a message. In a cluster the Node
// starts its transport and calls Send; here the example does both by hand.
// The receiver listens on a port the kernel picks, and the sender learns
// it from Addr; the receiver never dials node 1, so it needs no address
// for it, only to know it is a member.
func Example() {
	got := make(chan raftlite.Message, 1)
	quiet := slog.New(slog.DiscardHandler) // connection events would go to the log

	t2 := tcp.New(tcp.Config{ClusterID: "example", Listen: "127.0.0.1:0", Logger: quiet})
	if err := t2.Start(2, map[raftlite.NodeID]string{1: "", 2: ""}, func(m raftlite.Message) { got <- m }); err != nil {
		log.Fatal(err)
	}
	defer t2.Close()
	peers := map[raftlite.NodeID]string{1: "127.0.0.1:0", 2: t2.Addr().String()}
	t1 := tcp.New(tcp.Config{ClusterID: "example", Logger: quiet})
	if err := t1.Start(1, peers, func(raftlite.Message) {}); err != nil {
		log.Fatal(err)
	}
	defer t1.Close()

	t1.Send(raftlite.Message{Kind: raftlite.MsgVoteRequest, From: 1, To: 2, Term: 7})
	m := <-got
	fmt.Println(m.Kind, "from node", m.From, "in term", m.Term)
	// Output: VoteRequest from node 1 in term 7
}

// The largest message a transport carries is its frame limit; raftlite.New
// checks a Config against it.
func ExampleTransport_MaxMessageBytes() {
	fmt.Println(tcp.New(tcp.Config{}).MaxMessageBytes())
	fmt.Println(tcp.New(tcp.Config{MaxFrameBytes: 4 << 20}).MaxMessageBytes())
	// Output:
	// 16777216
	// 4194304
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
	tr := tcp.New(tcp.Config{ClusterID: "prod", TLS: tlsConfig}) // TLS optional: see transport/tlsutil
	cfg := raftlite.Config{
		ID:        1,
		Peers:     map[raftlite.NodeID]string{1: "10.0.0.1:7000", 2: "10.0.0.2:7000", 3: "10.0.0.3:7000"},
		Transport: tr, // the Node starts and closes it
		Persister: persister,
	}
	fmt.Println(len(cfg.Peers), "members; listening:", tr.Addr() != nil)
	// Output: 3 members; listening: false
}
