package bench

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// BenchmarkReadIndex measures linearizable reads on three nodes with the
// memory persister (a read saves nothing), for mem and tcp: ReadIndex
// latency, one reader at a time and 64 at once, on the leader and on a
// follower, and on the leader of a cluster with LeaseReads. Each op is one
// read: ReadIndex, then WaitDelivered of its index. For comparison,
// broadcasts on the leader of the same cluster in the same run
// (op=broadcast), and one client's on a cluster with the WAL, whose
// commits wait for a disk sync as a durable deployment's do. Latencies
// are also given as multiples of the loopback round trip measured in the
// same run, and msgs/op counts the messages all nodes sent per op. With
// -v each transport ends with the points side by side:
//
//	go test -run '^$' -bench ReadIndex -v ./bench
func BenchmarkReadIndex(b *testing.B) {
	longRun(b)
	f := machineFloor(b)
	logFloor(b, f)
	// A cluster is its persister and whether it has LeaseReads.
	type kind struct {
		persister string
		lease     bool
	}
	type point struct {
		kind
		op       string // read or broadcast
		follower bool
		clients  int
	}
	memory, lease, wal := kind{"memory", false}, kind{"memory", true}, kind{"wal", false}
	points := []point{
		{memory, "read", false, 1}, {memory, "read", false, 64},
		{memory, "read", true, 1}, {memory, "read", true, 64},
		{lease, "read", false, 1}, {lease, "read", false, 64},
		{memory, "broadcast", false, 1}, {memory, "broadcast", false, 64},
		{wal, "broadcast", false, 1},
	}
	for _, transport := range []string{"mem", "tcp"} {
		// Each cluster is started by the first sub-benchmark that needs
		// it, so that -bench can pick some without starting the others,
		// and serves the others.
		dir := b.TempDir()
		clusters := map[kind]*Cluster{}
		cluster := func(b *testing.B, k kind) *Cluster {
			if c := clusters[k]; c != nil {
				return c
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			s := Setup{Transport: transport, Persister: k.persister, Size: 128, LeaseReads: k.lease}
			c, err := Start(ctx, s, filepath.Join(dir, fmt.Sprintf("%s-lease=%v", k.persister, k.lease)))
			if err != nil {
				b.Fatal(err)
			}
			clusters[k] = c
			return c
		}
		rows := make([]string, len(points))
		for i, p := range points {
			via := "leader"
			if p.follower {
				via = "follower"
			}
			op := p.op
			if p.lease {
				op = "read-lease"
			}
			name := fmt.Sprintf("transport=%s/persist=%s/op=%s/via=%s/clients=%d", transport, p.persister, op, via, p.clients)
			b.Run(name, func(b *testing.B) {
				c := cluster(b, p.kind)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				defer cancel()
				var perSecond float64
				var p50, p99 time.Duration
				var msgs, elections uint64
				b.ResetTimer()
				if p.op == "broadcast" {
					term, sent := c.term(), c.Sent()
					r, err := c.Broadcasts(ctx, b.N, p.clients)
					b.StopTimer()
					if err != nil {
						b.Fatal(err)
					}
					if err := c.Verify(ctx); err != nil {
						b.Fatal(err)
					}
					perSecond, p50, p99 = r.PerSecond(), r.P50, r.P99
					msgs, elections = c.Sent()-sent, c.term()-term
					b.ReportMetric(perSecond, "commits/s")
				} else {
					r, err := c.ReadLoad(ctx, b.N, p.clients, p.follower)
					b.StopTimer()
					if err != nil {
						b.Fatal(err)
					}
					perSecond, p50, p99, msgs, elections = r.PerSecond(), r.P50, r.P99, r.Messages, r.Elections
					b.ReportMetric(perSecond, "reads/s")
				}
				rtt := float64(f.LoopbackRTT)
				b.ReportMetric(float64(p50.Nanoseconds()), "p50-ns")
				b.ReportMetric(float64(p99.Nanoseconds()), "p99-ns")
				b.ReportMetric(float64(p50)/rtt, "p50/rtt")
				b.ReportMetric(float64(p99)/rtt, "p99/rtt")
				b.ReportMetric(float64(msgs)/float64(b.N), "msgs/op")
				b.ReportMetric(float64(elections), "elections")
				if elections > 0 {
					b.Logf("%d terms began during the load: its figures include an election", elections)
				}
				// The last run of each point, the one reported, is the
				// comparison table's row.
				rows[i] = fmt.Sprintf("%s\t%s\t%s\t%d\t%.0f\t%v\t%v\t%.1f\t%.1f\t%.2f\t%d\t\n", op, p.persister, via, p.clients, perSecond,
					p50.Round(time.Microsecond), p99.Round(time.Microsecond), float64(p50)/rtt, float64(p99)/rtt,
					float64(msgs)/float64(b.N), b.N)
			})
		}
		for _, c := range clusters {
			if err := c.Close(); err != nil {
				b.Error(err)
			}
		}
		if len(clusters) > 0 {
			var table bytes.Buffer
			tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "op\tpersister\tvia\tclients\tper second\tp50\tp99\tp50/rtt\tp99/rtt\tmsgs/op\tops\t")
			for _, r := range rows {
				fmt.Fprint(tw, r)
			}
			tw.Flush()
			b.Logf("transport=%s, loopback rtt %v, overwrite fdatasync %v:\n%s", transport, f.LoopbackRTT, f.Overwrite.Alone, table.String())
		}
	}
}

// TestReadLoadSeesCommittedBroadcasts: reads on the leader and on a
// follower, of a cluster with and without LeaseReads, return at or after
// the broadcasts committed before them, and broadcasts still commit.
func TestReadLoadSeesCommittedBroadcasts(t *testing.T) {
	for _, lease := range []bool{false, true} {
		t.Run(fmt.Sprint("lease=", lease), func(t *testing.T) {
			ctx, c := startCluster(t, Setup{Transport: "mem", Persister: "memory", Size: 128, LeaseReads: lease}, time.Minute)
			w, err := c.Broadcasts(ctx, 50, 4)
			require.NoError(t, err)
			for _, follower := range []bool{false, true} {
				r, err := c.ReadLoad(ctx, 200, 8, follower) // which checks the indices
				require.NoError(t, err)
				assert.Equal(t, 200, r.Reads)
				assert.Positive(t, r.P50)
			}
			_, err = c.Broadcasts(ctx, 50, 4)
			require.NoError(t, err)
			require.NoError(t, c.Verify(ctx))
			assert.Positive(t, w.Last)
		})
	}
}
