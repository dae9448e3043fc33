package raftlite_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"sync"
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

// The smallest program, which the package documentation shows: one node
// that is a cluster by itself. Index 1 holds the no-op that every new
// leader appends (Raft §5.4.2), so the first message lands at index 2.
func ExampleNew() {
	node, err := raftlite.New(raftlite.Config{
		ID:        1,
		Peers:     map[raftlite.NodeID]string{1: ""},
		Transport: mem.NewNetwork(1).Transport(1),
		Persister: raftlite.NewMemoryPersister(),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer node.Close()
	index, err := node.Broadcast(context.Background(), []byte("hello")) // returns once committed
	if err != nil {
		log.Fatal(err)
	}
	d := <-node.Deliveries() // every node delivers it
	fmt.Printf("%q committed at index %d\n", d.Data, index)
	// Output: "hello" committed at index 2
}

// startAlone starts a node that is a cluster by itself, on its own
// in-memory network.
func startAlone(p *raftlite.MemoryPersister, applied uint64) *raftlite.Node {
	node, err := raftlite.New(raftlite.Config{
		ID:                1,
		Peers:             map[raftlite.NodeID]string{1: ""},
		Transport:         mem.NewNetwork(1).Transport(1),
		Persister:         p,
		ElectionTimeout:   50 * time.Millisecond,
		HeartbeatInterval: 10 * time.Millisecond,
		Applied:           applied,
	})
	if err != nil {
		log.Fatal(err)
	}
	return node
}

// Submit pipelines broadcasts: it returns once the node has accepted the
// message, without waiting for it to commit, and messages submitted one
// after another are delivered in that order.
func ExampleNode_Submit() {
	node := startAlone(raftlite.NewMemoryPersister(), 0)
	defer node.Close()
	ctx := context.Background()

	var pending []*raftlite.Pending
	for _, msg := range []string{"first", "second", "third"} {
		p, err := node.Submit(ctx, []byte(msg))
		if err != nil {
			log.Fatal(err)
		}
		pending = append(pending, p)
	}
	// Waiting for the last is enough to know all three committed: they
	// commit in order.
	if _, err := pending[2].Wait(ctx); err != nil {
		log.Fatal(err)
	}
	for range pending {
		d := <-node.Deliveries()
		fmt.Printf("%s (seq %d)\n", d.Data, d.ID.Seq)
	}
	// Output:
	// first (seq 1)
	// second (seq 2)
	// third (seq 3)
}

// A Broadcast that gives up before its message is known to be committed
// returns an *OutcomeUnknownError. The message may still commit, once; its
// ID tells which delivery to watch for.
func ExampleOutcomeUnknownError() {
	network := mem.NewNetwork(1)
	peers := map[raftlite.NodeID]string{1: "", 2: "", 3: ""}
	nodes := map[raftlite.NodeID]*raftlite.Node{}
	for id := range peers {
		node, err := raftlite.New(raftlite.Config{ID: id, Peers: peers, Transport: network.Transport(id),
			Persister: raftlite.NewMemoryPersister(), ElectionTimeout: 100 * time.Millisecond})
		if err != nil {
			log.Fatal(err)
		}
		defer node.Close()
		nodes[id] = node
	}
	ctx := context.Background()
	if _, err := nodes[1].Broadcast(ctx, []byte("warm-up")); err != nil {
		log.Fatal(err)
	}

	network.Isolate(3) // node 3 cannot reach a majority
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err := nodes[3].Broadcast(short, []byte("maybe"))
	var unknown *raftlite.OutcomeUnknownError
	if !errors.As(err, &unknown) {
		log.Fatalf("expected an unknown outcome, got %v", err)
	}
	fmt.Println("outcome unknown:", errors.Is(err, raftlite.ErrOutcomeUnknown), "timed out:", errors.Is(err, context.DeadlineExceeded))

	// Node 3 keeps trying while it lives; once it can reach the others,
	// the message commits, and every node delivers it exactly once.
	network.Heal()
	for d := range nodes[1].Deliveries() {
		if d.ID == unknown.ID {
			fmt.Printf("delivered %q from node %d\n", d.Data, d.ID.Origin)
			break
		}
	}
	// Output:
	// outcome unknown: true timed out: true
	// delivered "maybe" from node 3
}

// A restarted node delivers its log again from the start, unless Applied
// says how much of it the application has already processed durably.
func ExampleNew_restartWithApplied() {
	disk := raftlite.NewMemoryPersister()
	node := startAlone(disk, 0)
	ctx := context.Background()
	var applied uint64
	for _, msg := range []string{"a", "b", "c"} {
		if _, err := node.Broadcast(ctx, []byte(msg)); err != nil {
			log.Fatal(err)
		}
	}
	for range 2 { // the application processes two, then the node stops
		d := <-node.Deliveries()
		applied = d.Index
	}
	if err := node.Close(); err != nil {
		log.Fatal(err)
	}

	node = startAlone(disk, applied)
	defer node.Close()
	d := <-node.Deliveries()
	fmt.Printf("after a restart, delivery resumes with %q\n", d.Data)
	// Output:
	// after a restart, delivery resumes with "c"
}

// A linearizable read of a key-value store that each node's application
// builds from its deliveries. ReadIndex names the point the read must
// wait for; once WaitDelivered has handed everything up to it to the
// application, and the application has applied what it was handed, the
// read sees every write that committed before it began, whichever node
// it is made on, even one that had not yet applied that write.
func ExampleNode_ReadIndex() {
	network := mem.NewNetwork(1)
	peers := map[raftlite.NodeID]string{1: "n1", 2: "n2", 3: "n3"}
	// A store is one node's application: a map that a goroutine of its
	// own fills with the node's deliveries, "key=value".
	type store struct {
		mu      sync.Mutex
		applied *sync.Cond
		last    uint64 // the index of the last delivery applied
		kv      map[string]string
	}
	nodes := map[raftlite.NodeID]*raftlite.Node{}
	stores := map[raftlite.NodeID]*store{}
	for id := range peers {
		node, err := raftlite.New(raftlite.Config{ID: id, Peers: peers, Transport: network.Transport(id),
			Persister: raftlite.NewMemoryPersister(), ElectionTimeout: 100 * time.Millisecond})
		if err != nil {
			log.Fatal(err)
		}
		defer node.Close()
		s := &store{kv: map[string]string{}}
		s.applied = sync.NewCond(&s.mu)
		nodes[id], stores[id] = node, s
		go func() {
			for d := range node.Deliveries() {
				key, value, _ := strings.Cut(string(d.Data), "=")
				s.mu.Lock()
				s.kv[key], s.last = value, d.Index
				s.applied.Broadcast()
				s.mu.Unlock()
			}
		}()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// read returns key's value on node id, linearizably.
	read := func(id raftlite.NodeID, key string) string {
		index, err := nodes[id].ReadIndex(ctx) // the leader confirms it still leads
		if err != nil {
			log.Fatal(err)
		}
		handed, err := nodes[id].WaitDelivered(ctx, index)
		if err != nil {
			log.Fatal(err)
		}
		s := stores[id]
		s.mu.Lock()
		defer s.mu.Unlock()
		for s.last < handed { // the store applies deliveries on its own goroutine
			s.applied.Wait()
		}
		return s.kv[key]
	}

	for _, color := range []string{"red", "blue"} {
		if _, err := nodes[1].Broadcast(ctx, []byte("color="+color)); err != nil {
			log.Fatal(err)
		}
		for id := raftlite.NodeID(1); id <= 3; id++ {
			fmt.Printf("node %d reads color=%s\n", id, read(id, "color"))
		}
	}
	// Output:
	// node 1 reads color=red
	// node 2 reads color=red
	// node 3 reads color=red
	// node 1 reads color=blue
	// node 2 reads color=blue
	// node 3 reads color=blue
}
