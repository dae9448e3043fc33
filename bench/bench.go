// Package bench measures raftlite: commit latency and throughput of a
// three-node cluster in one process, for each transport and persister, and
// the machine's floor (disk sync latency, loopback round trip) in the same
// run, so that figures can be read as ratios on a shared, noisy machine.
//
// `go test -bench . ./bench` runs the matrix as Go benchmarks;
// `go run ./cmd/raftlite bench` prints it as one table.
package bench

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/internal/loopback"
	"github.com/raftlite/raftlite/transport/mem"
)

// Setup is one point of the matrix.
type Setup struct {
	// Nodes is how many voters the cluster starts with; 0 means three.
	Nodes       int
	Transport   string // "mem", "tcp" or "quic"
	Persister   string // "memory" or "wal"
	Clients     int    // concurrent broadcasters
	Size        int    // payload bytes
	ViaFollower bool   // broadcast on a follower, which forwards to the leader

	// SnapshotEvery, when set, gives each node the benchmark application
	// (app.go) instead of the record of every delivery that Verify checks,
	// so that the cluster can run without end: the application keeps a
	// running hash of what it applied and StateBytes of padding, snapshots
	// when its node asks (this is Config.SnapshotEvery; math.MaxUint64
	// never asks, leaving snapshots to Cluster.Snapshot) and restores the
	// snapshots it is handed. Agree checks the applications.
	SnapshotEvery   uint64
	TrailingEntries uint64 // Config.TrailingEntries; 0 for its default
	StateBytes      int64
	// SegmentBytes is the WAL's segment size; 0 for its default.
	SegmentBytes int64

	// LeaseReads and DisablePreVote set the Config fields of those names.
	LeaseReads, DisablePreVote bool
	// Partitions builds the network so that Cluster.Isolate can cut a node
	// off: tcp then runs through a proxy for each direction of each pair
	// of nodes (mem can always).
	Partitions bool
	// Spares is how many nodes the network has room for beyond the three
	// that start, for Cluster.Join to start as they join (membership.go).
	// Not with Partitions.
	Spares int
}

// String names the setup as the benchmarks and the bench command do, e.g.
// "transport=tcp/persist=wal/clients=4/size=128/via=leader": a name for
// b.Run, which `go test -bench` and `raftlite bench -run` match against.
// A setup that sets Nodes is named with it first ("nodes=5/transport=..."),
// so that the names of the three-node matrix stay as benchstat files
// recorded them.
func (s Setup) String() string {
	via := "leader"
	if s.ViaFollower {
		via = "follower"
	}
	name := fmt.Sprintf("transport=%s/persist=%s/clients=%d/size=%d/via=%s", s.Transport, s.Persister, s.Clients, s.Size, via)
	if s.Nodes != 0 {
		name = fmt.Sprintf("nodes=%d/%s", s.Nodes, name)
	}
	return name
}

// voters is how many nodes the cluster starts with.
func (s Setup) voters() int {
	if s.Nodes == 0 {
		return 3
	}
	return s.Nodes
}

// Result is what one load run measured.
type Result struct {
	// Commits is how many broadcasts the load made; each returned once
	// committed.
	Commits int
	// Elapsed is the wall-clock time of the whole load, from the first
	// broadcast to the return of the last, with the clients running side
	// by side.
	Elapsed time.Duration
	// P50, P90 and P99 are percentiles of the latency of one broadcast:
	// the time from calling Broadcast to its return, once the entry is
	// committed.
	P50, P90, P99 time.Duration
	// Syncs is how many disk syncs all nodes made during the load, for
	// persisters that count them (the memory persister counts its saves).
	Syncs int64
	// Messages is how many messages all nodes sent during the load: with
	// Commits, how well broadcasts share messages.
	Messages uint64
	// Last is the highest index a broadcast of the load committed at (0
	// for a Running load's windows).
	Last uint64
}

// PerSecond is the committed broadcasts per second.
func (r Result) PerSecond() float64 { return float64(r.Commits) / r.Elapsed.Seconds() }

// ElectionTimeout is the nodes' Config.ElectionTimeout; their heartbeat
// interval is a tenth of it.
const ElectionTimeout = 300 * time.Millisecond

// Cluster is three nodes in this process (or Setup.Nodes), and the nodes
// that joined it (Setup.Spares). Node i (from 0) has id i+1.
type Cluster struct {
	setup     Setup
	dir       string
	net       *network
	persister persisterKind

	// Per node. disks and apps outlive a node that Stop stopped, for
	// Restart; syncBase counts the syncs of persisters closed for good.
	nodes    []*raftlite.Node
	stopped  []bool
	reading  []chan struct{} // closed once the node's deliveries end
	disks    []raftlite.Persister
	syncs    []func() int64
	syncBase int64
	apps     []*app // with Setup.SnapshotEvery; otherwise seen
	// joined marks the nodes that started with Config.Join; removed, those
	// removed from the cluster and stopped, which Verify no longer checks.
	joined, removed []bool

	mu    sync.Mutex
	seen  [][]ack // per node, what it delivered: index and payload hash
	acked []ack

	// clients counts the clients of every load so far, each numbered
	// anew, so that their payloads differ from every earlier load's.
	clients int
	// loaded counts the broadcasts Load's clients saw committed, for
	// progress reports while a long load runs.
	loaded atomic.Int64
}

type ack struct {
	index uint64
	sum   uint64 // of the payload
}

var hashSeed = maphash.MakeSeed()

// transportKind builds the network of nodes ids for setup s;
// persisterKind opens a node's persister in dir, with a count of its disk
// syncs.
type (
	transportKind func(ids []raftlite.NodeID, s Setup) (*network, error)
	persisterKind func(dir string, s Setup) (raftlite.Persister, func() int64, error)
)

// network is how a cluster's nodes reach each other.
type network struct {
	// peers is what node id is told of every node's address, itself
	// included; its transport is built by newTransport.
	peers        func(id raftlite.NodeID) map[raftlite.NodeID]string
	newTransport func(id raftlite.NodeID) (raftlite.Transport, error)
	// sent counts the messages the nodes sent so far, the nodes stopped
	// since included.
	sent func() uint64
	// isolate cuts node id off from every other, both ways; heal undoes
	// every cut. Nil unless the setup asked for Partitions.
	isolate func(id raftlite.NodeID)
	heal    func()
	// close releases what the network holds besides the transports
	// (proxies); nil if nothing.
	close func() error
}

// samePeers is the peers of a network that tells every node the same.
func samePeers(peers map[raftlite.NodeID]string) func(raftlite.NodeID) map[raftlite.NodeID]string {
	return func(raftlite.NodeID) map[raftlite.NodeID]string { return peers }
}

// transports and persisters are filled in by the files for each kind.
var (
	transports = map[string]transportKind{
		"mem": func(ids []raftlite.NodeID, _ Setup) (*network, error) {
			net := mem.NewNetwork(1)
			peers := map[raftlite.NodeID]string{}
			for _, id := range ids {
				peers[id] = fmt.Sprint("node-", id)
			}
			return &network{
				peers:        samePeers(peers),
				newTransport: func(id raftlite.NodeID) (raftlite.Transport, error) { return net.Transport(id), nil },
				sent:         func() uint64 { return net.Stats().Sent },
				isolate:      net.Isolate,
				heal:         net.Heal,
			}, nil
		},
	}
	persisters = map[string]persisterKind{
		"memory": func(string, Setup) (raftlite.Persister, func() int64, error) {
			p := raftlite.NewMemoryPersister()
			return p, func() int64 { return int64(p.Saves()) }, nil
		},
	}
)

// Start builds a cluster for s, with its data under dir, and waits for a
// leader. A networked cluster that finds one of its ports taken by another
// process is started again on new ports (see package loopback).
func Start(ctx context.Context, s Setup, dir string) (*Cluster, error) {
	transport, ok := transports[s.Transport]
	if !ok {
		return nil, fmt.Errorf("bench: unknown transport %q", s.Transport)
	}
	persister, ok := persisters[s.Persister]
	if !ok {
		return nil, fmt.Errorf("bench: unknown persister %q", s.Persister)
	}
	var c *Cluster
	attempt := 0
	err := loopback.Retry(func() error {
		attempt++
		c = &Cluster{setup: s, dir: filepath.Join(dir, fmt.Sprint("start-", attempt))}
		return c.startNodes(transport, persister)
	})
	if err != nil {
		return nil, err
	}
	if _, err := c.leader(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// startNodes starts the setup's nodes, or none: if one fails, it closes
// the others.
func (c *Cluster) startNodes(transport transportKind, persister persisterKind) error {
	size := c.setup.voters()
	if size < 1 {
		return fmt.Errorf("bench: a cluster needs a node, not %d", size)
	}
	var ids []raftlite.NodeID
	for i := range size {
		ids = append(ids, raftlite.NodeID(i+1)) // node i has id i+1
	}
	if c.setup.Spares > 0 && c.setup.Partitions {
		return errors.New("bench: a setup with Spares cannot have Partitions")
	}
	all := slices.Clone(ids)
	for k := range c.setup.Spares {
		all = append(all, raftlite.NodeID(size+k+1))
	}
	net, err := transport(all, c.setup)
	if err != nil {
		return err
	}
	c.net, c.persister = net, persister
	c.nodes, c.stopped, c.reading = make([]*raftlite.Node, size), make([]bool, size), make([]chan struct{}, size)
	c.disks, c.syncs = make([]raftlite.Persister, size), make([]func() int64, size)
	c.joined, c.removed = make([]bool, size), make([]bool, size)
	if c.setup.SnapshotEvery != 0 {
		c.apps = make([]*app, size)
		for i := range c.apps {
			c.apps[i] = &app{stateBytes: c.setup.StateBytes, auto: c.setup.SnapshotEvery != math.MaxUint64}
		}
	} else {
		c.seen = make([][]ack, size)
	}
	for i := range ids {
		if err := c.startNode(i); err != nil {
			c.Close()
			return err
		}
	}
	return nil
}

// startNode starts node i on its persister: a new one the first time; on a
// restart the same MemoryPersister, which survives its node, or the WAL
// opened again on its directory. The node's deliveries go to its
// application, or to the record Verify checks; a restarted node is told
// how far its application got (Config.Applied).
func (c *Cluster) startNode(i int) error {
	id := raftlite.NodeID(i + 1)
	p := c.disks[i]
	if _, inMemory := p.(*raftlite.MemoryPersister); !inMemory {
		fresh, syncs, err := c.persister(filepath.Join(c.dir, fmt.Sprint("node-", id)), c.setup)
		if err != nil {
			return fmt.Errorf("bench: starting node %d: %w", id, err)
		}
		if c.syncs[i] != nil {
			c.syncBase += c.syncs[i]()
		}
		p, c.disks[i], c.syncs[i] = fresh, fresh, syncs
	}
	t, err := c.net.newTransport(id)
	if err != nil {
		return fmt.Errorf("bench: starting node %d: %w", id, errors.Join(err, p.Close()))
	}
	var applied uint64
	if c.apps != nil {
		applied = c.apps[i].state().index
	}
	// The first Setup.Nodes bootstrap the cluster: their Peers are its
	// first membership. A node that joins is given every address.
	peers := c.net.peers(id)
	if !c.joined[i] {
		voters := raftlite.NodeID(c.setup.voters())
		peers = maps.Clone(peers)
		maps.DeleteFunc(peers, func(id raftlite.NodeID, _ string) bool { return id > voters })
	}
	n, err := raftlite.New(raftlite.Config{
		ID: id, Peers: peers, Join: c.joined[i], Transport: t, Persister: p,
		ElectionTimeout: ElectionTimeout, HeartbeatInterval: ElectionTimeout / 10,
		LeaseReads: c.setup.LeaseReads, DisablePreVote: c.setup.DisablePreVote,
		RandSeed: uint64(id), MaxPendingBroadcasts: 1 << 14, Applied: applied,
		SnapshotEvery: c.setup.SnapshotEvery, TrailingEntries: c.setup.TrailingEntries,
		// Warnings only, on stderr: the benchmark lines own the output.
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return fmt.Errorf("bench: starting node %d: %w", id, err)
	}
	c.nodes[i], c.stopped[i] = n, false
	reading := make(chan struct{})
	c.reading[i] = reading
	// The application is taken now: Join appends to c.apps while the
	// nodes deliver.
	var a *app
	if c.apps != nil {
		a = c.apps[i]
	}
	go func() {
		defer close(reading)
		for d := range n.Deliveries() {
			if a != nil {
				a.apply(n, d)
				continue
			}
			c.mu.Lock()
			// Only a hash is kept, so that the payloads can leave memory
			// as they would in an application.
			c.seen[i] = append(c.seen[i], ack{d.Index, maphash.Bytes(hashSeed, d.Data)})
			c.mu.Unlock()
		}
	}()
	return nil
}

// Stop stops node i (from 0), as a crash that lost nothing saved would:
// its persister keeps what it saved and its application what it applied.
func (c *Cluster) Stop(i int) error {
	if c.stopped[i] {
		return nil
	}
	c.stopped[i] = true
	err := c.nodes[i].Close()
	<-c.reading[i]
	return err
}

// Restart starts node i, which Stop stopped, again on the same data. Stop
// and Restart must not run concurrently with the cluster's other methods,
// but may while a Running load runs.
func (c *Cluster) Restart(i int) error {
	if !c.stopped[i] {
		return fmt.Errorf("bench: node %d is running", i+1)
	}
	return c.startNode(i)
}

// leader waits for a running node to be leader and returns it.
func (c *Cluster) leader(ctx context.Context) (int, error) {
	l := -1
	err := poll(ctx, 5*time.Millisecond, func() bool {
		for i, n := range c.nodes {
			if !c.stopped[i] && n.Status().Role == raftlite.Leader {
				l = i
				return true
			}
		}
		return false
	})
	if err != nil {
		return 0, fmt.Errorf("bench: no leader: %w", err)
	}
	return l, nil
}

// target returns the node the setup's clients broadcast on.
func (c *Cluster) target(ctx context.Context) (*raftlite.Node, error) {
	l, err := c.leader(ctx)
	if err != nil {
		return nil, err
	}
	if c.setup.ViaFollower {
		return c.nodes[(l+1)%len(c.nodes)], nil
	}
	return c.nodes[l], nil
}

// poll waits until done returns true, asking it every so often, or until
// ctx ends.
func poll(ctx context.Context, every time.Duration, done func() bool) error {
	for !done() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
	return nil
}

// Load runs total broadcasts split among the setup's clients and measures them.
func (c *Cluster) Load(ctx context.Context, total int) (Result, error) {
	target, err := c.target(ctx)
	if err != nil {
		return Result{}, err
	}
	return c.load(ctx, target, c.setup.Clients, total, time.Time{})
}

// LoadFor runs the setup's clients for about d and measures them: each
// broadcasts until d has passed, then finishes the broadcast it has under
// way. Every broadcast is acknowledged, so Verify checks it as it does a
// Load. A load bounded by time rather than by count keeps a table of setups
// whose speeds differ a hundredfold to a known length.
func (c *Cluster) LoadFor(ctx context.Context, d time.Duration) (Result, error) {
	target, err := c.target(ctx)
	if err != nil {
		return Result{}, err
	}
	return c.load(ctx, target, c.setup.Clients, -1, time.Now().Add(d))
}

// Loaded returns how many broadcasts the cluster's loads (Load,
// Broadcasts) have seen committed so far; another goroutine may call it
// while a load runs, to show its progress.
func (c *Cluster) Loaded() int64 { return c.loaded.Load() }

// load runs total broadcasts on target, split among clients; or, if total
// is negative, as many as the clients commit before until.
func (c *Cluster) load(ctx context.Context, target *raftlite.Node, clients, total int, until time.Time) (Result, error) {
	// Reserve room for what the readers will record, so that the
	// verification's own bookkeeping does not count as the cluster's
	// allocations.
	c.mu.Lock()
	for i := range c.seen {
		c.seen[i] = slices.Grow(c.seen[i], max(total, 0))
	}
	c.mu.Unlock()
	syncsBefore, sentBefore := c.totalSyncs(), c.net.sent()
	runs := make([]clientRun, max(clients, 1))
	first := c.clients
	c.clients += len(runs)
	// One client failing stops the others: the load has failed.
	g, gctx := errgroup.WithContext(ctx)
	start := time.Now()
	for k := range runs {
		count := -1
		if total >= 0 {
			count = total / len(runs)
			if k < total%len(runs) {
				count++
			}
		}
		r := &runs[k]
		r.latencies, r.acks = make([]time.Duration, 0, max(count, 0)), make([]ack, 0, max(count, 0))
		g.Go(func() error {
			return c.runClient(gctx, target, first+k, count, func(index uint64, payload []byte, took time.Duration) bool {
				r.latencies = append(r.latencies, took)
				r.acks = append(r.acks, ack{index, maphash.Bytes(hashSeed, payload)})
				c.loaded.Add(1)
				// Stopping here, and not by ending ctx, leaves no broadcast
				// unacknowledged that might yet commit.
				return until.IsZero() || time.Now().Before(until)
			})
		})
	}
	if err := g.Wait(); err != nil {
		return Result{}, err
	}
	elapsed := time.Since(start)
	var latencies []time.Duration
	var last uint64
	for _, r := range runs {
		latencies = append(latencies, r.latencies...)
		c.acked = append(c.acked, r.acks...)
		for _, a := range r.acks {
			last = max(last, a.index)
		}
	}
	res := summarize(latencies, elapsed, c.totalSyncs()-syncsBefore)
	res.Last, res.Messages = last, c.net.sent()-sentBefore
	return res, nil
}

// clientRun is what one client of a load saw.
type clientRun struct {
	latencies []time.Duration
	acks      []ack
}

// runClient is client k (numbered across the cluster's loads, so that
// its payloads are its own) of a load: broadcasts on target, one after
// another, each timed, count of them or, if count is negative, until ctx
// ends (which is then no error), or until committed returns false. It
// calls committed with each one's index, payload (valid until it returns)
// and latency. A load that ends with ctx leaves broadcasts that may commit
// unacknowledged, which Verify refuses: one that Verify checks ends by
// committed returning false.
func (c *Cluster) runClient(ctx context.Context, target *raftlite.Node, k, count int,
	committed func(index uint64, payload []byte, took time.Duration) (more bool)) error {
	payload := make([]byte, c.setup.Size)
	rng := rand.New(rand.NewPCG(uint64(k), 1))
	for i := range payload {
		payload[i] = byte('a' + rng.IntN(26))
	}
	for j := 0; count < 0 || j < count; j++ {
		// A unique "client/seq|" prefix (no '|' in the filler) makes every
		// payload, and so its hash, unique.
		prefix := strconv.AppendInt(append(strconv.AppendInt(payload[:0], int64(k), 10), '/'), int64(j), 36)
		payload[len(prefix)] = '|'
		t0 := time.Now()
		idx, err := target.Broadcast(ctx, payload)
		if err != nil {
			if count < 0 && ctx.Err() != nil {
				return nil
			}
			return err
		}
		if !committed(idx, payload, time.Since(t0)) {
			return nil
		}
	}
	return nil
}

// summarize turns a load's latencies into a Result.
func summarize(latencies []time.Duration, elapsed time.Duration, syncs int64) Result {
	slices.Sort(latencies)
	pct := func(p float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[min(len(latencies)-1, int(p*float64(len(latencies))))]
	}
	return Result{Commits: len(latencies), Elapsed: elapsed, P50: pct(0.50), P90: pct(0.90), P99: pct(0.99), Syncs: syncs}
}

func (c *Cluster) totalSyncs() int64 {
	n := c.syncBase
	for _, f := range c.syncs {
		if f != nil {
			n += f()
		}
	}
	return n
}

// Verify checks what the load measured: every node delivered exactly the
// acknowledged broadcasts, each once and at its acknowledged index, in the
// order of their indices; and so every node delivered the same sequence.
// Nodes removed from the cluster are left out: they stopped hearing of
// commits. A cluster of applications (Setup.SnapshotEvery) is checked by
// Agree.
func (c *Cluster) Verify(ctx context.Context) error {
	if c.seen == nil {
		return errors.New("bench: Verify needs the record of deliveries, which a setup with SnapshotEvery does not keep: use Agree")
	}
	want, last, err := c.wanted()
	if err != nil {
		return err
	}
	var first []ack
	firstNode := 0
	for i := range c.nodes {
		if c.removed[i] {
			continue
		}
		got, err := c.deliveredUpTo(ctx, i, last)
		if err != nil {
			return err
		}
		if err := checkDeliveries(got, want, last); err != nil {
			return fmt.Errorf("bench: node %d: %w", i+1, err)
		}
		if firstNode == 0 {
			first, firstNode = got, i+1
		} else if k := firstDifference(first, got); k >= 0 {
			return fmt.Errorf("bench: nodes %d and %d differ at delivery %d", firstNode, i+1, k+1)
		}
	}
	return nil
}

// wanted returns the acknowledged payloads' hashes by index, and the last
// index; it fails if two broadcasts were acknowledged at one index, or one
// payload (all are unique) at two.
func (c *Cluster) wanted() (map[uint64]uint64, uint64, error) {
	want := make(map[uint64]uint64, len(c.acked))
	at := make(map[uint64]uint64, len(c.acked)) // payload hash -> index
	var last uint64
	for _, a := range c.acked {
		if _, dup := want[a.index]; dup {
			return nil, 0, fmt.Errorf("bench: two broadcasts acknowledged at index %d", a.index)
		}
		if i, dup := at[a.sum]; dup {
			return nil, 0, fmt.Errorf("bench: one payload acknowledged at indices %d and %d", i, a.index)
		}
		want[a.index], at[a.sum] = a.sum, a.index
		last = max(last, a.index)
	}
	return want, last, nil
}

// deliveredUpTo waits until node i has delivered index last and returns
// what it delivered.
func (c *Cluster) deliveredUpTo(ctx context.Context, i int, last uint64) ([]ack, error) {
	var got []ack
	var top uint64
	err := poll(ctx, time.Millisecond, func() bool {
		c.mu.Lock()
		got = c.seen[i]
		c.mu.Unlock()
		if len(got) > 0 {
			top = got[len(got)-1].index
		}
		return top >= last
	})
	if err != nil {
		return nil, fmt.Errorf("bench: node %d delivered up to %d of %d: %w", i+1, top, last, err)
	}
	return got, nil
}

// firstDifference returns the first position where a and b, as far as
// both go, differ, or -1.
func firstDifference(a, b []ack) int {
	for k := range min(len(a), len(b)) {
		if a[k] != b[k] {
			return k
		}
	}
	return -1
}

// checkDeliveries checks one node's deliveries up to index last against
// the acknowledged hashes by index: increasing indices (so none twice and
// none out of order), each the payload acknowledged there, all of them.
func checkDeliveries(got []ack, want map[uint64]uint64, last uint64) error {
	var prev uint64
	count := 0
	for _, d := range got {
		if d.index > last {
			break
		}
		if d.index <= prev {
			return fmt.Errorf("delivered index %d after %d: out of order or twice", d.index, prev)
		}
		if w, ok := want[d.index]; !ok || w != d.sum {
			return fmt.Errorf("delivered at %d something other than what was acknowledged there", d.index)
		}
		prev = d.index
		count++
	}
	if count != len(want) {
		return fmt.Errorf("delivered %d of %d acknowledged broadcasts", count, len(want))
	}
	return nil
}

// Close stops the cluster.
func (c *Cluster) Close() error {
	var errs []error
	for i, n := range c.nodes {
		if n != nil {
			errs = append(errs, c.Stop(i))
		}
	}
	if c.net != nil && c.net.close != nil {
		errs = append(errs, c.net.close())
	}
	return errors.Join(errs...)
}

func loopbackRTT(samples int) (time.Duration, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		buf := make([]byte, 128)
		for {
			if _, err := readFull(conn, buf); err != nil {
				return
			}
			if _, err := conn.Write(buf); err != nil {
				return
			}
		}
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	conn.(*net.TCPConn).SetNoDelay(true)
	buf := make([]byte, 128)
	var rtts []time.Duration
	for range samples {
		t0 := time.Now()
		if _, err := conn.Write(buf); err != nil {
			return 0, err
		}
		if _, err := readFull(conn, buf); err != nil {
			return 0, err
		}
		rtts = append(rtts, time.Since(t0))
	}
	return median(rtts), nil
}

func readFull(conn net.Conn, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		k, err := conn.Read(buf[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func median(ds []time.Duration) time.Duration {
	slices.Sort(ds)
	return ds[len(ds)/2]
}
