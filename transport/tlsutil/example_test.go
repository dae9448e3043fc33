package tlsutil_test

import (
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/transport/tcp"
	"github.com/raftlite/raftlite/transport/tlsutil"
)

// A throwaway CA issues certificates for a three-node cluster and writes
// them to files, which each node then loads.
func Example() {
	dir, err := os.MkdirTemp("", "raftlite-certs")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	ca, err := tlsutil.NewCA("example CA")
	if err != nil {
		log.Fatal(err)
	}
	if err := ca.WriteFiles(dir); err != nil {
		log.Fatal(err)
	}
	for _, id := range []raftlite.NodeID{1, 2, 3} {
		ident, err := ca.Issue(id)
		if err != nil {
			log.Fatal(err)
		}
		if err := ident.WriteFiles(dir); err != nil {
			log.Fatal(err)
		}
	}
	files, err := os.ReadDir(dir)
	if err != nil {
		log.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.Name())
	}
	fmt.Println(strings.Join(names, " "))

	// On node 3: its config, for tcp.Config.TLS or quic.Config.TLS.
	path := func(name string) string { return filepath.Join(dir, name) }
	cfg, err := tlsutil.LoadConfig(3, path("ca.pem"), path("node3.pem"), path("node3-key.pem"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tlsutil.NodeIDs(cfg.Certificates[0].Leaf), tlsutil.NodeURI(3))

	// Node 3's certificate cannot serve as node 2's.
	_, err = tlsutil.LoadConfig(2, path("ca.pem"), path("node3.pem"), path("node3-key.pem"))
	fmt.Println(errors.Is(err, tlsutil.ErrNoIdentity))
	// Output:
	// ca.pem node1-key.pem node1.pem node2-key.pem node2.pem node3-key.pem node3.pem
	// [3] raftlite:node:3
	// true
}

// Two TCP transports with certificates from one throwaway CA: each proves
// to the other the node id it claims, and a message gets through.
func ExampleCA_Config() {
	ca, err := tlsutil.NewCA("raftlite test CA")
	if err != nil {
		log.Fatal(err)
	}
	cfg1, err := ca.Config(1) // *tls.Config for node 1
	if err != nil {
		log.Fatal(err)
	}
	t1 := tcp.New(tcp.Config{ClusterID: "demo", TLS: cfg1})
	cfg2, err := ca.Config(2)
	if err != nil {
		log.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler) // connection events would go to the log
	t2 := tcp.New(tcp.Config{ClusterID: "demo", TLS: cfg2, Listen: "127.0.0.1:0", Logger: quiet})

	// Node 2 listens on a port the kernel picks; node 1 learns it from Addr.
	got := make(chan raftlite.Message, 1)
	if err := t2.Start(2, map[raftlite.NodeID]string{1: "", 2: ""}, func(m raftlite.Message) { got <- m }); err != nil {
		log.Fatal(err)
	}
	defer t2.Close()
	if err := t1.Start(1, map[raftlite.NodeID]string{1: "127.0.0.1:0", 2: t2.Addr().String()}, func(raftlite.Message) {}); err != nil {
		log.Fatal(err)
	}
	defer t1.Close()
	t1.Send(raftlite.Message{Kind: raftlite.MsgVoteRequest, From: 1, To: 2, Term: 7})
	m := <-got
	fmt.Println(m.Kind, "from node", m.From, "proven by its certificate")
	// Output: VoteRequest from node 1 proven by its certificate
}
