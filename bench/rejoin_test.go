package bench

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"slices"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	rejoinRounds = flag.Int("rejoin.rounds", 3, "partitions and heals per point of BenchmarkRejoinPause (1 with -short)")
	rejoinCut    = flag.Int("rejoin.cut", 6, "election timeouts BenchmarkRejoinPause cuts the follower off for")
	rejoinWindow = flag.Int("rejoin.window", 5, "election timeouts of load BenchmarkRejoinPause measures before the cut and after the heal")
)

// BenchmarkRejoinPause measures what a follower's return from a partition
// costs a healthy cluster, with pre-vote on (the default) and off,
// check-quorum on: three nodes with the memory persister, a steady load of
// broadcasts on the leader (4 clients, each resting 1ms after each
// commit), one follower cut off for -rejoin.cut election timeouts, long
// enough for its term to climb without pre-vote, then healed. Each round
// reports the longest gap between consecutive commits from the heal to
// -rejoin.window election timeouts after it (pause), against the longest
// in as long a window before the cut (baseline: the load's own jitter),
// and the leaders elected after the heal. Pre-vote should make the return
// free (no election, pause near baseline); without it the stranded term
// deposes the leader, and commits stop for about an election timeout or
// more. The figures are the worst round's pause, in ms and in election
// timeouts (bench's ElectionTimeout), and the mean elections per round.
//
//	go test -run '^$' -bench RejoinPause -benchtime 1x ./bench
func BenchmarkRejoinPause(b *testing.B) {
	longRun(b)
	f := machineFloor(b)
	rounds := *rejoinRounds
	if testing.Short() {
		rounds = 1
	}
	cut, window := time.Duration(*rejoinCut)*ElectionTimeout, time.Duration(*rejoinWindow)*ElectionTimeout
	for _, transport := range []string{"mem", "tcp"} {
		for _, preVote := range []bool{true, false} {
			s := Setup{Transport: transport, Persister: "memory", Size: 128, Partitions: true, DisablePreVote: !preVote}
			b.Run(fmt.Sprintf("transport=%s/persist=memory/prevote=%s", transport, onOff(preVote)), func(b *testing.B) {
				ignoreN(b)
				ctx, c := startCluster(b, s, time.Duration(rounds)*(cut+2*window+time.Minute))
				var table bytes.Buffer
				tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', tabwriter.AlignRight)
				fmt.Fprintln(tw, "round\tleader\tcut off\tcommits\tbaseline gap\tgap while cut\tpause\tpause/ET\tpause began\tstranded terms\telections\tterm rise\t")
				var pauses, baselines []time.Duration
				elections, stranded := 0, uint64(0)
				for k := range rounds {
					r, err := c.Rejoin(ctx, cut, window)
					if err != nil {
						b.Fatal(err)
					}
					fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%v\t%v\t%v\t%.2f\t%v\t%d\t%d\t%d\t\n", k+1, r.Leader, r.Follower, r.Commits,
						r.Baseline.Round(10*time.Microsecond), r.WhileCut.Round(10*time.Microsecond), r.Pause.Round(10*time.Microsecond),
						float64(r.Pause)/float64(ElectionTimeout), r.PauseAt.Round(time.Millisecond), r.StrandedTerms, r.Elections, r.TermRise)
					pauses, baselines = append(pauses, r.Pause), append(baselines, r.Baseline)
					elections += r.Elections
					stranded += r.StrandedTerms
				}
				if err := c.Verify(ctx); err != nil {
					b.Fatal(err)
				}
				tw.Flush()
				logFloor(b, f)
				b.Logf("%s, pre-vote %s, check-quorum on, election timeout %v; follower cut off for %v, gaps measured over %v:\n%s",
					transport, onOff(preVote), ElectionTimeout, cut, window, table.String())
				pause, baseline := slices.Max(pauses), slices.Max(baselines)
				b.ReportMetric(float64(pause)/float64(time.Millisecond), "pause-ms")
				b.ReportMetric(float64(pause)/float64(ElectionTimeout), "pause/election-timeout")
				b.ReportMetric(float64(baseline)/float64(time.Millisecond), "baseline-gap-ms")
				b.ReportMetric(float64(pause)/float64(baseline), "pause/baseline")
				b.ReportMetric(float64(elections)/float64(rounds), "elections/round")
				b.ReportMetric(float64(stranded)/float64(rounds), "stranded-terms/round")
			})
		}
	}
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// TestRejoinWatchesTheStrandedTerm: a follower cut off without pre-vote
// climbs terms and, back, makes the cluster elect a leader; with pre-vote
// it climbs none. Every broadcast of the load commits.
func TestRejoinWatchesTheStrandedTerm(t *testing.T) {
	for _, preVote := range []bool{true, false} {
		t.Run("prevote="+onOff(preVote), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			s := Setup{Transport: "mem", Persister: "memory", Size: 128, Partitions: true, DisablePreVote: !preVote}
			c, err := Start(ctx, s, t.TempDir())
			require.NoError(t, err)
			defer c.Close()
			// Cut off for longer than two election timeouts, the longest
			// a follower waits: it stands at least once.
			r, err := c.Rejoin(ctx, 4*ElectionTimeout, 2*ElectionTimeout)
			require.NoError(t, err) // which includes settling on one leader
			assert.Positive(t, r.Commits)
			if preVote {
				assert.Zero(t, r.StrandedTerms)
			} else {
				assert.Positive(t, r.StrandedTerms)
				assert.Positive(t, r.Elections)
				assert.Greater(t, r.TermRise, r.StrandedTerms, "the new leader's term is above the stranded one")
			}
			require.NoError(t, c.Verify(ctx))
		})
	}
}
