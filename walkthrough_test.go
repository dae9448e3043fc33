package raftlite

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestWalkthroughTraceIsCurrent replays the scene of docs/walkthrough.md
// (a Simulation of seed 1; node 3 broadcasts "hello" once node 1 leads)
// and checks that the trace lines the walkthrough quotes, from step 1 on,
// are the ones the code prints today. If the core's behaviour changes,
// the walkthrough must change with it: this test prints the new lines.
func TestWalkthroughTraceIsCurrent(t *testing.T) {
	var trace bytes.Buffer
	sim, err := NewSimulation(SimulationConfig{Seed: 1, Trace: &trace})
	require.NoError(t, err)
	settled := func() bool {
		return sim.Status(1).Role == Leader && sim.Status(1).CommitIndex == 1 &&
			sim.Status(2).Leader == 1 && sim.Status(3).Leader == 1
	}
	require.True(t, sim.RunUntil(settled, time.Minute))
	sim.Run(40 * time.Millisecond)
	trace.Reset()
	index, err := sim.Broadcast(3, []byte("hello"))
	require.NoError(t, err)
	delivered := func() bool {
		for id := NodeID(1); id <= 3; id++ {
			if len(sim.Deliveries(id)) == 0 {
				return false
			}
		}
		return true
	}
	require.True(t, sim.RunUntil(delivered, time.Minute))
	require.Equal(t, uint64(2), index)
	got := strings.TrimSuffix(trace.String(), "\n")
	t.Logf("the walkthrough's trace:\n%s", got)

	doc, err := os.ReadFile("docs/walkthrough.md")
	require.NoError(t, err)
	_, steps, ok := strings.Cut(string(doc), "\n## 1. ")
	require.True(t, ok, "docs/walkthrough.md has no step 1")
	quoted := regexp.MustCompile(`(?m)^ +[\d.]+ms  node .*$`).FindAllString(steps, -1)
	require.Equal(t, got, strings.Join(quoted, "\n"),
		"docs/walkthrough.md quotes another trace than the code prints now: update its steps from the log above")
}
