package raftlite

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftlite/raftlite/internal/sim"
)

var (
	simSeeds      = flag.Int("sim.seeds", 500, "how many simulator seeds TestSimulation runs in the mixed profile (seeds 1..N)")
	simChurnSeeds = flag.Int("sim.churn-seeds", 500, "how many seeds it runs in the leader-churn profile")
	simSeed       = flag.Uint64("sim.seed", 0, "replay only this simulator seed")
	simChurn      = flag.Bool("sim.churn", false, "replay -sim.seed in the leader-churn profile")
	simTrace      = flag.Bool("sim.trace", false, "print every simulator step (use with -sim.seed)")
)

// TestSimulation runs whole clusters of the pure core, with the Node's own
// save pipeline and delivery logic, on simulated time, disk and network
// under random faults, checking Raft's safety properties after every step
// and liveness once the faults stop. It runs two profiles: mixed, where
// each seed draws its own fault mix, and leader churn, where leaders keep
// dying soon after they are elected or commit.
func TestSimulation(t *testing.T) {
	if *simSeed != 0 {
		runProfile(t, []uint64{*simSeed}, simOptions{churn: *simChurn})
		return
	}
	t.Run("mixed", func(t *testing.T) { runProfile(t, seedRange(*simSeeds), simOptions{}) })
	t.Run("churn", func(t *testing.T) { runProfile(t, seedRange(*simChurnSeeds), simOptions{churn: true}) })
}

func runProfile(t *testing.T, seeds []uint64, opts simOptions) {
	start := time.Now()
	anyFailure := func(simResult) bool { return true } // one replayable seed is enough
	taken, restored, changes := simSnapshots.Load(), simRestores.Load(), simConfChanges.Load()
	steps, failures, results := runSeeds(seeds, opts, anyFailure)
	for _, r := range failures {
		t.Errorf("%s", r.failure)
	}
	t.Logf("%d seeds, %d steps, %d snapshots taken, %d restored, %d membership changes committed, in %v", len(seeds), steps,
		simSnapshots.Load()-taken, simRestores.Load()-restored, simConfChanges.Load()-changes, time.Since(start).Round(time.Millisecond))
	logRecovery(t, results)
}

// logRecovery logs the liveness figure per election mode: how long after
// the last fault healed a broadcast first committed, in election timeouts.
func logRecovery(t *testing.T, results []simResult) {
	byMode := map[string][]simResult{}
	for _, r := range results {
		if r.recovery > 0 {
			byMode[r.mode] = append(byMode[r.mode], r)
		}
	}
	for _, mode := range slices.Sorted(maps.Keys(byMode)) {
		rs := byMode[mode]
		slices.SortFunc(rs, func(a, b simResult) int { return cmp.Compare(a.recovery, b.recovery) })
		e := func(r simResult) float64 { return float64(r.recovery) / float64(simElection) }
		t.Logf("recovery after the last fault, %s: %d seeds, p50 %.2f, p99 %.2f, max %.2f election timeouts (seed %d)",
			mode, len(rs), e(rs[len(rs)/2]), e(rs[len(rs)*99/100]), e(rs[len(rs)-1]), rs[len(rs)-1].seed)
	}
}

// simSnapshots and simRestores count, across simulations, the snapshots
// applications took and restored: the log shows the runs exercise them.
var simSnapshots, simRestores, simConfChanges atomic.Uint64

// seedRange returns the seeds 1..n.
func seedRange(n int) []uint64 {
	seeds := make([]uint64, n)
	for i := range seeds {
		seeds[i] = uint64(i + 1)
	}
	return seeds
}

// runSeeds runs the seeds on every core, stopping once a failure for which
// stop returns true turns up (nil: at none), and returns the steps taken
// and the failures, lowest seed first. Seeds are taken in order, so the
// lowest seed failing in a way stop accepts is always among them.
func runSeeds(seeds []uint64, opts simOptions, stop func(simResult) bool) (steps uint64, failures, results []simResult) {
	var next, stepCount atomic.Uint64
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= uint64(len(seeds)) {
					return
				}
				r := runSimulation(seeds[i], opts)
				stepCount.Add(r.steps)
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
				if r.failure != "" {
					mu.Lock()
					failures = append(failures, r)
					mu.Unlock()
					if stop != nil && stop(r) {
						next.Store(uint64(len(seeds)))
					}
				}
			}
		})
	}
	wg.Wait()
	slices.SortFunc(failures, func(a, b simResult) int { return int(a.seed) - int(b.seed) })
	return stepCount.Load(), failures, results
}

func firstLine(s string) string { return strings.SplitN(s, "\n", 2)[0] }

type simOptions struct {
	bug bug
	// churn forces the leader-churn profile on 3 and 5 nodes (see newSwarm).
	churn bool
	// paper runs elections as the Raft paper has them: no pre-vote, no
	// check-quorum, whose refusals hide some bugs of plain elections.
	paper bool
	// noSingleVote switches the single-vote check off (bugs_test.go).
	noSingleVote bool
	// trace receives the simulator's steps and every node's learning
	// trace (trace.go); -sim.trace sends them to stdout.
	trace io.Writer
}

type simResult struct {
	seed    uint64
	steps   uint64
	check   string // the check that failed
	failure string
	// mode names the seed's election options; recovery is how long after
	// the last fault healed a broadcast first committed (0 if none did).
	mode     string
	recovery time.Duration
}

// The shape of a simulation.
const (
	simElection  = 500 * time.Millisecond
	simHeartbeat = 50 * time.Millisecond
	simChaos     = 6 * time.Second  // faults are injected until then
	simSettle    = 20 * time.Second // then everything must converge within this
)

type simNode struct {
	id    NodeID
	core  *core
	alive bool
	life  int // bumped on crash; events of an earlier life are ignored
	// lostLives: the lives whose messages still in flight were lost with
	// the crash that ended them, as a kernel's send buffer may be.
	lostLives map[int]bool
	timer     int    // bumped on every election timer change
	joiner    bool   // starts as no member: Config.Join
	disks     uint64 // how many disks it has had (wipes)
	// lostDisk is the disk it had before the latest wipe: what it
	// acknowledged from it was durable then, and may still be counted.
	lostDisk *simDisk

	tr      *tracer // nil unless tracing
	disk    *simDisk
	pipe    savePipeline    // the Node's own save pipeline
	sink    snapshotSlot    // the Node's own writing of received snapshots
	readers snapshotReaders // the Node's own reading of snapshots for transfers
	app     deliverer       // the Node's own delivery logic
	// appHash is the application's state: a running hash of the messages
	// it was handed, or restored from a snapshot, as of delivered.
	appHash uint64

	lastCommit   uint64
	delivered    uint64 // what the application was handed, as the checks saw it
	maxTermHeard uint64 // the highest term of a message it took, or its own at start
	// linkedAt is when each node was last alive and linked to this one
	// both ways; leaderSince when it began to lead leaderTerm.
	linkedAt     []time.Duration
	leaderSince  time.Duration
	leaderTerm   uint64
	leaderConf   uint64
	reads        map[uint64]simRead // reads asked of this life, by id
	checkedLen   uint64             // log matching verified up to here
	checkedTerm  uint64
	clientSeqs   map[uint64]string // pending broadcasts of this life: seq -> payload
	clientIssued int
}

// entryAt returns entry i from memory or, if it was let go, from the disk.
func (n *simNode) entryAt(i uint64) *Entry {
	if i >= n.core.log.memFirst() {
		return n.core.log.at(i)
	}
	return &n.disk.entries[i-1-n.disk.offset]
}

// simDisk is a node's simulated disk: what a save made durable. Saves take
// virtual time in the pipeline; a crash loses the save under way or tears
// it (see crash).
type simDisk struct {
	hs      HardState
	offset  uint64  // entries up to here were compacted or discarded
	entries []Entry // from index offset+1
	snap    *memorySnapshot
}

func (d *simDisk) lastIndex() uint64 { return d.offset + uint64(len(d.entries)) }

func (d *simDisk) Load() (HardState, []Entry, error) { return d.hs, slices.Clone(d.entries), nil }

func (d *simDisk) Save(hs *HardState, entries []Entry) error {
	if len(entries) > 0 {
		first := entries[0].Index
		if first <= d.offset || first > d.lastIndex()+1 {
			return errNonContiguous(first, d.lastIndex())
		}
		d.entries = append(d.entries[:first-1-d.offset], entries...)
	}
	if hs != nil {
		d.hs = *hs
	}
	return nil
}

func (d *simDisk) Close() error { return nil }

func (d *simDisk) LoadState() (HardState, uint64, uint64, error) {
	return d.hs, d.offset + 1, d.lastIndex(), nil
}

func (d *simDisk) Entries(lo, hi uint64, maxBytes int) ([]Entry, error) {
	if lo <= d.offset || hi > d.lastIndex()+1 {
		return nil, fmt.Errorf("entries [%d, %d) not on disk (%d, %d]", lo, hi, d.offset, d.lastIndex())
	}
	ents := d.entries[lo-1-d.offset : hi-1-d.offset]
	size := 0
	for i := range ents {
		if size += ents[i].size(); size > maxBytes && i > 0 {
			return slices.Clone(ents[:i]), nil
		}
	}
	return slices.Clone(ents), nil
}

// A snapshot is stored whole, at once: the simulator crashes nodes between
// events, and a sink's Close is one.
func (d *simDisk) CreateSnapshot(meta SnapshotMeta) (SnapshotSink, error) {
	return &simSink{d: d, snap: memorySnapshot{meta: cloneSnapshotMeta(meta)}}, nil
}

func (d *simDisk) OpenSnapshot() (SnapshotMeta, io.ReadCloser, error) {
	if d.snap == nil {
		return SnapshotMeta{}, nil, ErrNoSnapshot
	}
	return cloneSnapshotMeta(d.snap.meta), io.NopCloser(bytes.NewReader(d.snap.data)), nil
}

func (d *simDisk) Compact(through uint64) error {
	if through = min(through, d.lastIndex()); through > d.offset {
		d.entries = slices.Clone(d.entries[through-d.offset:])
		d.offset = through
	}
	return nil
}

func (d *simDisk) DiscardLog(index uint64) error {
	d.offset, d.entries = index, nil
	return nil
}

type simSink struct {
	d    *simDisk
	snap memorySnapshot
}

func (s *simSink) Write(b []byte) (int, error) {
	s.snap.data = append(s.snap.data, b...)
	return len(b), nil
}

// Close keeps the snapshot unless a later one is stored already.
func (s *simSink) Close() error {
	if s.d.snap == nil || s.snap.meta.Index > s.d.snap.meta.Index {
		s.d.snap = &s.snap
	}
	return nil
}
func (s *simSink) Abort() error { return nil }

func (d *simDisk) snapshotMeta() SnapshotMeta {
	if d.snap == nil {
		return SnapshotMeta{}
	}
	return d.snap.meta
}

func (d *simDisk) snapshotIndex() uint64 { return d.snapshotMeta().Index }

// covers reports whether the disk holds the entry at index i of term term,
// or a snapshot that contains it.
func (d *simDisk) covers(i, term uint64) bool { return i <= d.snapshotIndex() || d.holds(i, term) }

// holds reports whether the disk holds the entry at index i of term term.
func (d *simDisk) holds(i, term uint64) bool {
	return i > d.offset && i <= d.lastIndex() && d.entries[i-1-d.offset].Term == term
}

// simChunk is the simulated log's chunk size: small, so that entries leave
// memory and are read back all the time.
const simChunk = 4

type fingerprint struct {
	kind        EntryKind
	origin      NodeID
	incarnation uint64
	seq         uint64
	data        string
}

func fingerprintOf(e *Entry) fingerprint {
	return fingerprint{e.Kind, e.Origin, e.Incarnation, e.Seq, string(e.Data)}
}

// swarm is a seed's mix of faults (swarm testing): each seed weighs the
// kinds of fault differently, so that some see many crashes and few
// partitions, others the reverse, some long delays and some very short.
type swarm struct {
	weights          [faultKinds]int
	minDelay         time.Duration
	maxDelay         time.Duration
	diskMax          time.Duration
	clientGap        time.Duration
	clientPause      float64       // chance that clients go quiet for a while after a broadcast
	largePayloads    bool          // payloads up to maxEntryBytes, so that batches split
	crashAfterSend   float64       // a leader crashes just after replicating, with this chance per request
	crashInSave      float64       // a node crashes while a save is under way, with this chance per save
	crashAfterVote   float64       // a voter crashes right after granting a vote
	crashAfterCommit float64       // a leader crashes right after its commit index moved, before followers learn it
	crashNewLeader   float64       // a new leader crashes soon after it is elected (leader churn)
	snapshotEvery    uint64        // SnapshotEvery; 0: applications never snapshot
	snapshotChance   float64       // an application also snapshots at a delivery with this chance
	trailing         uint64        // TrailingEntries
	snapshotFill     int           // up to this many bytes of padding per snapshot, so that transfers take chunks
	lateSnapshotCopy float64       // a snapshot chunk is delivered again much later, with this chance
	snapshotPerTick  int           // snapshotBytesPerTick: 0, or a cap that spreads a transfer over heartbeats
	spares           int           // nodes beyond the first members, which start waiting to be added
	changeGap        time.Duration // a leader is asked for a membership change about this often; 0: never
	preVote          bool
	checkQuorum      bool
	leaseReads       bool
	readGap          time.Duration // clients ask for reads this often, at random nodes
}

// mode names the swarm's election options.
func (w *swarm) mode() string {
	m := fmt.Sprintf("preVote=%v checkQuorum=%v", w.preVote, w.checkQuorum)
	if w.leaseReads {
		m += " lease"
	}
	return m
}

func newSwarm(s *sim.Scheduler, opts simOptions) swarm {
	churn := opts.churn
	w := swarm{
		minDelay:         []time.Duration{0, time.Millisecond}[s.Rand.IntN(2)],
		maxDelay:         []time.Duration{2 * time.Millisecond, 5 * time.Millisecond, 30 * time.Millisecond}[s.Rand.IntN(3)],
		diskMax:          []time.Duration{500 * time.Microsecond, 3 * time.Millisecond, 20 * time.Millisecond}[s.Rand.IntN(3)],
		clientGap:        []time.Duration{3 * time.Millisecond, 20 * time.Millisecond, 60 * time.Millisecond}[s.Rand.IntN(3)],
		clientPause:      []float64{0, 0.05}[s.Rand.IntN(2)],
		largePayloads:    s.Chance(0.7),
		crashAfterSend:   []float64{0, 0.01, 0.05}[s.Rand.IntN(3)],
		crashInSave:      []float64{0, 0.002, 0.01}[s.Rand.IntN(3)],
		crashAfterVote:   []float64{0, 0.05}[s.Rand.IntN(2)],
		crashAfterCommit: []float64{0, 0.05, 0.2}[s.Rand.IntN(3)],
		crashNewLeader:   []float64{0, 0, 0.3}[s.Rand.IntN(3)],
	}
	for k := range w.weights {
		w.weights[k] = []int{0, 1, 3}[s.Rand.IntN(3)]
	}
	if s.Chance(0.3) || churn {
		// Leader churn: leaders die soon after their election or their
		// latest commit, leaving short divergent logs of many terms
		// behind, where Figure 8's bugs hide.
		w.crashNewLeader, w.crashAfterCommit, w.largePayloads = 0.5, 0.3, true
	}
	w.weights[faultHeal] = max(w.weights[faultHeal], 1)
	// Half the seeds run the default, pre-vote and check-quorum both on;
	// the rest, both off (the paper) or one of them.
	mode := s.Rand.IntN(6)
	w.preVote, w.checkQuorum = mode <= 2 || mode == 4, mode <= 2 || mode == 5
	if opts.paper {
		w.preVote, w.checkQuorum = false, false
	}
	w.leaseReads = w.checkQuorum && s.Chance(0.3)
	if w.leaseReads {
		// A lease rests on election timers that do not fire early; the
		// storm fires them at will.
		w.weights[faultElectionStorm] = 0
	}
	w.readGap = []time.Duration{5 * time.Millisecond, 30 * time.Millisecond}[s.Rand.IntN(2)]
	if s.Chance(0.5) {
		// Membership changes: leaders add, promote and remove members,
		// among the first nodes and spares that start as non-members.
		w.spares = s.Rand.IntN(3)
		w.changeGap = []time.Duration{100 * time.Millisecond, 400 * time.Millisecond}[s.Rand.IntN(2)]
	}
	w.snapshotEvery = []uint64{0, 4, 16, 64}[s.Rand.IntN(4)]
	if w.snapshotEvery > 0 {
		w.snapshotChance = []float64{0, 0.02}[s.Rand.IntN(2)]
		w.trailing = []uint64{0, 3, 12}[s.Rand.IntN(3)]
		w.snapshotFill = []int{0, 1000, 3000}[s.Rand.IntN(3)]
		w.lateSnapshotCopy = []float64{0, 0.2}[s.Rand.IntN(2)]
		w.snapshotPerTick = []int{0, 0, 150, 1000}[s.Rand.IntN(4)]
	}
	return w
}

type simCluster struct {
	seed  uint64
	opts  simOptions
	s     *sim.Scheduler
	net   *sim.Network
	nodes []*simNode // nodes[0] is unused so that ids index directly
	cc    coreConfig
	swarm swarm

	leaders  map[uint64]NodeID
	lastRead uint64
	// The liveness figure: lastFault is when the last fault healed (the
	// network, or a node that crashed late restarting), probeSince when
	// the probe that measures it was broadcast, and recovery how long
	// after lastFault it committed.
	lastFault time.Duration
	probes    map[string]time.Duration
	recovery  time.Duration
	committed []fingerprint // committed[i-1]: the entry committed at index i
	terms     []uint64
	hashes    []uint64 // hashes[i-1]: the application state after index i
	once      map[fingerprint]uint64
	lastFrom  map[NodeID]fingerprint // per origin, its last committed broadcast
	acked     map[string]uint64      // payload -> index its Broadcast returned
	logAt     map[[2]uint64][2]any
	check     string
	failure   string
	trace     io.Writer // nil: no trace
	// wipes is nil unless the seed wipes disks (simwipe_test.go);
	// votesGiven, each node's first vote in each term.
	// aux draws the faults added after the rest, so that seeds play
	// out as before until one strikes.
	aux         *rand.Rand
	wipes       *wipeSchedule
	votesGiven  map[[2]uint64]NodeID
	wipedAtHeal bool // a wiped node was not re-added yet when the last fault healed
}

func runSimulation(seed uint64, opts simOptions) (res simResult) {
	sizes := []int{1, 3, 5, 7}
	if opts.churn {
		sizes = []int{3, 5}
	}
	size := sizes[seed%uint64(len(sizes))]
	s := sim.New(seed)
	swarm := newSwarm(s, opts)
	c := &simCluster{
		seed: seed, opts: opts, s: s, swarm: swarm,
		nodes: make([]*simNode, size+swarm.spares+1), leaders: map[uint64]NodeID{}, once: map[fingerprint]uint64{},
		lastFrom: map[NodeID]fingerprint{}, acked: map[string]uint64{}, logAt: map[[2]uint64][2]any{}, trace: opts.trace,
		probes: map[string]time.Duration{}, wipes: newWipes(seed), aux: rand.New(rand.NewPCG(seed, 0xa0c5)), votesGiven: map[[2]uint64]NodeID{},
	}
	if *simTrace && c.trace == nil {
		c.trace = os.Stdout
	}
	c.net = sim.NewNetwork(s, c.swarm.minDelay, c.swarm.maxDelay)
	var peers []NodeID
	for i := 1; i <= size; i++ {
		peers = append(peers, NodeID(i))
	}
	c.cc = coreConfig{peers: peers, electionTimeout: simElection, heartbeatInterval: simHeartbeat,
		maxEntryBytes: 1 << 10, maxBatchBytes: 300, maxInflightBytes: 1200, bug: opts.bug,
		trailingEntries: c.swarm.trailing, snapshotBytesPerTick: c.swarm.snapshotPerTick,
		preVote: c.swarm.preVote, checkQuorum: c.swarm.checkQuorum}
	if c.swarm.leaseReads {
		c.cc.leaseTicks = leaseTicks(simElection, simHeartbeat)
	}
	for i := 1; i < len(c.nodes); i++ {
		c.nodes[i] = &simNode{id: NodeID(i), joiner: i > size}
		c.restart(c.nodes[i])
	}
	c.tracef("swarm %+v", c.swarm)
	c.scheduleClients()
	c.scheduleReads()
	c.scheduleChanges()
	c.scheduleChaos()
	c.scheduleWipes()
	defer func() {
		if p := recover(); p != nil {
			res = simResult{check: checkNoPanic, failure: fmt.Sprintf("panic: %v\n%s", p, debug.Stack())}
		}
		res.seed, res.steps, res.mode, res.recovery = seed, s.Steps(), c.swarm.mode(), c.recovery
		if res.failure != "" {
			churn := ""
			if opts.churn {
				churn = " -sim.churn"
			}
			res.failure = fmt.Sprintf("simulation seed %d (%d nodes) failed at step %d, virtual time %v: [%s] %s\n"+
				"replay: go test -tags raftlite_bugs -run 'TestSimulation$' -sim.seed=%d%s -sim.trace -v .",
				seed, size, s.Steps(), s.Now(), res.check, res.failure, seed, churn)
		}
	}()
	if s.RunUntil(simChaos, c.stepChecked) {
		return simResult{check: c.check, failure: c.failure}
	}
	// The storm is over: heal, restart, and expect the cluster to finish
	// every broadcast still pending and agree on one log.
	c.net.Heal()
	c.net.Drop, c.net.Dup, c.net.Reorder = 0, 0, 0
	c.net.MinDelay, c.net.MaxDelay = time.Millisecond, 5*time.Millisecond
	// The in-flight limit is tiny during the storm, to make flow control
	// work hard; healed, a leader may have hundreds of entries to bring a
	// quorum up to date, and one entry per round trip would measure that
	// limit rather than how soon the cluster commits again.
	c.cc.maxInflightBytes = 16 << 10
	for _, n := range c.nodes[1:] {
		n.core.cfg.maxInflightBytes = c.cc.maxInflightBytes
		if !n.alive {
			c.restart(n)
		}
	}
	c.healed()
	if c.failure == "" && !s.RunUntil(simChaos+simSettle, func() bool { return c.stepChecked() || c.converged() }) {
		c.fail(checkLiveness, "no convergence within %v after the faults stopped", simSettle)
	}
	if c.check == checkLiveness {
		for _, n := range c.nodes[1:] {
			c.failure += fmt.Sprintf("node %d: clients %d reads %d delivered %d\n", n.id, len(n.clientSeqs), len(n.reads), n.app.delivered)
		}
	}
	c.checkRecovery()
	c.checkAcknowledged()
	return simResult{check: c.check, failure: c.failure}
}

func (c *simCluster) failed() bool { return c.failure != "" }

// fail records the first failed check.
func (c *simCluster) fail(check, format string, args ...any) {
	if c.failure == "" {
		c.check = check
		c.failure = fmt.Sprintf(format, args...) + "\n" + c.describe()
	}
}

func (c *simCluster) describe() string {
	var b strings.Builder
	for _, n := range c.nodes[1:] {
		fmt.Fprintf(&b, "  node %d alive=%v term=%d role=%v leader=%d commit=%d last=%d pending=%d membership=%v@%d\n",
			n.id, n.alive, n.core.hs.Term, n.core.role, n.core.leader, n.core.commit, n.core.log.lastIndex(), len(n.core.pending),
			n.core.conf().Members, n.core.confIndex())
	}
	return b.String()
}

func (c *simCluster) tracef(format string, args ...any) {
	if c.trace != nil {
		fmt.Fprintf(c.trace, "%s%s\n", c.tracePrefix(nil), fmt.Sprintf(format, args...))
	}
}

// tracePrefix begins every trace line with the virtual time and the step.
func (c *simCluster) tracePrefix(b []byte) []byte {
	return fmt.Appendf(b, "%10v step %6d: ", c.s.Now(), c.s.Steps())
}

// converged: every member (of the membership the furthest node committed)
// is alive, agrees on the log and has committed and delivered all of it,
// and has no client broadcast or read left pending. Nodes that are not
// members hear nothing more, and what they were asked waits for ever.
func (c *simCluster) converged() bool {
	ref := c.nodes[1].core
	for _, n := range c.nodes[1:] {
		if n.core.commit > ref.commit {
			ref = n.core
		}
	}
	members := ref.confAsOf(ref.commit)
	for _, n := range c.nodes[1:] {
		if _, member := members.member(n.id); !member {
			continue
		}
		if !n.alive || len(n.clientSeqs) > 0 || len(n.reads) > 0 || n.core.commit != n.core.log.lastIndex() ||
			n.core.log.lastIndex() != ref.log.lastIndex() || n.core.commit == 0 || n.app.delivered < n.core.commit {
			return false
		}
	}
	return true
}

func (c *simCluster) restart(n *simNode) {
	n.life++
	n.alive = true
	if n.disk == nil {
		n.disk = &simDisk{}
	}
	// As New does: a new incarnation, saved before anything else, and on
	// an EntryReader only what follows the saved commit index in memory;
	// tiny chunks make eviction and read-back happen often.
	hs, boot, err := loadLog(n.disk, n.disk, simChunk)
	if err != nil {
		c.fail(checkStorage, "node %d cannot load its disk: %v", n.id, err)
		return
	}
	if boot.discard {
		_ = n.disk.DiscardLog(boot.snapshot.Index)
	}
	hs.Incarnation = nextIncarnation(hs.Incarnation, time.Unix(0, int64(c.s.Now())))
	if hs.DiskID == 0 {
		n.disks++ // a new disk, or a wiped one
		hs.DiskID = uint64(n.id)<<32 | n.disks
	}
	n.disk.hs = hs
	cc := c.cc
	cc.id = n.id
	if n.joiner {
		cc.bootstrap = Membership{Members: []Member{}} // Config.Join
	}
	n.core = newCore(cc, hs, boot, rand.New(rand.NewPCG(c.seed, uint64(n.id)<<32|uint64(n.life))))
	n.tr = newTracer(c.trace, n.id, c.tracePrefix)
	n.pipe, n.sink = savePipeline{}, snapshotSlot{}
	n.readers.closeAll()
	n.readers = snapshotReaders{}
	// The application either kept what it had applied (Config.Applied)
	// or starts over from the beginning.
	applied := uint64(0)
	if c.s.Chance(0.5) {
		applied = n.delivered
	} else {
		n.appHash = 0
	}
	n.app = deliverer{delivered: applied, bugs: c.cc.bug, snapshotEvery: c.swarm.snapshotEvery}
	n.delivered = applied
	n.lastCommit, n.checkedLen, n.checkedTerm = 0, 0, 0
	n.clientSeqs = map[uint64]string{}
	n.reads = map[uint64]simRead{}
	n.maxTermHeard, n.leaderSince = hs.Term, 0
	c.tracef("node %d starts, life %d, term %d, log %d, applied %d", n.id, n.life, hs.Term, n.core.log.lastIndex(), applied)
	if c.s.Now() > simChaos {
		c.healed() // a late crash's restart: the last fault heals now
	}
	life := n.life
	var tick func()
	tick = func() {
		if n.life != life {
			return
		}
		n.tr.tickEvent(n.core)
		n.core.onTick()
		c.afterEvent(n)
		c.s.After(simHeartbeat, tick)
	}
	c.s.After(c.s.Between(0, simHeartbeat), tick)
	c.afterEvent(n)
}

func (c *simCluster) crash(n *simNode) {
	c.tracef("node %d crashes", n.id)
	n.alive = false
	if c.s.Chance(0.5) {
		if n.lostLives == nil {
			n.lostLives = map[int]bool{}
		}
		n.lostLives[n.life] = true
	}
	n.life++
	if b := n.pipe.crash(); b != nil && c.s.Chance(0.5) {
		// The snapshot steps of the save may have happened, in order.
		if c.s.Chance(0.5) {
			_ = (&saveBatch{snapshotWrites: b.snapshotWrites, discard: b.discard, discardIndex: b.discardIndex}).persist(n.disk, &n.sink)
		}
		// A torn save, as the Persister contract allows it: a prefix of
		// the entries made it, and the HardState only with all of them
		// (a restarted node trusts the Commit it holds).
		if b.discard && n.disk.lastIndex() != b.discardIndex {
			// The entries follow a discard that did not happen.
		} else if k := c.s.Rand.IntN(len(b.entries) + 1); k < len(b.entries) {
			var hs *HardState
			if bugOn(c.cc.bug, bugHardStateBeforeEntries) {
				hs = b.hs
			}
			_ = n.disk.Save(hs, b.entries[:k])
		} else {
			_ = n.disk.Save(b.hs, b.entries)
		}
	}
	c.checkSavedCommit(n)
}

// crashSoon crashes n within up to d and restarts it within up to r after.
func (c *simCluster) crashSoon(n *simNode, d, r time.Duration, why string) {
	life := n.life
	c.s.After(c.s.Between(0, d), func() {
		if n.alive && n.life == life {
			c.tracef("node %d crashes %s", n.id, why)
			c.crash(n)
			c.s.After(c.s.Between(0, r), func() {
				if !n.alive {
					c.restart(n)
				}
			})
		}
	})
}

// afterEvent carries out what the core asked, as the Node runtime does, then
// checks the invariants.
func (c *simCluster) afterEvent(n *simNode) {
	rd := n.core.takeReady()
	n.tr.ready(n.core, &rd)
	life := n.life
	if rd.ElectionTimer != 0 {
		n.timer++
		if rd.ElectionTimer > 0 {
			timer := n.timer
			c.s.After(rd.ElectionTimer, func() {
				if n.life == life && n.timer == timer {
					n.tr.event(n.core, "onElectionTimeout")
					n.core.onElectionTimeout()
					c.afterEvent(n)
				}
			})
		}
	}
	for _, m := range rd.Messages {
		c.send(m)
	}
	n.pipe.queue(&rd, c.send)
	if b := n.pipe.next(); b != nil {
		c.save(n, b)
	}
	for _, f := range rd.Fetches {
		c.fetch(n, f.Lo, f.Hi, func(ents []Entry) {
			n.tr.fetched(n.core, f.To, ents)
			n.core.onFetched(f.To, ents)
		})
	}
	for _, r := range rd.SnapshotReads {
		c.readSnapshot(n, r)
	}
	for _, to := range rd.TransfersEnded {
		n.readers.close(to)
	}
	n.core.evict(n.core.commit - min(n.core.commit, 2))
	if n.core.role == Leader && n.core.commit > n.lastCommit && c.s.Now() < simChaos && c.s.Chance(c.swarm.crashAfterCommit) {
		c.crashSoon(n, time.Millisecond, 200*time.Millisecond, "right after committing")
	}
	c.checkCommits(n)
	c.checkAcks(n, rd.Acked)
	c.checkReads(n, rd.Reads)
	c.checkNode(n)
	c.checkPreVote(n)
	c.deliver(n)
}

// save runs the save of b after a disk's delay, unless the node crashes
// first (sometimes on purpose, in the middle of it).
func (c *simCluster) save(n *simNode, b *saveBatch) {
	life := n.life
	delay := c.s.Between(100*time.Microsecond, c.swarm.diskMax)
	if c.s.Now() < simChaos && c.s.Chance(c.swarm.crashInSave) {
		c.crashSoon(n, delay, 50*time.Millisecond, "during a save")
	}
	// saveBatch.commit, with the save itself taking the disk's time.
	b.beforeSave(c.send, c.cc.bug)
	c.s.After(delay, func() {
		if n.life != life {
			return
		}
		c.checkDiskKeepsCommitted(n, b)
		if err := b.persist(n.disk, &n.sink); err != nil {
			c.fail(checkStorage, "node %d: save failed: %v", n.id, err)
			return
		}
		if b.hs != nil && b.hs.VotedFor != None {
			c.noteDurableVote(n.id, b.hs)
		}
		b.afterSave(c.send, c.cc.bug)
		n.tr.persisted(n.core, b)
		n.pipe.saved(b, n.core)
		c.afterEvent(n)
	})
}

// fetch reads entries [lo, hi) (a few at most) back from n's disk after a
// disk's delay and hands them to done. Entries out of memory are
// committed and durable, so the disk holds them.
func (c *simCluster) fetch(n *simNode, lo, hi uint64, done func([]Entry)) {
	life := n.life
	ents, _ := n.disk.Entries(lo, min(hi, lo+8), math.MaxInt)
	c.s.After(c.s.Between(50*time.Microsecond, time.Millisecond), func() {
		if n.life == life {
			done(ents)
			c.afterEvent(n)
		}
	})
}

// deliver hands n's application everything its delivery logic offers.
// The application's state is a running hash of what it was handed; it
// snapshots that, padded so that transfers take several chunks.
func (c *simCluster) deliver(n *simNode) {
	fetch := func(lo, hi uint64) bool {
		c.fetch(n, lo, hi, n.app.fetched)
		return true
	}
	restore := func(meta SnapshotMeta) (*Snapshot, bool) {
		_, rc, err := n.disk.OpenSnapshot()
		if err != nil {
			c.fail(checkStorage, "node %d cannot open its snapshot to restore: %v", n.id, err)
			return nil, false
		}
		return &Snapshot{rc: rc}, true
	}
	for !c.failed() {
		d, ok := n.app.next(n.core, fetch, restore)
		if !ok {
			return
		}
		if d.Snapshot != nil {
			c.restoreApp(n, d)
		} else {
			c.checkDelivery(n, d)
			n.appHash = appFold(n.appHash, d.ID, d.Data)
		}
		n.tr.deliver(n.core, &d)
		n.app.handedOver(&d)
		n.delivered = d.Index
		c.checkAppState(n)
		if d.SnapshotDue || c.s.Chance(c.swarm.snapshotChance) {
			c.takeSnapshot(n, d.Index)
		}
	}
}

// appFold is the application's state after one more message.
func appFold(h uint64, id BroadcastID, data []byte) uint64 {
	for _, v := range []uint64{uint64(id.Origin), id.Incarnation, id.Seq, uint64(len(data))} {
		h = (h ^ v) * 0x100000001b3
	}
	for _, b := range data {
		h = (h ^ uint64(b)) * 0x100000001b3
	}
	return h
}

// takeSnapshot stores n's application state as of index, as
// Node.Snapshot does: described by the core, written to the disk, and
// handed back to the core a moment later (a crash may come between).
func (c *simCluster) takeSnapshot(n *simNode, index uint64) {
	meta, ok := n.core.snapshotMeta(index)
	if !ok {
		return
	}
	sink, _ := n.disk.CreateSnapshot(meta)
	_, _ = sink.Write(appSnapshot(index, n.appHash, c.s.Rand.IntN(c.swarm.snapshotFill+1)))
	_ = sink.Close()
	c.tracef("node %d snapshots at %d", n.id, index)
	simSnapshots.Add(1)
	life := n.life
	c.s.After(c.s.Between(0, time.Millisecond), func() {
		if n.life == life {
			n.tr.snapshotTaken(n.core, meta)
			n.core.onSnapshotTaken(meta)
			c.afterEvent(n)
		}
	})
}

// appSnapshot encodes an application state: its index, its hash, and fill
// bytes that depend on both, so that damage anywhere shows.
func appSnapshot(index, hash uint64, fill int) []byte {
	b := binary.LittleEndian.AppendUint64(nil, index)
	b = binary.LittleEndian.AppendUint64(b, hash)
	for i := range fill {
		b = append(b, byte(hash>>(8*(i%8)))^byte(i))
	}
	return b
}

// restoreApp replaces n's application state with the snapshot d carries.
func (c *simCluster) restoreApp(n *simNode, d Delivery) {
	data, err := io.ReadAll(d.Snapshot)
	if err != nil || len(data) < 16 {
		c.fail(checkAppState, "node %d cannot read the snapshot it restores: %v (%d bytes)", n.id, err, len(data))
		return
	}
	index, hash := binary.LittleEndian.Uint64(data), binary.LittleEndian.Uint64(data[8:])
	if !bytes.Equal(data, appSnapshot(index, hash, len(data)-16)) || index != d.Index {
		c.fail(checkAppState, "node %d restores a damaged snapshot, or one of index %d as %d", n.id, index, d.Index)
		return
	}
	if d.Index <= n.delivered {
		c.fail(checkExactlyOnce, "node %d restores a snapshot at %d, having been handed up to %d: messages again", n.id, d.Index, n.delivered)
		return
	}
	c.tracef("node %d restores a snapshot at %d", n.id, index)
	simRestores.Add(1)
	n.appHash = hash
}

// readSnapshot reads a chunk of n's latest snapshot for a transfer, as the
// Node's fetcher does, and hands it to the core after a disk's delay.
func (c *simCluster) readSnapshot(n *simNode, r snapshotRead) {
	data, eof, err := n.readers.read(n.disk, r.To, r)
	life := n.life
	c.s.After(c.s.Between(50*time.Microsecond, time.Millisecond), func() {
		if n.life == life {
			n.tr.snapshotRead(n.core, r.To, &r, len(data), eof, err == nil)
			n.core.onSnapshotRead(r.To, r, data, eof, err == nil)
			c.afterEvent(n)
		}
	})
}

func (c *simCluster) send(m Message) {
	if c.s.Now() < simChaos {
		switch {
		case m.Kind == MsgVoteResponse && m.Success && c.s.Chance(c.swarm.crashAfterVote):
			// A voter that crashes right after voting must remember its vote.
			c.crashSoon(c.nodes[m.From], 2*time.Millisecond, 5*time.Millisecond, "right after voting")
		case m.Kind == MsgLogRequest && len(m.Entries) > 0 && c.s.Chance(c.swarm.crashAfterSend):
			// A leader that crashes having replicated to a minority at most.
			c.crashSoon(c.nodes[m.From], time.Millisecond, 100*time.Millisecond, "right after replicating")
		}
	}
	if m.Kind == MsgVoteResponse && m.Success {
		c.noteVote(&m)
	}
	from := c.nodes[m.From]
	life := from.life
	deliver := func() {
		to := c.nodes[m.To]
		if !to.alive || from.lostLives[life] {
			return
		}
		to.maxTermHeard = max(to.maxTermHeard, m.Term)
		if m.Kind == MsgTimeoutNow {
			to.maxTermHeard = max(to.maxTermHeard, m.Term+1) // the leader hands it the next term
		}
		to.tr.message(to.core, &m)
		to.core.onMessage(m)
		c.afterEvent(to)
	}
	c.net.Send(int(m.From), int(m.To), deliver)
	if m.Kind == MsgSnapshot && c.s.Now() < simChaos && c.s.Chance(c.swarm.lateSnapshotCopy) {
		// A copy that turns up long after, when the follower has moved
		// on: an old snapshot must not take it back.
		c.s.After(c.s.Between(simHeartbeat, 2*simElection), func() {
			if c.net.Linked(int(m.From), int(m.To)) {
				deliver()
				if c.s.Now() > simChaos {
					// A fault that outlived the storm: recovery counts
					// from here (it may pass for a live leader's word).
					c.healed()
				}
			}
		})
	}
}

// scheduleClients issues broadcasts at random nodes at random times.
func (c *simCluster) scheduleClients() {
	var issue func()
	issue = func() {
		if c.s.Now() < simChaos {
			gap := c.s.Between(time.Millisecond, c.swarm.clientGap)
			if c.s.Chance(c.swarm.clientPause) {
				gap = c.s.Between(simElection, 3*simElection) // a quiet spell: leaders change with nothing new to append
			}
			c.s.After(gap, issue)
		}
		n := c.nodes[1+c.s.Rand.IntN(len(c.nodes)-1)]
		if !n.alive || len(n.clientSeqs) >= 20 {
			return
		}
		n.clientIssued++
		payload := fmt.Sprintf("n%d-l%d-%d", n.id, n.life, n.clientIssued)
		if c.swarm.largePayloads {
			payload += strings.Repeat(".", c.s.Rand.IntN(c.cc.maxEntryBytes-len(payload)))
		}
		n.tr.broadcast(n.core, []byte(payload))
		seq := n.core.onBroadcast([]byte(payload))
		n.clientSeqs[seq] = payload
		c.afterEvent(n)
	}
	c.s.After(10*time.Millisecond, issue)
}

// scheduleReads asks random nodes for read indexes at random times, each
// noting what had committed anywhere when it was asked: checkReads holds
// the answer to it.
func (c *simCluster) scheduleReads() {
	var ask func()
	ask = func() {
		if c.s.Now() < simChaos {
			c.s.After(c.s.Between(time.Millisecond, c.swarm.readGap), ask)
		}
		n := c.nodes[1+c.s.Rand.IntN(len(c.nodes)-1)]
		if !n.alive || len(n.reads) >= 20 {
			return
		}
		c.lastRead++
		n.reads[c.lastRead] = simRead{floor: uint64(len(c.committed)), asked: c.s.Now()}
		n.tr.readIndex(n.core, c.lastRead)
		n.core.onReadIndex(c.lastRead)
		c.afterEvent(n)
	}
	c.s.After(15*time.Millisecond, ask)
}

// scheduleChanges asks the leader, every so often during the storm, to
// add, promote or remove a member, at random: many are refused (a change
// in progress), which is part of what is tested.
func (c *simCluster) scheduleChanges() {
	if c.swarm.changeGap == 0 {
		return
	}
	var change func()
	change = func() {
		if c.s.Now() >= simChaos {
			return
		}
		c.s.After(c.s.Between(c.swarm.changeGap/2, c.swarm.changeGap*3/2), change)
		if l := c.leader(); l != nil {
			c.changeMembership(l)
		}
	}
	c.s.After(c.s.Between(0, c.swarm.changeGap), change)
}

// changeMembership asks leader l to add, promote or remove a member, at
// random.
func (c *simCluster) changeMembership(l *simNode) {
	if c.wipes != nil && len(c.wipes.pending) > 0 {
		return // the operator re-adds the wiped node first
	}
	{
		id := NodeID(1 + c.s.Rand.IntN(len(c.nodes)-1))
		ch := confChange{member: Member{ID: id}}
		x, member := l.core.conf().member(id)
		switch {
		case !member:
			ch.kind = []changeKind{changeAddVoter, changeAddLearner}[c.s.Rand.IntN(2)]
		case x.Learner && c.s.Chance(0.5):
			ch.kind = changeAddVoter
		default:
			ch.kind = changeRemove
		}
		c.tracef("node %d asked for membership change %v of %d", l.id, ch.kind, id)
		was := l.core.confIndex()
		l.core.onChangeMembership(ch)
		c.afterEvent(l)
		if l.core.confIndex() != was && c.s.Now() < simChaos && c.aux.Float64() < 0.3 {
			// The leader dies with its change on a minority at most: the
			// next leader may not have it, and must not append its own
			// before it has committed an entry of its term, or the two
			// changes can make majorities that do not overlap (Ongaro,
			// raft-dev, 2015).
			life := l.life
			c.s.After(time.Duration(c.aux.IntN(3))*time.Millisecond, func() {
				if l.alive && l.life == life {
					c.tracef("node %d crashes right after appending a change", l.id)
					c.crash(l)
					c.s.After(time.Duration(100+c.aux.IntN(400))*time.Millisecond, func() {
						if !l.alive {
							c.restart(l)
						}
					})
				}
			})
		}
	}
}

// healed: the last fault is over now. A broadcast at every live node
// measures how long the cluster takes to commit again: the first of them
// to commit, since a node that lags far behind may have many of its own
// broadcasts to commit first, in order.
func (c *simCluster) healed() {
	c.lastFault, c.recovery = c.s.Now(), 0
	c.wipedAtHeal = c.wipes != nil && (len(c.wipes.pending) > 0 || c.wipes.coming)
	for _, n := range c.nodes[1:] {
		if !n.alive {
			continue
		}
		payload := fmt.Sprintf("probe-%d-%d", n.id, len(c.probes))
		c.probes[payload] = c.s.Now()
		c.tracef("probe %q at node %d", payload, n.id)
		n.tr.broadcast(n.core, []byte(payload))
		n.clientSeqs[n.core.onBroadcast([]byte(payload))] = payload
		c.afterEvent(n)
	}
}

// stepChecked runs the checks that look at the whole cluster after every
// step, and says whether one failed.
func (c *simCluster) stepChecked() bool {
	c.checkLeaderQuorum()
	return c.failed()
}

// The kinds of fault the chaos schedule injects; swarm weighs them.
const (
	faultHeal = iota
	faultSplit
	faultRing
	faultBridge
	faultIsolateLeader
	faultCrash
	faultQuickCrashLeader
	faultQuickCrash
	faultLossyNetwork
	faultDelays
	faultElectionStorm
	faultTransfer
	faultKinds
)

// scheduleChaos injects a fault, drawn by the swarm's weights, every so
// often until simChaos.
func (c *simCluster) scheduleChaos() {
	total := 0
	for _, w := range c.swarm.weights {
		total += w
	}
	var act func()
	act = func() {
		if c.s.Now() >= simChaos {
			return
		}
		c.s.After(c.s.Between(100*time.Millisecond, 800*time.Millisecond), act)
		k, pick := 0, c.s.Rand.IntN(total)
		for pick >= c.swarm.weights[k] {
			pick -= c.swarm.weights[k]
			k++
		}
		c.inject(k)
	}
	c.s.After(c.s.Between(0, 500*time.Millisecond), act)
}

func (c *simCluster) inject(kind int) {
	size := len(c.nodes) - 1
	switch kind {
	case faultHeal:
		c.tracef("chaos: heal")
		c.net.Heal()
	case faultSplit:
		perm := c.s.Rand.Perm(size)
		cut := c.s.Rand.IntN(size + 1)
		var a, b []int
		for i, p := range perm {
			if i < cut {
				a = append(a, p+1)
			} else {
				b = append(b, p+1)
			}
		}
		c.tracef("chaos: partition %v | %v", a, b)
		c.net.Partition(a, b)
	case faultRing: // everyone sees a majority, no two the same one
		c.net.Heal()
		reach := (size/2 + 1) / 2
		for a := 1; a <= size; a++ {
			for b := a + 1; b <= size; b++ {
				if d := min(b-a, size-(b-a)); d > reach {
					c.net.Cut([2]int{a, b})
				}
			}
		}
		c.tracef("chaos: majorities ring")
	case faultBridge: // two halves that meet only at one node
		c.net.Heal()
		perm := c.s.Rand.Perm(size)
		bridge, half := perm[0]+1, perm[1:]
		for _, a := range half[:len(half)/2] {
			for _, b := range half[len(half)/2:] {
				c.net.Cut([2]int{a + 1, b + 1})
			}
		}
		c.tracef("chaos: bridge through %d", bridge)
	case faultIsolateLeader:
		if l := c.leader(); l != nil {
			c.tracef("chaos: isolate leader %d", l.id)
			var others []int
			for i := 1; i <= size; i++ {
				if i != int(l.id) {
					others = append(others, i)
				}
			}
			c.net.Partition([]int{int(l.id)}, others)
		}
	case faultCrash:
		c.crashSoon(c.nodes[1+c.s.Rand.IntN(size)], 0, 2*time.Second, "")
	case faultQuickCrashLeader, faultQuickCrash:
		n := c.leader()
		if n == nil || kind == faultQuickCrash {
			n = c.nodes[1+c.s.Rand.IntN(size)]
		}
		c.crashSoon(n, 0, 300*time.Millisecond, "")
	case faultLossyNetwork:
		c.net.Drop = []float64{0, 0.05, 0.2}[c.s.Rand.IntN(3)]
		c.net.Dup = []float64{0, 0.05}[c.s.Rand.IntN(2)]
		c.net.Reorder = []float64{0, 0.1}[c.s.Rand.IntN(2)]
		c.tracef("chaos: drop %v dup %v reorder %v", c.net.Drop, c.net.Dup, c.net.Reorder)
	case faultDelays:
		c.net.MaxDelay = c.s.Between(time.Millisecond, 100*time.Millisecond)
		c.tracef("chaos: delays up to %v", c.net.MaxDelay)
	case faultTransfer: // the leader hands over, to a node or to whoever is furthest along
		if l := c.leader(); l != nil {
			to := NodeID(c.s.Rand.IntN(size + 1)) // None: the furthest along
			c.tracef("chaos: node %d hands leadership to %d", l.id, to)
			l.core.onTransferLeadership(to)
			c.afterEvent(l)
		}
	case faultElectionStorm: // safety must not depend on timing
		for range 2 + c.s.Rand.IntN(2) {
			if n := c.nodes[1+c.s.Rand.IntN(size)]; n.alive {
				c.tracef("chaos: node %d times out now", n.id)
				n.tr.event(n.core, "onElectionTimeout")
				n.core.onElectionTimeout()
				c.afterEvent(n)
			}
		}
	}
}

// leader returns a live node that believes it leads, if any.
func (c *simCluster) leader() *simNode {
	for _, n := range c.nodes[1:] {
		if n.alive && n.core.role == Leader {
			return n
		}
	}
	return nil
}
