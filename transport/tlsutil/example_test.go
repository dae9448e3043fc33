package tlsutil_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/raftlite/raftlite"
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
