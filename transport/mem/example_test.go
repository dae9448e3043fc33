package mem_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/transport/mem"
)

// Three nodes on an in-process network elect a leader. Isolated, the leader
// can no longer reach a majority: the other two elect another and commit
// without it. Once the network heals, the old leader catches up.
func Example() {
	network := mem.NewNetwork(1)
	peers := map[raftlite.NodeID]string{1: "", 2: "", 3: ""}
	nodes := map[raftlite.NodeID]*raftlite.Node{}
	for id := range peers {
		node, err := raftlite.New(raftlite.Config{
			ID: id, Peers: peers, Transport: network.Transport(id), Persister: raftlite.NewMemoryPersister(),
			ElectionTimeout: 100 * time.Millisecond, HeartbeatInterval: 20 * time.Millisecond,
		})
		if err != nil {
			log.Fatal(err)
		}
		defer node.Close()
		nodes[id] = node
	}

	old := waitForLeader(nodes, 0)
	fmt.Println("a leader is elected")

	network.Isolate(old)
	others := map[raftlite.NodeID]*raftlite.Node{}
	for id, n := range nodes {
		if id != old {
			others[id] = n
		}
	}
	next := waitForLeader(others, nodes[old].Status().Term)
	fmt.Println("isolated, it is replaced by another:", next != old)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := nodes[next].Broadcast(ctx, []byte("without the old leader")); err != nil {
		log.Fatal(err)
	}
	fmt.Println("the other two commit")

	network.Heal()
	select {
	case d := <-nodes[old].Deliveries():
		fmt.Printf("healed, the old leader delivers %q\n", d.Data)
	case <-ctx.Done():
		log.Fatal("the old leader did not catch up")
	}
	// Output:
	// a leader is elected
	// isolated, it is replaced by another: true
	// the other two commit
	// healed, the old leader delivers "without the old leader"
}

// Nodes get their transports from one Network, which then fails links and
// heals them (the package documentation shows this code). Healed, the
// three commit a message.
func ExampleNetwork() {
	network := mem.NewNetwork(1)
	peers := map[raftlite.NodeID]string{1: "", 2: "", 3: ""}
	nodes := map[raftlite.NodeID]*raftlite.Node{}
	for id := range peers {
		node, err := raftlite.New(raftlite.Config{ID: id, Peers: peers,
			Transport: network.Transport(id), Persister: raftlite.NewMemoryPersister()})
		if err != nil {
			log.Fatal(err)
		}
		defer node.Close()
		nodes[id] = node
	}
	network.Isolate(1) // node 1 neither sends nor hears
	network.Cut(2, 3)  // 2 no longer reaches 3; 3 still reaches 2
	network.Heal()     // every link up again

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := nodes[1].Broadcast(ctx, []byte("healed")); err != nil {
		log.Fatal(err)
	}
	for id := raftlite.NodeID(1); id <= 3; id++ {
		d := <-nodes[id].Deliveries()
		fmt.Printf("node %d delivered %q\n", id, d.Data)
	}
	// Output:
	// node 1 delivered "healed"
	// node 2 delivered "healed"
	// node 3 delivered "healed"
}

// waitForLeader polls until one of nodes leads in a term after the given
// one, and returns it.
func waitForLeader(nodes map[raftlite.NodeID]*raftlite.Node, after uint64) raftlite.NodeID {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for id, n := range nodes {
			if s := n.Status(); s.Role == raftlite.Leader && s.Term > after {
				return id
			}
		}
	}
	log.Fatal("no leader elected")
	return raftlite.None
}

// A bridge: nodes 1 and 2 on one side, 4 and 5 on the other, and node 3
// reaching everyone. Partition, Bridge and Ring set every link at once;
// Cut and Restore change one direction of one link.
func ExampleNetwork_Bridge() {
	network := mem.NewNetwork(1)
	ids := []raftlite.NodeID{1, 2, 3, 4, 5}
	network.Bridge(3, []raftlite.NodeID{1, 2}, []raftlite.NodeID{4, 5})
	network.Cut(3, 5) // now 5 hears 3 no more, though 3 still hears 5
	for _, from := range ids {
		fmt.Printf("%d reaches", from)
		for _, to := range ids {
			if to != from && network.Linked(from, to) {
				fmt.Printf(" %d", to)
			}
		}
		fmt.Println()
	}
	// Output:
	// 1 reaches 2 3
	// 2 reaches 1 3
	// 3 reaches 1 2 4
	// 4 reaches 3 5
	// 5 reaches 3 4
}
