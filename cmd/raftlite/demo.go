package main

import (
	"context"
	"errors"
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
	logger, err := demoLogger(args, stderr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := startDemo(logger)
	if err != nil {
		return err
	}
	defer d.stop()

	leader, err := d.announceLeader(ctx, stdout)
	if err != nil {
		return err
	}
	if err := d.broadcastFromEach(ctx, stdout, "hello from node %d"); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "stopping the leader, node %d\n", leader)
	if err := d.stopNode(leader); err != nil {
		return err
	}
	if _, err := d.announceLeader(ctx, stdout); err != nil {
		return err
	}
	if err := d.broadcastFromEach(ctx, stdout, "after the failover, from node %d"); err != nil {
		return err
	}
	if err := d.waitDelivered(ctx); err != nil {
		return err
	}
	if err := d.stop(); err != nil {
		return err
	}
	d.printDeliveries(stdout, leader)
	return nil
}

func demoLogger(args []string, stderr io.Writer) (*slog.Logger, error) {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	verbose := fs.Bool("v", false, "log what the nodes do")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})), nil
}

// demo is three nodes on an in-process network.
type demo struct {
	ids       []raftlite.NodeID
	nodes     map[raftlite.NodeID]*raftlite.Node // the running ones
	delivered map[raftlite.NodeID]chan []string  // what each delivered, once it stops
	committed uint64                             // the last index a broadcast committed at
}

func startDemo(logger *slog.Logger) (*demo, error) {
	network := mem.NewNetwork(uint64(time.Now().UnixNano()))
	peers := map[raftlite.NodeID]string{1: "node-1", 2: "node-2", 3: "node-3"}
	d := &demo{ids: []raftlite.NodeID{1, 2, 3}, nodes: map[raftlite.NodeID]*raftlite.Node{},
		delivered: map[raftlite.NodeID]chan []string{}}
	for _, id := range d.ids {
		n, err := raftlite.New(raftlite.Config{
			ID: id, Peers: peers, Transport: network.Transport(id), Persister: raftlite.NewMemoryPersister(),
			ElectionTimeout: 150 * time.Millisecond, HeartbeatInterval: 30 * time.Millisecond, Logger: logger,
		})
		if err != nil {
			return nil, errors.Join(err, d.stop())
		}
		d.nodes[id] = n
		d.delivered[id] = collect(n)
	}
	return d, nil
}

// announceLeader waits for one running node to lead and says which.
func (d *demo) announceLeader(ctx context.Context, stdout io.Writer) (raftlite.NodeID, error) {
	leader, err := waitForLeader(ctx, d.nodes)
	if err != nil {
		return 0, err
	}
	fmt.Fprintf(stdout, "node %d leads term %d\n", leader, d.nodes[leader].Status().Term)
	return leader, nil
}

// broadcastFromEach broadcasts format (given the node's id) from every
// running node in turn.
func (d *demo) broadcastFromEach(ctx context.Context, stdout io.Writer, format string) error {
	for _, id := range d.ids {
		if n, ok := d.nodes[id]; ok {
			index, err := broadcast(ctx, stdout, n, id, fmt.Sprintf(format, id))
			if err != nil {
				return err
			}
			d.committed = max(d.committed, index)
		}
	}
	return nil
}

// waitDelivered waits until the running nodes have delivered every
// broadcast.
func (d *demo) waitDelivered(ctx context.Context) error {
	for _, n := range d.nodes {
		for n.Status().Delivered < d.committed {
			if err := pause(ctx); err != nil {
				return fmt.Errorf("waiting for deliveries: %w", err)
			}
		}
	}
	return nil
}

func (d *demo) stopNode(id raftlite.NodeID) error {
	n := d.nodes[id]
	delete(d.nodes, id)
	if err := n.Close(); err != nil {
		return fmt.Errorf("stopping node %d: %w", id, err)
	}
	return nil
}

// stop stops every running node.
func (d *demo) stop() error {
	var errs []error
	for id := range d.nodes {
		errs = append(errs, d.stopNode(id))
	}
	return errors.Join(errs...)
}

// printDeliveries prints what each node delivered; the nodes must have
// stopped.
func (d *demo) printDeliveries(stdout io.Writer, stoppedFirst raftlite.NodeID) {
	for _, id := range d.ids {
		note := ""
		if id == stoppedFirst {
			note = " (stopped before the failover)"
		}
		fmt.Fprintf(stdout, "node %d delivered%s:\n", id, note)
		for i, msg := range <-d.delivered[id] {
			fmt.Fprintf(stdout, "  %d. %s\n", i+1, msg)
		}
	}
}

// broadcast broadcasts msg from node n and says where it committed.
func broadcast(ctx context.Context, w io.Writer, n *raftlite.Node, id raftlite.NodeID, msg string) (uint64, error) {
	index, err := n.Broadcast(ctx, []byte(msg))
	if err != nil {
		return 0, fmt.Errorf("broadcast from node %d: %w", id, err)
	}
	fmt.Fprintf(w, "node %d (%s) broadcast %q: committed at index %d\n", id, n.Status().Role, msg, index)
	return index, nil
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
