package raftlite_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/transport/mem"
)

// Three nodes on an in-process network. Whichever node a message is
// broadcast from, leader or follower, every node delivers the same messages
// in the same order.
func Example() {
	network := mem.NewNetwork(1)
	peers := map[raftlite.NodeID]string{1: "n1", 2: "n2", 3: "n3"}
	nodes := map[raftlite.NodeID]*raftlite.Node{}
	for id := range peers {
		node, err := raftlite.New(raftlite.Config{
			ID:                id,
			Peers:             peers,
			Transport:         network.Transport(id),
			Persister:         raftlite.NewMemoryPersister(),
			ElectionTimeout:   100 * time.Millisecond,
			HeartbeatInterval: 20 * time.Millisecond,
		})
		if err != nil {
			log.Fatal(err)
		}
		defer node.Close()
		nodes[id] = node
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// At least two of these three come from a follower, which forwards
	// the message to the leader.
	for id := raftlite.NodeID(1); id <= 3; id++ {
		if _, err := nodes[id].Broadcast(ctx, fmt.Appendf(nil, "hello from %d", id)); err != nil {
			log.Fatal(err)
		}
	}

	for id := raftlite.NodeID(1); id <= 3; id++ {
		fmt.Printf("node %d delivered:", id)
		for range 3 {
			d := <-nodes[id].Deliveries()
			fmt.Printf(" %q", d.Data)
		}
		fmt.Println()
	}
	// Output:
	// node 1 delivered: "hello from 1" "hello from 2" "hello from 3"
	// node 2 delivered: "hello from 1" "hello from 2" "hello from 3"
	// node 3 delivered: "hello from 1" "hello from 2" "hello from 3"
}
