package raftlite_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/transport/mem"
)

// A cluster of one grows to two voters: the new node starts with Join set,
// outside the membership, and the leader adds it, first as a learner that
// it promotes once the new node's log has caught up.
func ExampleNode_ChangeMembership() {
	network := mem.NewNetwork(1)
	start := func(id raftlite.NodeID, peers map[raftlite.NodeID]string, join bool) *raftlite.Node {
		node, err := raftlite.New(raftlite.Config{
			ID:                id,
			Peers:             peers,
			Join:              join,
			Transport:         network.Transport(id),
			Persister:         raftlite.NewMemoryPersister(),
			ElectionTimeout:   100 * time.Millisecond,
			HeartbeatInterval: 20 * time.Millisecond,
		})
		if err != nil {
			log.Fatal(err)
		}
		return node
	}
	leader := start(1, map[raftlite.NodeID]string{1: "n1"}, false) // the first membership: node 1 alone
	defer leader.Close()
	joiner := start(2, map[raftlite.NodeID]string{1: "n1", 2: "n2"}, true) // with Join, Peers are only addresses
	defer joiner.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := leader.Broadcast(ctx, []byte("before")); err != nil {
		log.Fatal(err)
	}
	change := raftlite.MembershipChange{Op: raftlite.AddVoter, ID: 2, Addr: "n2"}
	for {
		err := leader.ChangeMembership(ctx, change)
		if err == nil {
			break
		}
		if !errors.Is(err, raftlite.ErrChangeInProgress) {
			log.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond) // the leader has not committed in its term yet
	}
	for _, m := range leader.Status().Membership.Members {
		fmt.Printf("node %d learner=%v\n", m.ID, m.Learner)
	}
	fmt.Printf("node 2 delivered %q\n", (<-joiner.Deliveries()).Data)
	// Output:
	// node 1 learner=false
	// node 2 learner=false
	// node 2 delivered "before"
}
