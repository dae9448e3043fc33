package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/transport/mem"
)

// runDemo starts three nodes on an in-process network, broadcasts from each,
// stops the leader, shows who leads next, broadcasts again, and prints what
// every node delivered: the same sequence everywhere.
func runDemo(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	verbose := fs.Bool("v", false, "log what the nodes do")
	if err := fs.Parse(args); err != nil {
		return err
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	network := mem.NewNetwork(uint64(time.Now().UnixNano()))
	peers := map[raftlite.NodeID]string{1: "node-1", 2: "node-2", 3: "node-3"}
	nodes := map[raftlite.NodeID]*raftlite.Node{}
	delivered := map[raftlite.NodeID]chan []string{}
	for id := range peers {
		n, err := raftlite.New(raftlite.Config{
			ID: id, Peers: peers, Transport: network.Transport(id), Persister: raftlite.NewMemoryPersister(),
			ElectionTimeout: 150 * time.Millisecond, HeartbeatInterval: 30 * time.Millisecond, Logger: logger,
		})
		if err != nil {
			return err
		}
		nodes[id] = n
		delivered[id] = collect(n)
	}
	defer func() {
		for _, n := range nodes {
			n.Close()
		}
	}()

	leader, err := waitForLeader(ctx, nodes)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "node %d leads term %d\n", leader, nodes[leader].Status().Term)
	for id := raftlite.NodeID(1); id <= 3; id++ {
		if err := broadcast(ctx, stdout, nodes[id], id, fmt.Sprintf("hello from node %d", id)); err != nil {
			return err
		}
	}

	fmt.Fprintf(stdout, "stopping the leader, node %d\n", leader)
	nodes[leader].Close()
	stopped := nodes[leader]
	delete(nodes, leader)
	next, err := waitForLeader(ctx, nodes)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "node %d leads term %d\n", next, nodes[next].Status().Term)
	for id, n := range nodes {
		if err := broadcast(ctx, stdout, n, id, fmt.Sprintf("after the failover, from node %d", id)); err != nil {
			return err
		}
	}

	// Wait until the survivors have delivered everything committed.
	last := nodes[next].Status().CommitIndex
	for _, n := range nodes {
		for n.Status().Delivered < last {
			if err := pause(ctx); err != nil {
				return err
			}
		}
	}
	for _, n := range nodes {
		n.Close()
	}
	nodes[leader] = stopped
	for id := raftlite.NodeID(1); id <= 3; id++ {
		note := ""
		if id == leader {
			note = " (stopped before the failover)"
		}
		fmt.Fprintf(stdout, "node %d delivered%s:\n", id, note)
		for i, msg := range <-delivered[id] {
			fmt.Fprintf(stdout, "  %d. %s\n", i+1, msg)
		}
	}
	return nil
}

func broadcast(ctx context.Context, w io.Writer, n *raftlite.Node, id raftlite.NodeID, msg string) error {
	index, err := n.Broadcast(ctx, []byte(msg))
	if err != nil {
		return fmt.Errorf("broadcast from node %d: %w", id, err)
	}
	fmt.Fprintf(w, "node %d (%s) broadcast %q: committed at index %d\n", id, n.Status().Role, msg, index)
	return nil
}

// collect gathers a node's deliveries until the node closes.
func collect(n *raftlite.Node) chan []string {
	out := make(chan []string, 1)
	go func() {
		var got []string
		for d := range n.Deliveries() {
			got = append(got, string(d.Data))
		}
		out <- got
	}()
	return out
}

func waitForLeader(ctx context.Context, nodes map[raftlite.NodeID]*raftlite.Node) (raftlite.NodeID, error) {
	for {
		var leaders []raftlite.NodeID
		for id, n := range nodes {
			if n.Status().Role == raftlite.Leader {
				leaders = append(leaders, id)
			}
		}
		if len(leaders) == 1 {
			return leaders[0], nil
		}
		if err := pause(ctx); err != nil {
			return 0, fmt.Errorf("waiting for a leader: %w", err)
		}
	}
}

func pause(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(10 * time.Millisecond):
		return nil
	}
}
