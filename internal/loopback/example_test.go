package loopback_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"time"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/internal/loopback"
	"github.com/raftlite/raftlite/transport/tcp"
)

// Three nodes over TCP, each told every address before any of them listens,
// as the package documentation shows: if a port is taken, the cluster
// starts again on new candidates.
func ExampleRetry() {
	var nodes []*raftlite.Node
	err := loopback.Retry(func() error {
		nodes = nil
		addrs := loopback.Candidates(3)
		for i := range addrs {
			n, err := startNode(i, addrs) // binds addrs[i]
			if err != nil {
				closeAll(nodes)
				return err // Retry tries again if InUse(err)
			}
			nodes = append(nodes, n)
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	defer closeAll(nodes)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := nodes[0].Broadcast(ctx, []byte("hello")); err != nil {
		log.Fatal(err)
	}
	for i, n := range nodes {
		d := <-n.Deliveries()
		fmt.Printf("node %d delivered %q\n", i+1, d.Data)
	}
	// Output:
	// node 1 delivered "hello"
	// node 2 delivered "hello"
	// node 3 delivered "hello"
}

// startNode starts node i+1 of a cluster whose nodes listen on addrs.
func startNode(i int, addrs []string) (*raftlite.Node, error) {
	peers := map[raftlite.NodeID]string{}
	for j, addr := range addrs {
		peers[raftlite.NodeID(j+1)] = addr
	}
	quiet := slog.New(slog.DiscardHandler) // connection events would go to the log
	return raftlite.New(raftlite.Config{
		ID:        raftlite.NodeID(i + 1),
		Peers:     peers,
		Transport: tcp.New(tcp.Config{ClusterID: "example", Logger: quiet}),
		Persister: raftlite.NewMemoryPersister(),
		Logger:    quiet,
	})
}

// closeAll stops the nodes started so far.
func closeAll(nodes []*raftlite.Node) {
	for _, n := range nodes {
		n.Close()
	}
}
