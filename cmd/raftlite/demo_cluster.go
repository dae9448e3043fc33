package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/transport/mem"
)

// nodeDemo is three Nodes on an in-process network, on real time.
type nodeDemo struct {
	network *mem.Network
	start   time.Time
	all     []raftlite.NodeID
	nodes   map[raftlite.NodeID]*raftlite.Node // the running ones

	mu   sync.Mutex
	got  map[raftlite.NodeID][]string
	read sync.WaitGroup // the readers of Deliveries
}

func startNodeDemo(logger *slog.Logger, trace io.Writer) (*nodeDemo, error) {
	network := mem.NewNetwork(uint64(time.Now().UnixNano()))
	peers := map[raftlite.NodeID]string{1: "node-1", 2: "node-2", 3: "node-3"}
	d := &nodeDemo{network: network, start: time.Now(), all: []raftlite.NodeID{1, 2, 3}, nodes: map[raftlite.NodeID]*raftlite.Node{},
		got: map[raftlite.NodeID][]string{}}
	for _, id := range d.all {
		n, err := raftlite.New(raftlite.Config{
			ID: id, Peers: peers, Transport: network.Transport(id), Persister: raftlite.NewMemoryPersister(),
			ElectionTimeout: demoElection, HeartbeatInterval: demoHeartbeat, Logger: logger, Trace: trace,
		})
		if err != nil {
			return nil, errors.Join(err, d.close())
		}
		d.nodes[id] = n
		d.read.Go(func() {
			for dv := range n.Deliveries() {
				d.mu.Lock()
				d.got[id] = append(d.got[id], string(dv.Data))
				d.mu.Unlock()
			}
		})
	}
	return d, nil
}

func (d *nodeDemo) ids() []raftlite.NodeID { return d.all }

func (d *nodeDemo) status(id raftlite.NodeID) raftlite.Status {
	if n := d.nodes[id]; n != nil {
		return n.Status()
	}
	return raftlite.Status{ID: id}
}

func (d *nodeDemo) elapsed() time.Duration { return time.Since(d.start) }

// await polls done every 5ms until it holds or ctx ends.
func (d *nodeDemo) await(ctx context.Context, what string, done func() bool) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !done() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}

func (d *nodeDemo) broadcast(ctx context.Context, id raftlite.NodeID, msg string) (uint64, error) {
	return d.nodes[id].Broadcast(ctx, []byte(msg))
}

// stop fails node id as a crash would: it is cut off first, so that Close
// cannot hand leadership over (which it tries, for up to an election
// timeout) and the others must notice the silence and elect.
func (d *nodeDemo) stop(id raftlite.NodeID) error {
	n := d.nodes[id]
	delete(d.nodes, id)
	d.network.Down(id)
	if err := n.Close(); err != nil {
		return fmt.Errorf("stopping node %d: %w", id, err)
	}
	return nil
}

func (d *nodeDemo) delivered(id raftlite.NodeID) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.got[id])
}

// close stops the running nodes and waits until what they delivered is
// read.
func (d *nodeDemo) close() error {
	var errs []error
	for _, id := range d.all {
		if d.nodes[id] != nil {
			errs = append(errs, d.stop(id))
		}
	}
	d.read.Wait()
	return errors.Join(errs...)
}

// simDemo is a Simulation of three nodes, on virtual time.
type simDemo struct {
	sim *raftlite.Simulation
}

func startSimDemo(seed uint64, trace io.Writer) (*simDemo, error) {
	sim, err := raftlite.NewSimulation(raftlite.SimulationConfig{
		Nodes: 3, Seed: seed, ElectionTimeout: demoElection, HeartbeatInterval: demoHeartbeat, Trace: trace,
	})
	if err != nil {
		return nil, err
	}
	return &simDemo{sim: sim}, nil
}

func (d *simDemo) ids() []raftlite.NodeID { return []raftlite.NodeID{1, 2, 3} }

func (d *simDemo) status(id raftlite.NodeID) raftlite.Status { return d.sim.Status(id) }

func (d *simDemo) elapsed() time.Duration { return d.sim.Now() }

// await runs the simulation until done holds, for at most a minute of
// virtual time.
func (d *simDemo) await(_ context.Context, what string, done func() bool) error {
	if !d.sim.RunUntil(done, time.Minute) {
		return fmt.Errorf("waiting for %s: nothing after a minute of virtual time", what)
	}
	return nil
}

func (d *simDemo) broadcast(_ context.Context, id raftlite.NodeID, msg string) (uint64, error) {
	return d.sim.Broadcast(id, []byte(msg))
}

func (d *simDemo) stop(id raftlite.NodeID) error { return d.sim.Stop(id) }

func (d *simDemo) delivered(id raftlite.NodeID) []string {
	var got []string
	for _, dv := range d.sim.Deliveries(id) {
		got = append(got, string(dv.Data))
	}
	return got
}

func (d *simDemo) close() error { return nil }

// lockedWriter lets the three nodes share one trace writer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
