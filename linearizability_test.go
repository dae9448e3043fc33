package raftlite_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/raftlite/raftlite"
	"github.com/stretchr/testify/require"
)

// The linearizability model: a log that Broadcast(x) appends to.
//
// Sequentially, each Broadcast(x) appends x to the log and returns its
// index; indexes only grow, but need not be consecutive, since the log also
// holds no-op entries that nobody broadcast. So the model's state is the
// highest index appended so far, and Broadcast(x) -> i is a legal step iff
// i is above it and the final log (what every node delivered once the
// cluster settled) holds x at index i. Linearizable then means: there is a
// total order of the broadcasts, consistent with real time (an op that
// returned before another was called comes first), in which the indexes
// increase and each payload sits where its call said.
//
// A Broadcast that gave up (ErrOutcomeUnknown) may or may not have taken
// effect; it gets return time infinity, and as output the index at which
// its payload was finally delivered, or 0 if it never was, which the model
// treats as an op without effect. One that gave up before being accepted
// (a plain context error) must never be delivered; it too is a no-effect op.
type logInput struct{ data string }

func logModel(final map[uint64]string) porcupine.Model {
	return porcupine.Model{
		Init: func() any { return uint64(0) },
		Step: func(state, input, output any) (bool, any) {
			last, x, i := state.(uint64), input.(logInput).data, output.(uint64)
			if i == 0 {
				return true, last
			}
			return i > last && final[i] == x, i
		},
		DescribeOperation: func(input, output any) string {
			return fmt.Sprintf("Broadcast(%q) -> %d", input.(logInput).data, output.(uint64))
		},
	}
}

// call is one Broadcast as a client saw it. Times are ticks of a logical
// clock that every client increments just before calling and just after
// returning, so that "returned before called" is exact even though virtual
// time stands still while goroutines run.
type call struct {
	client    int
	data      string
	start     int64
	end       int64
	index     uint64
	err       error
	finalIdx  uint64 // where data was delivered in the end, 0 if nowhere
	delivered bool
}

func historyOf(calls []call) []porcupine.Operation {
	ops := make([]porcupine.Operation, 0, len(calls))
	for _, c := range calls {
		op := porcupine.Operation{ClientId: c.client, Input: logInput{c.data}, Call: c.start, Return: c.end, Output: c.index}
		if c.err != nil {
			op.Return = math.MaxInt64
			op.Output = c.finalIdx
		}
		ops = append(ops, op)
	}
	return ops
}

func checkLinearizable(t *testing.T, final map[uint64]string, calls []call) porcupine.CheckResult {
	t.Helper()
	return porcupine.CheckOperationsTimeout(logModel(final), historyOf(calls), 20*time.Second)
}

// TestBroadcastsAreLinearizableUnderFaults: clients on different nodes
// broadcast concurrently while the network loses, duplicates and delays
// messages and partitions come and go. Every call and return is recorded,
// with the index returned or an unknown outcome; after the cluster settles,
// the history together with the delivered log must be linearizable with
// respect to an append-only log (see logModel).
func TestBroadcastsAreLinearizableUnderFaults(t *testing.T) {
	var calls []call
	var final map[uint64]string
	scenario(t, func(t *testing.T) {
		c := newCluster(t, 5, 17)
		rng := rand.New(rand.NewPCG(17, 17))
		c.leader()
		c.net.SetLoss(0.05, 0.02)
		c.net.SetDelay(0, 20*time.Millisecond)

		var clock atomic.Int64
		var mu sync.Mutex
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for client := range 5 {
			n := c.nodes[c.ids[client]]
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					case <-time.After(time.Duration(client+1) * 7 * time.Millisecond):
					}
					cl := call{client: client, data: fmt.Sprintf("c%d-%d", client, i)}
					ctx, cancel := contextWithTimeout(time.Second)
					cl.start = clock.Add(1)
					cl.index, cl.err = n.Broadcast(ctx, []byte(cl.data))
					cl.end = clock.Add(1)
					cancel()
					mu.Lock()
					calls = append(calls, cl)
					mu.Unlock()
				}
			})
		}
		for range 8 {
			switch rng.IntN(3) {
			case 0:
				c.net.Heal()
			case 1:
				perm := rng.Perm(5)
				c.net.Partition([]raftlite.NodeID{c.ids[perm[0]], c.ids[perm[1]], c.ids[perm[2]]},
					[]raftlite.NodeID{c.ids[perm[3]], c.ids[perm[4]]})
			case 2:
				c.net.Isolate(c.ids[rng.IntN(5)])
			}
			time.Sleep(time.Duration(300+rng.IntN(500)) * time.Millisecond)
		}
		close(stop)
		wg.Wait()
		c.settle()
		seq, at := c.checkLog()
		final = map[uint64]string{}
		for _, d := range seq {
			final[d.Index] = string(d.Data)
		}
		unknown := 0
		for i := range calls {
			cl := &calls[i]
			d, ok := at[cl.data]
			cl.finalIdx, cl.delivered = d.Index, ok
			switch {
			case cl.err == nil:
				require.True(t, ok, "acknowledged %q was lost", cl.data)
			case errors.Is(cl.err, raftlite.ErrOutcomeUnknown):
				unknown++
			default:
				require.False(t, ok, "%q was delivered although Broadcast said it was not accepted: %v", cl.data, cl.err)
			}
		}
		called := map[string]bool{}
		for _, cl := range calls {
			called[cl.data] = true
		}
		for _, d := range seq {
			require.True(t, called[string(d.Data)], "delivered %q, which no client broadcast", d.Data)
		} // and checkLog refused any payload delivered twice
		t.Logf("%d calls, %d with unknown outcome", len(calls), unknown)
	})
	require.Equal(t, porcupine.Ok, checkLinearizable(t, final, calls))

	// The recorded history, corrupted: two acknowledged calls, one returned
	// before the other was called, swap indexes (in the final log too, so
	// that only real-time order is wrong). The checker must reject it.
	for i := range calls {
		for j := range calls {
			a, b := calls[i], calls[j]
			if a.err != nil || b.err != nil || a.end >= b.start {
				continue
			}
			bad := append([]call(nil), calls...)
			bad[i].index, bad[j].index = b.index, a.index
			badFinal := map[uint64]string{}
			for k, v := range final {
				badFinal[k] = v
			}
			badFinal[a.index], badFinal[b.index] = b.data, a.data
			require.Equal(t, porcupine.Illegal, checkLinearizable(t, badFinal, bad),
				"%q returned %d before %q was called, which got %d", a.data, b.index, b.data, a.index)
			return
		}
	}
	t.Fatal("no two acknowledged calls in real-time order to corrupt")
}

// TestLinearizabilityCheckerRejectsCorruptHistories shows the check bites:
// histories that break the append-only log's rules are rejected, while the
// same operations, overlapping in time, are accepted.
func TestLinearizabilityCheckerRejectsCorruptHistories(t *testing.T) {
	final := map[uint64]string{3: "b", 5: "a"}
	for _, tc := range []struct {
		name  string
		calls []call
		want  porcupine.CheckResult
	}{
		{"a later call got a smaller index", []call{
			{client: 0, data: "a", start: 1, end: 2, index: 5},
			{client: 1, data: "b", start: 3, end: 4, index: 3},
		}, porcupine.Illegal},
		{"the same two calls overlapping", []call{
			{client: 0, data: "a", start: 1, end: 4, index: 5},
			{client: 1, data: "b", start: 2, end: 3, index: 3},
		}, porcupine.Ok},
		{"two calls claim one index", []call{
			{client: 0, data: "b", start: 1, end: 2, index: 3},
			{client: 1, data: "b", start: 3, end: 4, index: 3},
		}, porcupine.Illegal},
		{"an index not holding the payload", []call{
			{client: 0, data: "a", start: 1, end: 2, index: 3},
		}, porcupine.Illegal},
		{"an unknown outcome that took effect late", []call{
			{client: 0, data: "b", start: 1, end: 2, err: raftlite.ErrOutcomeUnknown, finalIdx: 3},
			{client: 1, data: "a", start: 3, end: 4, index: 5},
		}, porcupine.Ok},
		{"an unknown outcome cannot take effect before it was called", []call{
			{client: 0, data: "a", start: 1, end: 2, index: 5},
			{client: 1, data: "b", start: 3, end: 4, err: raftlite.ErrOutcomeUnknown, finalIdx: 3},
		}, porcupine.Illegal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, checkLinearizable(t, final, tc.calls))
		})
	}
}
