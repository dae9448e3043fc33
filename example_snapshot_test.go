package raftlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"time"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/transport/mem"
)

// counts is an application's state: how often each word was broadcast.
type counts map[string]int

// apply takes one delivery: a snapshot replaces the state, a message adds
// to it. When the node says a snapshot is due, the state is stored as of
// this delivery, from the loop itself, so it cannot change meanwhile.
func (c counts) apply(ctx context.Context, node *raftlite.Node, d raftlite.Delivery) error {
	if d.Snapshot != nil {
		clear(c)
		return json.NewDecoder(d.Snapshot).Decode(&c)
	}
	c[string(d.Data)]++
	if d.SnapshotDue {
		return node.Snapshot(ctx, d.Index, func(w io.Writer) error { return json.NewEncoder(w).Encode(c) })
	}
	return nil
}

// An application snapshots its state when the node asks, and the node
// compacts its log behind the snapshot. Restarted from scratch (Applied
// 0), the application is handed the snapshot, then the messages after it.
func ExampleNode_Snapshot() {
	disk := raftlite.NewMemoryPersister()
	start := func() *raftlite.Node {
		node, err := raftlite.New(raftlite.Config{
			ID: 1, Peers: map[raftlite.NodeID]string{1: ""},
			Transport: mem.NewNetwork(1).Transport(1), Persister: disk,
			ElectionTimeout: 50 * time.Millisecond, HeartbeatInterval: 10 * time.Millisecond,
			SnapshotEvery: 4, TrailingEntries: 1,
		})
		if err != nil {
			log.Fatal(err)
		}
		return node
	}
	ctx := context.Background()
	node, state := start(), counts{}
	var last uint64
	for _, word := range []string{"a", "b", "a", "c", "a", "b"} {
		index, err := node.Broadcast(ctx, []byte(word))
		if err != nil {
			log.Fatal(err)
		}
		last = index
	}
	for d := range node.Deliveries() {
		if err := state.apply(ctx, node, d); err != nil {
			log.Fatal(err)
		}
		if d.Index == last {
			break
		}
	}
	fmt.Println("before:", state, "snapshot at", node.Status().SnapshotIndex)
	if err := node.Close(); err != nil {
		log.Fatal(err)
	}

	node, state = start(), counts{}
	defer node.Close()
	for d := range node.Deliveries() {
		if d.Snapshot != nil {
			fmt.Println("restoring the snapshot at", d.Index)
		}
		if err := state.apply(ctx, node, d); err != nil {
			log.Fatal(err)
		}
		if d.Index == last {
			break
		}
	}
	fmt.Println("after:", state)
	// Output:
	// before: map[a:3 b:2 c:1] snapshot at 4
	// restoring the snapshot at 4
	// after: map[a:3 b:2 c:1]
}
