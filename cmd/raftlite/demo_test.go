package main

import (
	"bytes"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDemoShowsAFailoverAndOneOrder runs the demo and reads its report: a
// leader is stopped and another takes over, the survivors delivered the
// same five messages, and the stopped leader a prefix of them.
func TestDemoShowsAFailoverAndOneOrder(t *testing.T) {
	var stdout, stderr bytes.Buffer
	require.NoError(t, runDemo(nil, &stdout, &stderr), "stderr:\n%s", stderr.String())
	out := stdout.String()
	assert.Regexp(t, `stopping the leader, node \d`, out)
	assert.Len(t, regexp.MustCompile(`(?m)^node \d leads term \d+$`).FindAllString(out, -1), 2, out)

	sections := regexp.MustCompile(`(?m)^node (\d) delivered( \(stopped before the failover\))?:\n((?:  .*\n)*)`).
		FindAllStringSubmatch(out, -1)
	require.Len(t, sections, 3, out)
	var survivors [][]string
	var stopped []string
	for _, s := range sections {
		var lines []string
		if s[3] != "" {
			lines = strings.Split(strings.TrimSuffix(s[3], "\n"), "\n")
		}
		if s[2] != "" {
			stopped = lines
		} else {
			survivors = append(survivors, lines)
		}
	}
	require.Len(t, survivors, 2, out)
	assert.Len(t, survivors[0], 5, out)
	assert.Equal(t, survivors[0], survivors[1], "the survivors delivered one sequence")
	// The stopped leader may have been closed before handing over any of
	// its deliveries; what it did deliver is a prefix.
	require.LessOrEqual(t, len(stopped), len(survivors[0]), out)
	assert.Equal(t, survivors[0][:len(stopped)], append([]string{}, stopped...), "the stopped leader delivered a prefix")
}

// TestDemoNarratesEachStage: on real nodes and in the simulator, the demo
// tells its story in order: the election, replication, the leader's
// failure, the new election and the agreement, and -v adds the learning
// trace on stderr, leaving stdout as it is.
func TestDemoNarratesEachStage(t *testing.T) {
	for _, args := range [][]string{nil, {"-v"}, {"-sim"}, {"-sim", "-v", "-seed", "7"}} {
		t.Run(strings.Join(append([]string{"demo"}, args...), " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			require.NoError(t, runDemo(args, &stdout, &stderr), "stderr:\n%s", stderr.String())
			out := stdout.String()
			stages := []string{
				`(?m)^election: node (\d) stood for election in term (\d+) and won a majority of the votes, at \d+ms; nodes \d and \d follow it\.$`,
				`(?m)^node \d leads term \d+$`,
				`(?m)^replication: each node broadcasts a message`,
				`(?m)^node \d \((leader|follower)\) broadcast "hello from node \d": committed at index \d+$`,
				`(?m)^  nodes 1, 2 and 3 hold the log up to index \d+, committed\.$`,
				`(?m)^failure: stopping the leader, node \d, at \d+ms\.`,
				`(?m)^new election: node \d stood for election in term \d+ and won a majority of the votes, at \d+ms; node \d follows it\.$`,
				`(?m)^replication again, without node \d:$`,
				`(?m)^agreement: what each node delivered, in order:$`,
				`(?m)^nodes \d and \d delivered the same 5 messages in the same order; node \d delivered the first [0-3] of them before it stopped\.$`,
			}
			at := 0
			for _, stage := range stages {
				loc := regexp.MustCompile(stage).FindStringIndex(out[at:])
				require.NotNil(t, loc, "no %q after:\n%s", stage, out[:at])
				at += loc[1]
			}
			verbose := slices.Contains(args, "-v")
			trace := regexp.MustCompile(`(?m)^( *[\d.]+ms  )?node \d term \d+ (follower|pre-candidate|candidate|leader) +(on[A-Z]\w*|stops|  \S)`)
			if !verbose {
				assert.Empty(t, stderr.String())
				return
			}
			for _, line := range strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n") {
				require.Regexp(t, trace, line)
			}
			assert.Contains(t, stderr.String(), "onVoteRequest from")
			// The index depends on how many entries the first leader
			// needed to record its members' disks: one or two.
			assert.Regexp(t, `deliver [0-9]+: "hello from node `, stderr.String())
		})
	}
}

// TestDemoInTheSimulatorIsTheSameForASeed: -sim tells the same story and
// traces the same bytes for a seed every run, and another seed gives
// another trace, so that a learner can step through one run at leisure.
func TestDemoInTheSimulatorIsTheSameForASeed(t *testing.T) {
	run := func(seed string) (string, string) {
		var stdout, stderr bytes.Buffer
		require.NoError(t, runDemo([]string{"-sim", "-v", "-seed", seed}, &stdout, &stderr), "stderr:\n%s", stderr.String())
		return stdout.String(), stderr.String()
	}
	out1, trace1 := run("3")
	out2, trace2 := run("3")
	_, trace3 := run("4")
	assert.Equal(t, out1, out2, "the story of one seed")
	assert.Equal(t, trace1, trace2, "the trace of one seed")
	assert.NotEqual(t, trace1, trace3, "another seed, another trace")
}
