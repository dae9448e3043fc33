package bench

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/raftlite/raftlite"
)

// Membership changes, in full:
//
//	go test -run '^$' -bench 'AddVoter|RollingReplace' -benchtime 1x -timeout 0 ./bench
var (
	addVoterEntries = flag.Int("addvoter.entries", 1_000_000, "broadcasts committed before BenchmarkAddVoter adds a node")
	addVoterState   = flag.Int64("addvoter.state", 1<<20, "bytes of padding in BenchmarkAddVoter's application state")
	replaceWindow   = flag.Int("replace.window", 5, "election timeouts of load BenchmarkRollingReplace measures before the first change and after the last")
)

// BenchmarkAddVoter measures, on each transport, how long adding a voter
// to a cluster whose log holds -addvoter.entries broadcasts takes: three
// nodes on the WAL commit them (from 256 clients), their applications
// snapshotting every 65,536 entries (Config's default) and compacting
// behind each snapshot as the default TrailingEntries allows; then a
// fourth node starts with Config.Join, and the leader is asked to add it
// (ChangeMembership, AddVoter). The figure is the time from that call
// until the node is a voter in the committed configuration and has
// delivered everything committed when it was called: the leader's latest
// snapshot, then the entries after it. mem is the floor without a network.
func BenchmarkAddVoter(b *testing.B) {
	longRun(b)
	f := machineFloor(b)
	entries := *addVoterEntries
	for _, transport := range []string{"mem", "tcp", "quic"} {
		s := Setup{Transport: transport, Persister: "wal", Clients: 256, Size: 128,
			SnapshotEvery: 1 << 16, StateBytes: *addVoterState, Spares: 1}
		if !Available(s) {
			continue
		}
		b.Run(fmt.Sprintf("transport=%s/entries=%d", transport, entries), func(b *testing.B) {
			ignoreN(b)
			ctx, c := startCluster(b, s, 30*time.Minute)
			load, err := c.Load(ctx, entries)
			if err != nil {
				b.Fatal(err)
			}
			res, err := c.AddVoter(ctx)
			if err != nil {
				b.Fatal(err)
			}
			logFloor(b, f)
			b.Logf("%s: %d broadcasts committed (%.0f/s); node %d added at commit index %d, the leader's snapshot at %d: "+
				"a voter after %v, everything delivered after %v (%d snapshot restored, %d messages applied one by one)",
				s, load.Commits, load.PerSecond(), res.Node, res.Commit, res.LeaderSnapshot,
				res.Voter.Round(time.Millisecond), res.Delivered.Round(time.Millisecond), res.Restores, res.Messages)
			b.ReportMetric(float64(res.Took.Nanoseconds()), "add-voter-ns")
			b.ReportMetric(float64(res.Voter.Nanoseconds()), "voter-ns")
			b.ReportMetric(float64(res.Delivered.Nanoseconds()), "delivered-ns")
			b.ReportMetric(float64(res.Messages), "entries-sent")
			b.ReportMetric(float64(f.LoopbackRTT.Nanoseconds()), "rtt-floor-ns")
		})
	}
}

// BenchmarkRollingReplace measures the longest pause in commits while
// every node of a three-node cluster on tcp is replaced, one by one, under
// a steady load (4 clients, each resting 1ms after each commit): a new
// node joins and is added as a voter, then an old one is removed, leadership
// handed over first if it leads, and stopped. The pause is the longest gap
// between consecutive commits from the first change to -replace.window
// election timeouts after the last, in ms and in election timeouts,
// against the longest gap in as long a window before the first change
// (baseline: the load's own jitter). With the memory persister and with
// the WAL.
func BenchmarkRollingReplace(b *testing.B) {
	longRun(b)
	f := machineFloor(b)
	window := time.Duration(*replaceWindow) * ElectionTimeout
	for _, persist := range []string{"memory", "wal"} {
		s := Setup{Transport: "tcp", Persister: persist, Size: 128, Spares: 3}
		b.Run(fmt.Sprintf("transport=tcp/persist=%s", persist), func(b *testing.B) {
			ignoreN(b)
			ctx, c := startCluster(b, s, 10*time.Minute)
			r, err := c.Replace(ctx, window)
			if err != nil {
				b.Fatal(err)
			}
			if err := c.Verify(ctx); err != nil {
				b.Fatal(err)
			}
			var table bytes.Buffer
			tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "old\tnew\told led\tadd\tremove\tpause\tpause/ET\t")
			for _, st := range r.Steps {
				fmt.Fprintf(tw, "%d\t%d\t%v\t%v\t%v\t%v\t%.2f\t\n", st.Old, st.New, st.OldLed, st.Add.Round(time.Millisecond),
					st.Remove.Round(time.Millisecond), st.Pause.Round(10*time.Microsecond), float64(st.Pause)/float64(ElectionTimeout))
			}
			tw.Flush()
			logFloor(b, f)
			b.Logf("tcp, %s: %d commits; longest pause %v (%.2f election timeouts of %v, in step %d; 0: after the last), "+
				"baseline gap %v, term rose by %d (an election each, transfers included):\n%s",
				persist, r.Commits, r.Pause.Round(10*time.Microsecond), float64(r.Pause)/float64(ElectionTimeout), ElectionTimeout,
				r.PauseAt, r.Baseline.Round(10*time.Microsecond), r.TermRise, table.String())
			b.ReportMetric(float64(r.Pause)/float64(time.Millisecond), "pause-ms")
			b.ReportMetric(float64(r.Pause)/float64(ElectionTimeout), "pause/election-timeout")
			b.ReportMetric(float64(r.Baseline)/float64(time.Millisecond), "baseline-gap-ms")
			b.ReportMetric(float64(r.TermRise), "term-rise")
			b.ReportMetric(float64(f.LoopbackRTT.Nanoseconds()), "rtt-floor-ns")
		})
	}
}

// TestAddVoterCatchesUpBySnapshot: a node added to a cluster whose logs
// were compacted behind snapshots is sent one, becomes a voter and ends
// with everyone's state, on the transports the test can run cheaply.
func TestAddVoterCatchesUpBySnapshot(t *testing.T) {
	for _, transport := range []string{"mem", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			s := Setup{Transport: transport, Persister: "wal", Clients: 16, Size: 128,
				SnapshotEvery: 500, TrailingEntries: 50, StateBytes: 64 << 10, Spares: 1}
			c, err := Start(ctx, s, t.TempDir())
			require.NoError(t, err)
			defer c.Close()
			_, err = c.Load(ctx, 3000)
			require.NoError(t, err)
			res, err := c.AddVoter(ctx)
			require.NoError(t, err) // which includes Agree
			assert.Equal(t, 4, res.Node)
			assert.GreaterOrEqual(t, res.Commit, uint64(3000))
			assert.Positive(t, res.LeaderSnapshot, "the leader had compacted its log")
			assert.Positive(t, res.Restores, "the new node was sent a snapshot")
			assert.LessOrEqual(t, res.Voter, res.Took)
			assert.LessOrEqual(t, res.Delivered, res.Took)
			assert.Contains(t, voters(c), raftlite.NodeID(4))
		})
	}
}

// TestRollingReplaceKeepsEveryBroadcast: every node of the cluster is
// replaced under the steady load; the new nodes are the voters, and every
// acknowledged broadcast is delivered once, at its index, by each of them.
func TestRollingReplaceKeepsEveryBroadcast(t *testing.T) {
	ctx, c := startCluster(t, Setup{Transport: "mem", Persister: "memory", Size: 128, Spares: 3}, time.Minute)
	r, err := c.Replace(ctx, ElectionTimeout)
	require.NoError(t, err)
	require.Len(t, r.Steps, 3)
	for k, st := range r.Steps {
		assert.Equal(t, k+1, st.Old)
		assert.Equal(t, k+4, st.New)
	}
	assert.Positive(t, r.Commits)
	assert.Positive(t, r.Pause)
	assert.ElementsMatch(t, []raftlite.NodeID{4, 5, 6}, voters(c))
	require.NoError(t, c.Verify(ctx))
}

// voters returns the voters of the configuration on the node that leads.
func voters(c *Cluster) []raftlite.NodeID {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := c.leader(ctx)
	if err != nil {
		return nil
	}
	var ids []raftlite.NodeID
	for _, m := range c.nodes[l].Status().Membership.Members {
		if !m.Learner {
			ids = append(ids, m.ID)
		}
	}
	return ids
}
