package raftlite

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftlite/raftlite/internal/sim"
)

var (
	simSeeds = flag.Int("sim.seeds", 500, "how many simulator seeds TestSimulation runs (seeds 1..N)")
	simSeed  = flag.Uint64("sim.seed", 0, "replay only this simulator seed")
	simTrace = flag.Bool("sim.trace", false, "print every simulator step (use with -sim.seed)")
)

// TestSimulation runs whole clusters of the pure core on simulated time, disk
// and network under random faults, checking Raft's safety properties after
// every step and liveness once the faults stop.
func TestSimulation(t *testing.T) {
	seeds := make([]uint64, 0, *simSeeds)
	if *simSeed != 0 {
		seeds = append(seeds, *simSeed)
	} else {
		for s := 1; s <= *simSeeds; s++ {
			seeds = append(seeds, uint64(s))
		}
	}
	var next, steps atomic.Uint64
	var wg sync.WaitGroup
	var failMu sync.Mutex
	start := time.Now()
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= uint64(len(seeds)) {
					return
				}
				r := runSimulation(seeds[i], simOptions{})
				steps.Add(r.steps)
				if r.failure != "" {
					failMu.Lock()
					t.Errorf("%s", r.failure)
					failMu.Unlock()
					next.Store(uint64(len(seeds))) // stop early; one replayable seed is enough
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d seeds, %d steps, in %v", len(seeds), steps.Load(), time.Since(start).Round(time.Millisecond))
}

func firstLine(s string) string { return strings.SplitN(s, "\n", 2)[0] }

type simOptions struct{ bug bug }

type simResult struct {
	steps   uint64
	failure string
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
	timer int // bumped on every election timer change

	disk *simDisk
	pipe savePipeline // the Node's own save pipeline

	lastCommit   uint64
	checkedLen   uint64 // log matching verified up to here
	checkedTerm  uint64
	clientSeqs   map[uint64]string // pending broadcasts of this life: seq -> payload
	clientIssued int
}

// entryAt returns entry i from memory or, if it was let go, from the disk.
func (n *simNode) entryAt(i uint64) *Entry {
	if i >= n.core.log.memFirst() {
		return n.core.log.at(i)
	}
	return &n.disk.entries[i-1]
}

// simDisk is a node's simulated disk: what a save made durable. Saves take
// virtual time in the pipeline; a crash loses the save under way or tears
// it (see crash).
type simDisk struct {
	hs      HardState
	entries []Entry // from index 1
}

func (d *simDisk) Load() (HardState, []Entry, error) { return d.hs, slices.Clone(d.entries), nil }

func (d *simDisk) Save(hs *HardState, entries []Entry) error {
	if hs != nil {
		d.hs = *hs
	}
	if len(entries) > 0 {
		first := entries[0].Index
		if first == 0 || first > uint64(len(d.entries))+1 {
			return errNonContiguous(first, uint64(len(d.entries)))
		}
		d.entries = append(d.entries[:first-1], entries...)
	}
	return nil
}

func (d *simDisk) Close() error { return nil }

func (d *simDisk) LoadState() (HardState, uint64, uint64, error) {
	return d.hs, 1, uint64(len(d.entries)), nil
}

func (d *simDisk) Entries(lo, hi uint64, maxBytes int) ([]Entry, error) {
	ents := d.entries[lo-1 : hi-1]
	size := 0
	for i := range ents {
		if size += ents[i].size(); size > maxBytes && i > 0 {
			return slices.Clone(ents[:i]), nil
		}
	}
	return slices.Clone(ents), nil
}

// simChunk is the simulated log's chunk size: small, so that entries leave
// memory and are read back all the time.
const simChunk = 4

type fingerprint struct {
	kind        EntryKind
	origin      NodeID
	incarnation uint64
	seq         uint64
}

type simCluster struct {
	seed  uint64
	opts  simOptions
	s     *sim.Scheduler
	net   *sim.Network
	nodes []*simNode // nodes[0] is unused so that ids index directly
	cc    coreConfig

	leaders   map[uint64]NodeID
	committed []fingerprint // committed[i-1]: the entry committed at index i
	terms     []uint64
	once      map[fingerprint]uint64
	lastFrom  map[NodeID]fingerprint // per origin, its last committed broadcast
	acked     map[string]uint64      // payload -> index its Broadcast returned
	logAt     map[[2]uint64][2]any
	failure   string
	trace     bool
}

func runSimulation(seed uint64, opts simOptions) (res simResult) {
	sizes := []int{1, 3, 5, 7}
	size := sizes[seed%uint64(len(sizes))]
	s := sim.New(seed)
	c := &simCluster{
		seed: seed, opts: opts, s: s, net: sim.NewNetwork(s, time.Millisecond, 5*time.Millisecond),
		nodes: make([]*simNode, size+1), leaders: map[uint64]NodeID{}, once: map[fingerprint]uint64{},
		lastFrom: map[NodeID]fingerprint{},
		acked:    map[string]uint64{}, logAt: map[[2]uint64][2]any{}, trace: *simTrace,
	}
	var peers []NodeID
	for i := 1; i <= size; i++ {
		peers = append(peers, NodeID(i))
	}
	c.cc = coreConfig{peers: peers, electionTimeout: simElection, heartbeatInterval: simHeartbeat,
		maxEntryBytes: 1 << 10, maxBatchBytes: 300, maxInflightBytes: 1200, bug: opts.bug}
	for i := 1; i <= size; i++ {
		c.nodes[i] = &simNode{id: NodeID(i)}
		c.restart(c.nodes[i])
	}
	c.scheduleClients()
	c.scheduleChaos()
	defer func() {
		res.steps = s.Steps()
		if res.failure != "" {
			res.failure = fmt.Sprintf("simulation seed %d (%d nodes) failed at step %d, virtual time %v: %s\n"+
				"replay: go test -run 'TestSimulation$' -sim.seed=%d -sim.trace -v .",
				seed, size, s.Steps(), s.Now(), res.failure, seed)
		}
	}()
	if s.RunUntil(simChaos, c.failed) {
		return simResult{failure: c.failure}
	}
	// The storm is over: heal, restart, and expect the cluster to finish
	// every broadcast still pending and agree on one log.
	c.net.Heal()
	c.net.Drop, c.net.Dup, c.net.Reorder = 0, 0, 0
	c.net.MinDelay, c.net.MaxDelay = time.Millisecond, 5*time.Millisecond
	for _, n := range c.nodes[1:] {
		if !n.alive {
			c.restart(n)
		}
	}
	if c.failure == "" && !s.RunUntil(simChaos+simSettle, func() bool { return c.failed() || c.converged() }) {
		c.failure = "no convergence within " + simSettle.String() + " after the faults stopped: " + c.describe()
	}
	if c.failure != "" {
		return simResult{failure: c.failure}
	}
	// Every broadcast a client saw succeed is in the committed log, where it was said to be.
	for payload, idx := range c.acked {
		if idx > uint64(len(c.committed)) {
			return simResult{failure: fmt.Sprintf("acknowledged %q at %d but only %d entries committed", payload, idx, len(c.committed))}
		}
	}
	return simResult{}
}

func (c *simCluster) failed() bool { return c.failure != "" }

func (c *simCluster) fail(format string, args ...any) {
	if c.failure == "" {
		c.failure = fmt.Sprintf(format, args...) + "\n" + c.describe()
	}
}

func (c *simCluster) describe() string {
	var b strings.Builder
	for _, n := range c.nodes[1:] {
		fmt.Fprintf(&b, "  node %d alive=%v term=%d role=%v leader=%d commit=%d last=%d pending=%d\n",
			n.id, n.alive, n.core.hs.Term, n.core.role, n.core.leader, n.core.commit, n.core.log.lastIndex(), len(n.core.pending))
	}
	return b.String()
}

func (c *simCluster) tracef(format string, args ...any) {
	if c.trace {
		fmt.Printf("%10v step %6d: %s\n", c.s.Now(), c.s.Steps(), fmt.Sprintf(format, args...))
	}
}

// converged: everyone is alive, agrees on the log and has committed all of
// it, and no client broadcast is left pending.
func (c *simCluster) converged() bool {
	ref := c.nodes[1].core
	for _, n := range c.nodes[1:] {
		if !n.alive || len(n.clientSeqs) > 0 || n.core.commit != n.core.log.lastIndex() ||
			n.core.log.lastIndex() != ref.log.lastIndex() || n.core.commit == 0 {
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
		c.fail("node %d cannot load its disk: %v", n.id, err)
		return
	}
	hs.Incarnation = nextIncarnation(hs.Incarnation, time.Unix(0, int64(c.s.Now())))
	n.disk.hs = hs
	cc := c.cc
	cc.id = n.id
	n.core = newCore(cc, hs, boot, rand.New(rand.NewPCG(c.seed, uint64(n.id)<<32|uint64(n.life))))
	n.pipe = savePipeline{}
	n.lastCommit, n.checkedLen, n.checkedTerm = 0, 0, 0
	n.clientSeqs = map[uint64]string{}
	c.tracef("node %d starts, life %d, term %d, log %d", n.id, n.life, hs.Term, n.core.log.lastIndex())
	life := n.life
	var tick func()
	tick = func() {
		if n.life != life {
			return
		}
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
	n.life++
	if b := n.pipe.crash(); b != nil && c.s.Chance(0.5) {
		// A torn save: the state record and a prefix of the entries made it.
		k := c.s.Rand.IntN(len(b.entries) + 1)
		_ = n.disk.Save(b.hs, b.entries[:k])
	}
}

// afterEvent carries out what the core asked, as the Node runtime does, then
// checks the invariants.
func (c *simCluster) afterEvent(n *simNode) {
	rd := n.core.takeReady()
	life := n.life
	if rd.ElectionTimer != 0 {
		n.timer++
		if rd.ElectionTimer > 0 {
			timer := n.timer
			c.s.After(rd.ElectionTimer, func() {
				if n.life == life && n.timer == timer {
					c.tracef("node %d election timeout", n.id)
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
		c.s.After(c.s.Between(100*time.Microsecond, 3*time.Millisecond), func() {
			if n.life != life {
				return
			}
			if err := b.commit(n.disk, c.send, c.cc.bug); err != nil {
				c.fail("node %d: save failed: %v", n.id, err)
				return
			}
			n.pipe.saved(b, n.core)
			c.afterEvent(n)
		})
	}
	for _, f := range rd.Fetches {
		// Entries out of memory are committed and durable: read them back
		// from the simulated disk after a disk's delay.
		ents, _ := n.disk.Entries(f.Lo, min(f.Hi, f.Lo+8), math.MaxInt)
		c.s.After(c.s.Between(50*time.Microsecond, time.Millisecond), func() {
			if n.life == life {
				n.core.onFetched(f.To, ents)
				c.afterEvent(n)
			}
		})
	}
	n.core.evict(n.core.commit - min(n.core.commit, 2))
	c.checkCommits(n)
	for _, a := range rd.Acked {
		payload, ok := n.clientSeqs[a.Seq]
		if !ok {
			c.fail("node %d acknowledged seq %d that no client sent", n.id, a.Seq)
			continue
		}
		delete(n.clientSeqs, a.Seq)
		want := fingerprint{EntryData, n.id, n.core.hs.Incarnation, a.Seq}
		if a.Index > uint64(len(c.committed)) || c.committed[a.Index-1] != want {
			c.fail("node %d acknowledged %q at index %d, which is not what committed there", n.id, payload, a.Index)
		}
		c.acked[payload] = a.Index
	}
	c.checkNode(n)
}

func (c *simCluster) send(m Message) {
	if m.Kind == MsgVoteResponse && m.Success && c.s.Now() < simChaos && c.s.Chance(0.05) {
		// A voter that crashes right after voting must remember its vote.
		n := c.nodes[m.From]
		c.s.After(c.s.Between(0, 2*time.Millisecond), func() {
			if n.alive {
				c.crash(n)
				c.s.After(c.s.Between(0, 5*time.Millisecond), func() { c.restart(n) })
			}
		})
	}
	c.net.Send(int(m.From), int(m.To), func() {
		to := c.nodes[m.To]
		if !to.alive {
			return
		}
		c.tracef("%d -> %d %v term %d prev %d/%d n=%d commit %d ok=%v match %d", m.From, m.To, m.Kind, m.Term,
			m.PrevIndex, m.PrevTerm, len(m.Entries), m.Commit, m.Success, m.Match)
		to.core.onMessage(m)
		c.afterEvent(to)
	})
}

// checkCommits: commit indexes never fall, and every node commits the same
// entry at each index, each broadcast at most once.
func (c *simCluster) checkCommits(n *simNode) {
	co := n.core
	if co.commit < n.lastCommit {
		c.fail("node %d commit index fell from %d to %d", n.id, n.lastCommit, co.commit)
		return
	}
	for i := n.lastCommit + 1; i <= co.commit; i++ {
		e := n.entryAt(i)
		fp := fingerprint{e.Kind, e.Origin, e.Incarnation, e.Seq}
		if i <= uint64(len(c.committed)) {
			if c.committed[i-1] != fp || c.terms[i-1] != e.Term {
				c.fail("node %d committed %+v (term %d) at index %d where %+v (term %d) was committed",
					n.id, fp, e.Term, i, c.committed[i-1], c.terms[i-1])
				return
			}
			continue
		}
		if e.Kind == EntryData {
			if at, dup := c.once[fp]; dup {
				c.fail("broadcast %+v committed twice, at %d and %d", fp, at, i)
				return
			}
			c.once[fp] = i
			if !c.checkFIFO(fp, i) {
				return
			}
		}
		c.committed = append(c.committed, fp)
		c.terms = append(c.terms, e.Term)
	}
	n.lastCommit = co.commit
}

// checkFIFO: an origin's broadcasts commit in the order it accepted them,
// with no gap within one of its lives (FIFO-total order).
func (c *simCluster) checkFIFO(fp fingerprint, i uint64) bool {
	last, seen := c.lastFrom[fp.origin]
	next := (seen && fp.incarnation == last.incarnation && fp.seq == last.seq+1) ||
		((!seen || fp.incarnation > last.incarnation) && fp.seq == 1)
	if !next {
		c.fail("FIFO: broadcast %+v committed at %d after %+v from the same origin", fp, i, last)
		return false
	}
	c.lastFrom[fp.origin] = fp
	return true
}

// checkNode: one leader per term, leaders hold every committed entry, and
// logs match (entries with the same index and term are the same and follow
// the same history).
func (c *simCluster) checkNode(n *simNode) {
	co := n.core
	if co.role == Leader {
		if l, ok := c.leaders[co.hs.Term]; ok && l != n.id {
			c.fail("two leaders in term %d: %d and %d", co.hs.Term, l, n.id)
			return
		} else if !ok {
			c.leaders[co.hs.Term] = n.id
			c.tracef("node %d leads term %d", n.id, co.hs.Term)
			for i := uint64(1); i <= uint64(len(c.committed)); i++ {
				if co.log.term(i) != c.terms[i-1] {
					c.fail("leader %d of term %d lacks committed entry %d", n.id, co.hs.Term, i)
					return
				}
			}
		}
	}
	if n.checkedLen > co.log.lastIndex() || co.log.term(n.checkedLen) != n.checkedTerm {
		n.checkedLen = co.commit
		n.checkedTerm = co.log.term(co.commit)
	}
	for i := n.checkedLen + 1; i <= co.log.lastIndex(); i++ {
		e := n.entryAt(i)
		key := [2]uint64{i, e.Term}
		val := [2]any{fingerprint{e.Kind, e.Origin, e.Incarnation, e.Seq}, co.log.term(i - 1)}
		if old, ok := c.logAt[key]; ok && old != val {
			c.fail("log matching: node %d has %v at (index %d, term %d), another node had %v", n.id, val, i, e.Term, old)
			return
		}
		c.logAt[key] = val
	}
	n.checkedLen, n.checkedTerm = co.log.lastIndex(), co.log.lastTerm()
}

// scheduleClients issues broadcasts at random nodes at random times.
func (c *simCluster) scheduleClients() {
	var issue func()
	issue = func() {
		if c.s.Now() < simChaos {
			c.s.After(c.s.Between(2*time.Millisecond, 40*time.Millisecond), issue)
		}
		n := c.nodes[1+c.s.Rand.IntN(len(c.nodes)-1)]
		if !n.alive || len(n.clientSeqs) >= 20 {
			return
		}
		n.clientIssued++
		payload := fmt.Sprintf("n%d-l%d-%d", n.id, n.life, n.clientIssued)
		seq := n.core.onBroadcast([]byte(payload))
		n.clientSeqs[seq] = payload
		c.afterEvent(n)
	}
	c.s.After(10*time.Millisecond, issue)
}

// scheduleChaos injects a random fault every so often until simChaos.
func (c *simCluster) scheduleChaos() {
	size := len(c.nodes) - 1
	ids := make([]int, size)
	for i := range ids {
		ids[i] = i + 1
	}
	var act func()
	act = func() {
		if c.s.Now() >= simChaos {
			return
		}
		c.s.After(c.s.Between(100*time.Millisecond, 800*time.Millisecond), act)
		switch k := c.s.Rand.IntN(13); k {
		case 12: // an election storm: safety must not depend on timing
			for range 2 + c.s.Rand.IntN(2) {
				if n := c.nodes[1+c.s.Rand.IntN(size)]; n.alive {
					c.tracef("chaos: node %d times out now", n.id)
					n.core.onElectionTimeout()
					c.afterEvent(n)
				}
			}
		case 0, 1:
			c.tracef("chaos: heal")
			c.net.Heal()
		case 2: // a random split
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
		case 3: // a majorities ring: everyone sees a majority, no two the same one
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
		case 4: // a bridge: two halves that meet only at one node
			c.net.Heal()
			perm := c.s.Rand.Perm(size)
			bridge, half := perm[0]+1, perm[1:]
			for _, a := range half[:len(half)/2] {
				for _, b := range half[len(half)/2:] {
					c.net.Cut([2]int{a + 1, b + 1})
				}
			}
			c.tracef("chaos: bridge through %d", bridge)
		case 5: // isolate whoever leads
			for _, n := range c.nodes[1:] {
				if n.alive && n.core.role == Leader {
					c.tracef("chaos: isolate leader %d", n.id)
					others := slices.DeleteFunc(slices.Clone(ids), func(i int) bool { return i == int(n.id) })
					c.net.Partition([]int{int(n.id)}, others)
				}
			}
		case 6, 7:
			n := c.nodes[1+c.s.Rand.IntN(size)]
			if n.alive {
				c.crash(n)
				c.s.After(c.s.Between(0, 2*time.Second), func() {
					if !n.alive {
						c.restart(n)
					}
				})
			}
		case 8:
			c.net.Drop = []float64{0, 0.05, 0.2}[c.s.Rand.IntN(3)]
			c.net.Dup = []float64{0, 0.05}[c.s.Rand.IntN(2)]
			c.net.Reorder = []float64{0, 0.1}[c.s.Rand.IntN(2)]
			c.tracef("chaos: drop %v dup %v reorder %v", c.net.Drop, c.net.Dup, c.net.Reorder)
		case 10, 11: // a quick crash and restart, of the leader or of anyone
			var n *simNode
			for _, m := range c.nodes[1:] {
				if m.alive && m.core.role == Leader && k == 10 {
					n = m
				}
			}
			if n == nil {
				n = c.nodes[1+c.s.Rand.IntN(size)]
			}
			if n.alive {
				c.crash(n)
				c.s.After(c.s.Between(0, 300*time.Millisecond), func() {
					if !n.alive {
						c.restart(n)
					}
				})
			}
		case 9:
			c.net.MaxDelay = c.s.Between(time.Millisecond, 100*time.Millisecond)
			c.tracef("chaos: delays up to %v", c.net.MaxDelay)
		}
	}
	c.s.After(c.s.Between(0, 500*time.Millisecond), act)
}
