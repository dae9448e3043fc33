package bench

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// BenchmarkReadIndex measures linearizable reads on three nodes with the
// memory persister (a read saves nothing; broadcasts there cost no disk
// sync either), for mem and tcp: ReadIndex latency, one reader at a time
// and 64 at once, on the leader and on a follower, and on the leader of a
// cluster with LeaseReads. Each op is one read: ReadIndex, then
// WaitDelivered of its index. For comparison, broadcasts on the leader of
// the same cluster (op=broadcast) in the same run: a read should cost a
// fraction of a commit. Latencies are also given as multiples of the
// loopback round trip measured in the same run, and msgs/op counts the
// messages all nodes sent per op. With -v each transport ends with the
// points side by side:
//
//	go test -run '^$' -bench ReadIndex -v ./bench
func BenchmarkReadIndex(b *testing.B) {
	f := machineFloor(b)
	logFloor(b, f)
	type point struct {
		op       string // read, read-lease or broadcast
		follower bool
		clients  int
	}
	var points []point
	for _, op := range []string{"read", "read-lease", "broadcast"} {
		for _, follower := range []bool{false, true} {
			if follower && op != "read" {
				continue
			}
			for _, clients := range []int{1, 64} {
				points = append(points, point{op, follower, clients})
			}
		}
	}
	for _, transport := range []string{"mem", "tcp"} {
		// One cluster for the plain reads and the broadcasts, one with
		// LeaseReads; each started by the first sub-benchmark that needs
		// it, so that -bench can pick some without starting the others.
		clusters := map[bool]*Cluster{}
		cluster := func(b *testing.B, lease bool) *Cluster {
			if c := clusters[lease]; c != nil {
				return c
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			s := Setup{Transport: transport, Persister: "memory", Size: 128, LeaseReads: lease}
			c, err := Start(ctx, s, b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			clusters[lease] = c
			return c
		}
		rows := make([]string, len(points))
		for i, p := range points {
			via := "leader"
			if p.follower {
				via = "follower"
			}
			name := fmt.Sprintf("transport=%s/persist=memory/op=%s/via=%s/clients=%d", transport, p.op, via, p.clients)
			b.Run(name, func(b *testing.B) {
				c := cluster(b, p.op == "read-lease")
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
				rows[i] = fmt.Sprintf("%s\t%s\t%d\t%.0f\t%v\t%v\t%.1f\t%.1f\t%.2f\t%d\t\n", p.op, via, p.clients, perSecond,
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
			fmt.Fprintln(tw, "op\tvia\tclients\tper second\tp50\tp99\tp50/rtt\tp99/rtt\tmsgs/op\tops\t")
			for _, r := range rows {
				fmt.Fprint(tw, r)
			}
			tw.Flush()
			b.Logf("transport=%s, memory persister, loopback rtt %v:\n%s", transport, f.LoopbackRTT, table.String())
		}
	}
}

// TestReadLoadSeesCommittedBroadcasts: reads on the leader and on a
// follower, of a cluster with and without LeaseReads, return at or after
// the broadcasts committed before them, and broadcasts still commit.
func TestReadLoadSeesCommittedBroadcasts(t *testing.T) {
	for _, lease := range []bool{false, true} {
		t.Run(fmt.Sprint("lease=", lease), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c, err := Start(ctx, Setup{Transport: "mem", Persister: "memory", Size: 128, LeaseReads: lease}, t.TempDir())
			require.NoError(t, err)
			defer c.Close()
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
