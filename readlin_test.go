package raftlite_test

import (
	"context"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/raftlite/raftlite"
	"github.com/stretchr/testify/require"
)

// Linearizable reads of a key-value store built on Deliveries.
//
// Every node's application applies the messages "put <key> <value>" it is
// delivered to a map: the cluster harness's delivery reader is that
// application, c.delivered[id] its applied log. A put is a Broadcast; a
// read on node id is ReadIndex, then WaitDelivered, then a wait until the
// application has applied the delivery WaitDelivered named, then a look
// at the key in the application's state.
//
// The model (kvModel): each key is a register, initially "". A put sets
// it; its output is the index at which its message was delivered, and the
// puts to a key take effect in the order of their indexes, as they do in
// the log; a read returns the register's value. Values are unique, so that
// a read names the put it saw.

// kvInput is one operation on key: a put of value, or a read.
type kvInput struct {
	put        bool
	key, value string
}

// kvState is a key's register: its value, and the index of the put that
// wrote it.
type kvState struct {
	value string
	index uint64
}

var kvModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		for _, op := range history {
			k := op.Input.(kvInput).key
			byKey[k] = append(byKey[k], op)
		}
		var parts [][]porcupine.Operation
		for _, k := range slices.Sorted(maps.Keys(byKey)) {
			parts = append(parts, byKey[k])
		}
		return parts
	},
	Init: func() any { return kvState{} },
	Step: func(state, input, output any) (bool, any) {
		s, in := state.(kvState), input.(kvInput)
		if in.put {
			i := output.(uint64)
			return i > s.index, kvState{in.value, i}
		}
		return output.(string) == s.value, s
	},
	DescribeOperation: func(input, output any) string {
		if in := input.(kvInput); in.put {
			return fmt.Sprintf("put(%s, %q) -> %d", in.key, in.value, output)
		}
		return fmt.Sprintf("get(%s) -> %q", input.(kvInput).key, output)
	},
	DescribeState: func(state any) string {
		s := state.(kvState)
		return fmt.Sprintf("%q (index %d)", s.value, s.index)
	},
}

// kvOp is one put or read as its client saw it. start and end are ticks
// of a logical clock, as in linearizability_test.go.
type kvOp struct {
	client     int
	node       raftlite.NodeID
	put        bool
	key, value string // the value written, or read
	start, end int64
	index      uint64 // a put's Broadcast index; a read's ReadIndex
	err        error
	finalIdx   uint64 // a put's index in the final log, 0 if it is not there
}

func (o kvOp) String() string {
	if o.put {
		return fmt.Sprintf("put(%s, %q) on node %d [%d, %d] -> index %d, %v", o.key, o.value, o.node, o.start, o.end, o.index, o.err)
	}
	return fmt.Sprintf("get(%s) on node %d [%d, %d] -> %q at read index %d, %v", o.key, o.node, o.start, o.end, o.value, o.index, o.err)
}

// kvHistory turns the ops into porcupine's terms. A read that failed had
// no effect and is left out. A put that failed may or may not have taken
// effect. If its message is not in the final log, it never did, and is
// left out. If it is, it took effect at its final index, at some time
// after it was called and before any put with a higher index was
// acknowledged, since entries commit in index order; that is its return
// time (infinity if there is none). The bound is not only sound but
// needed: with return times of infinity, every branch of the search that
// leaves such a put for later runs on to the end of the history before
// it fails, and a few dozen of them made porcupine take seconds.
func kvHistory(ops []kvOp) []porcupine.Operation {
	var h []porcupine.Operation
	for _, o := range ops {
		op := porcupine.Operation{ClientId: o.client, Input: kvInput{o.put, o.key, ""}, Call: o.start, Return: o.end}
		switch {
		case !o.put && o.err != nil:
			continue
		case !o.put:
			op.Output = o.value
		case o.err == nil:
			op.Input, op.Output = kvInput{true, o.key, o.value}, o.index
		case o.finalIdx != 0:
			op.Input, op.Output, op.Return = kvInput{true, o.key, o.value}, o.finalIdx, math.MaxInt64
			for _, p := range ops {
				if p.put && p.err == nil && p.index > o.finalIdx && p.end > o.start {
					op.Return = min(op.Return, p.end)
				}
			}
		default:
			continue
		}
		h = append(h, op)
	}
	return h
}

func checkKV(ops []kvOp) porcupine.CheckResult {
	return porcupine.CheckOperationsTimeout(kvModel, kvHistory(ops), 20*time.Second)
}

// staleReads returns the reads whose read index is below the index of a
// put that was acknowledged before the read was called: ReadIndex's own
// promise, checked directly, so that a failure names the read.
func staleReads(ops []kvOp) []string {
	var puts []kvOp
	for _, o := range ops {
		if o.put && o.err == nil {
			puts = append(puts, o)
		}
	}
	slices.SortFunc(puts, func(a, b kvOp) int { return int(a.end - b.end) })
	var stale []string
	for _, r := range ops {
		if r.put || r.err != nil {
			continue
		}
		for _, p := range puts {
			if p.end >= r.start {
				break
			}
			if p.index > r.index {
				stale = append(stale, fmt.Sprintf("%v, yet %v returned before it was called", r, p))
				break
			}
		}
	}
	return stale
}

// kvPut broadcasts "put key value" on node id, if it is running.
func (c *cluster) kvPut(clock *atomic.Int64, client int, id raftlite.NodeID, key, value string, d time.Duration) kvOp {
	op := kvOp{client: client, node: id, put: true, key: key, value: value}
	return c.kvRun(clock, op, d, func(ctx context.Context, n *raftlite.Node, op *kvOp) {
		op.index, op.err = n.Broadcast(ctx, []byte("put "+key+" "+value))
	})
}

// kvGet reads key on node id, linearizably, giving up after d.
func (c *cluster) kvGet(clock *atomic.Int64, client int, id raftlite.NodeID, key string, d time.Duration) kvOp {
	op := kvOp{client: client, node: id, key: key}
	return c.kvRun(clock, op, d, func(ctx context.Context, n *raftlite.Node, op *kvOp) {
		op.index, op.value, op.err = c.readKey(ctx, id, n, key)
	})
}

// kvRun runs do on op's node, if it is running, giving up after d: do
// fills in the outcome, and kvRun stamps op with the clock before and
// after.
func (c *cluster) kvRun(clock *atomic.Int64, op kvOp, d time.Duration, do func(context.Context, *raftlite.Node, *kvOp)) kvOp {
	n := c.node(op.node)
	if n == nil {
		op.err = raftlite.ErrClosed
		return op
	}
	ctx, cancel := contextWithTimeout(d)
	defer cancel()
	op.start = clock.Add(1)
	do(ctx, n, &op)
	op.end = clock.Add(1)
	return op
}

// readKey is the read protocol: ReadIndex, WaitDelivered, then wait until
// the application (this life of node id's) has applied the delivery
// WaitDelivered returned, and look key up.
func (c *cluster) readKey(ctx context.Context, id raftlite.NodeID, n *raftlite.Node, key string) (uint64, string, error) {
	idx, err := n.ReadIndex(ctx)
	if err != nil {
		return 0, "", err
	}
	last, err := n.WaitDelivered(ctx, idx)
	if err != nil {
		return idx, "", err
	}
	for {
		applied, value, alive := c.kvState(id, n, key)
		switch {
		case !alive:
			return idx, "", raftlite.ErrClosed
		case applied >= last:
			return idx, value, nil
		case ctx.Err() != nil:
			return idx, "", ctx.Err()
		}
		time.Sleep(time.Millisecond) // virtual: the delivery reader runs meanwhile
	}
}

// kvState returns the index of the last delivery node id's application
// has applied in n's life, and key's value in its state; alive is false
// once n is no longer the running node id.
func (c *cluster) kvState(id raftlite.NodeID, n *raftlite.Node, key string) (applied uint64, value string, alive bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nodes[id] != n {
		return 0, "", false
	}
	ds := c.delivered[id]
	if len(ds) == 0 {
		return 0, "", true
	}
	applied = ds[len(ds)-1].Index
	prefix := "put " + key + " "
	for i := len(ds) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(string(ds[i].Data), prefix); ok {
			return applied, v, true
		}
	}
	return applied, "", true
}

// kvRun is what one run of the workload saw.
type kvRun struct {
	ops    []kvOp
	probes []kvOp // the reads made on deposed leaders (also in ops)
}

// kvWorkload runs the read workload on a cluster of five whose nodes'
// Config configure adjusts. On every node a writer puts and two readers
// read, over three keys, while the schedule below partitions, crashes and
// restarts nodes and deposes leaders; the network delays and loses a few
// messages. It then settles the cluster and finds each put's final index.
//
// Twice, a leader is cut off from the majority (alone, then with one
// follower) and left there until the majority has elected a leader of its
// own and acknowledged a put to the key "probe"; then each node cut off
// reads "probe", and only then is the partition healed. Such a read must
// wait for the new leader and return the new value: the node it was
// called on cannot know it.
func kvWorkload(t *testing.T, seed uint64, configure func(*raftlite.Config)) kvRun {
	var run kvRun
	scenario(t, func(t *testing.T) {
		c := newClusterWith(t, 5, seed, configure)
		rng := rand.New(rand.NewPCG(seed, 1))
		c.leader()
		c.net.SetLoss(0.02, 0.01)
		c.net.SetDelay(0, 10*time.Millisecond)

		var clock atomic.Int64
		var mu sync.Mutex
		record := func(op kvOp) {
			mu.Lock()
			run.ops = append(run.ops, op)
			mu.Unlock()
		}
		const readTimeout = 5 * time.Second
		keys := []string{"x", "y", "z"}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for i, id := range c.ids {
			for r := range 3 { // client 3i writes, 3i+1 and 3i+2 read
				client := 3*i + r
				wg.Go(func() {
					rng := rand.New(rand.NewPCG(seed, uint64(client)+2))
					for k := 0; ; k++ {
						select {
						case <-stop:
							return
						case <-time.After(time.Duration(10+rng.IntN(30)) * time.Millisecond):
						}
						key := keys[rng.IntN(len(keys))]
						var op kvOp
						if r == 0 {
							op = c.kvPut(&clock, client, id, key, fmt.Sprintf("%d.%d", client, k), time.Second)
						} else {
							op = c.kvGet(&clock, client, id, key, readTimeout)
						}
						if op.start != 0 { // 0: the node was down, nothing was called
							record(op)
						}
					}
				})
			}
		}

		probes := 0
		// deposeLeader cuts the leader and size-1 followers off from
		// the majority, waits for a new leader there, puts a new value
		// of "probe" through it, and reads "probe" on every node cut
		// off before healing.
		deposeLeader := func(size int) {
			old := c.leader()
			minority := []raftlite.NodeID{old}
			var majority []raftlite.NodeID
			for _, k := range rng.Perm(len(c.ids)) {
				if id := c.ids[k]; id != old {
					if len(minority) < size {
						minority = append(minority, id)
					} else {
						majority = append(majority, id)
					}
				}
			}
			probes++
			client := 100 + probes
			// A first value, acknowledged before the partition, so
			// that the nodes cut off hold an older value than the one
			// put after it.
			op := c.kvPut(&clock, client, old, "probe", fmt.Sprintf("p%d-before", probes), readTimeout)
			require.NoError(t, op.err)
			record(op)
			c.waitDeliveredIndex(op.index)
			c.net.Partition(minority, majority)
			l := c.leaderAmong(majority)
			op = c.kvPut(&clock, client, l, "probe", fmt.Sprintf("p%d-after", probes), readTimeout)
			require.NoError(t, op.err, "the majority's leader %d commits", l)
			record(op)
			t.Logf("leader %d cut off with %v; %d leads the rest and acknowledged %q at %d", old, minority[1:], l, op.value, op.index)
			var reads sync.WaitGroup
			for _, id := range minority {
				reads.Go(func() {
					op := c.kvGet(&clock, client, id, "probe", readTimeout)
					record(op)
					mu.Lock()
					run.probes = append(run.probes, op)
					mu.Unlock()
				})
			}
			time.Sleep(500 * time.Millisecond)
			c.net.Heal()
			reads.Wait()
		}
		crash := func(id raftlite.NodeID) {
			c.stop(id)
			time.Sleep(time.Duration(200+rng.IntN(500)) * time.Millisecond)
			c.start(id)
		}

		time.Sleep(300 * time.Millisecond)
		deposeLeader(1)
		time.Sleep(300 * time.Millisecond)
		crash(c.leader()) // a leader change
		time.Sleep(300 * time.Millisecond)
		deposeLeader(2)
		for range 4 {
			switch rng.IntN(3) {
			case 0:
				crash(c.ids[rng.IntN(len(c.ids))])
			case 1:
				perm := rng.Perm(5)
				c.net.Partition([]raftlite.NodeID{c.ids[perm[0]], c.ids[perm[1]], c.ids[perm[2]]},
					[]raftlite.NodeID{c.ids[perm[3]], c.ids[perm[4]]})
			case 2:
				c.net.Isolate(c.ids[rng.IntN(len(c.ids))])
			}
			time.Sleep(time.Duration(300+rng.IntN(400)) * time.Millisecond)
			c.net.Heal()
			time.Sleep(200 * time.Millisecond)
		}
		close(stop)
		wg.Wait()
		c.settle()

		_, at := c.checkLog()
		for i := range run.ops {
			o := &run.ops[i]
			if !o.put {
				continue
			}
			d, ok := at["put "+o.key+" "+o.value]
			o.finalIdx = d.Index
			if o.err == nil {
				require.True(t, ok, "acknowledged %v was lost", *o)
				require.Equal(t, o.index, d.Index, "%v was delivered at another index", *o)
			}
		}
	})
	return run
}

func summarize(t *testing.T, run kvRun) {
	t.Helper()
	counts := map[string]int{}
	for _, o := range run.ops {
		kind := "read"
		if o.put {
			kind = "put"
		}
		if o.err != nil {
			kind += " failed"
		}
		counts[kind]++
	}
	t.Logf("ops: %v", counts)
}

// TestReadsAreLinearizableUnderFaults: reads on every node, concurrent
// with puts, partitions, crashes, restarts and leader changes, are
// linearizable with the puts (kvModel); and reads called on a deposed
// leader, or on a follower cut off with it, see the value the majority
// wrote meanwhile. With quorum-confirmed reads (the default) and with
// lease reads.
func TestReadsAreLinearizableUnderFaults(t *testing.T) {
	for _, tc := range []struct {
		name      string
		seed      uint64
		configure func(*raftlite.Config)
	}{
		{"quorum", 41, nil},
		{"lease", 42, func(cfg *raftlite.Config) { cfg.LeaseReads = true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := kvWorkload(t, tc.seed, tc.configure)
			summarize(t, run)
			require.Len(t, run.probes, 3, "reads on deposed leaders and the follower cut off with one")
			for _, p := range run.probes {
				require.NoError(t, p.err, "%v", p)
				require.True(t, strings.HasSuffix(p.value, "-after"), "stale read on a node cut off: %v", p)
			}
			require.Empty(t, staleReads(run.ops))
			require.Equal(t, porcupine.Ok, checkKV(run.ops))
		})
	}
}

// TestKVCheckerRejectsStaleReads: the model rejects a read that misses a
// put acknowledged before it was called, and a put whose index is below
// one that returned before it was called; it accepts the same operations
// overlapping, and an unknown outcome taking effect late, but no later
// than a higher index was acknowledged.
func TestKVCheckerRejectsStaleReads(t *testing.T) {
	put := func(v string, start, end int64, idx uint64) kvOp {
		return kvOp{put: true, key: "k", value: v, start: start, end: end, index: idx}
	}
	get := func(v string, start, end int64) kvOp {
		return kvOp{key: "k", value: v, start: start, end: end}
	}
	unknown := func(v string, start, end int64, final uint64) kvOp {
		o := put(v, start, end, 0)
		o.err, o.finalIdx = raftlite.ErrOutcomeUnknown, final
		return o
	}
	for _, tc := range []struct {
		name string
		ops  []kvOp
		want porcupine.CheckResult
	}{
		{"a read after a put sees it", []kvOp{put("a", 1, 2, 5), get("a", 3, 4)}, porcupine.Ok},
		{"a stale read", []kvOp{put("a", 1, 2, 5), put("b", 3, 4, 7), get("a", 5, 6)}, porcupine.Illegal},
		{"the same read overlapping the put", []kvOp{put("a", 1, 2, 5), put("b", 3, 6, 7), get("a", 4, 5)}, porcupine.Ok},
		{"a read of the initial value after a put", []kvOp{put("a", 1, 2, 5), get("", 3, 4)}, porcupine.Illegal},
		{"puts against index order", []kvOp{put("a", 1, 2, 7), put("b", 3, 4, 5)}, porcupine.Illegal},
		{"an unknown outcome that took effect late", []kvOp{unknown("a", 1, 2, 9), put("b", 3, 4, 7), get("a", 5, 6)}, porcupine.Ok},
		{"an unknown outcome, but in index order", []kvOp{unknown("a", 1, 2, 5), put("b", 3, 4, 7), get("a", 5, 6)}, porcupine.Illegal},
		{"an unknown outcome never delivered", []kvOp{unknown("a", 1, 2, 0), get("a", 3, 4)}, porcupine.Illegal},
		{"an unknown outcome took effect before a higher index was acknowledged", []kvOp{
			unknown("a", 1, 2, 5), {put: true, key: "other", value: "b", start: 3, end: 4, index: 7}, get("", 5, 6),
		}, porcupine.Illegal},
		{"the same, the read overlapping the acknowledgement", []kvOp{
			unknown("a", 1, 2, 5), {put: true, key: "other", value: "b", start: 3, end: 5, index: 7}, get("", 4, 6),
		}, porcupine.Ok},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, checkKV(tc.ops))
		})
	}
}
