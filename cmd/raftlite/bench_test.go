package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBenchShowsProgressOnStderrOnly: while a setup runs, raftlite bench
// reports how far it got on stderr; stdout holds nothing but lines
// benchstat reads.
func TestBenchShowsProgressOnStderrOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the disk's floor and runs a load")
	}
	var stdout, stderr bytes.Buffer
	args := []string{"-n", "4000", "-run", "^transport=mem/persist=memory/clients=64/size=128/via=leader$", "-progress", "1ms"}
	require.NoError(t, runBench(args, &stdout, &stderr), "stderr:\n%s", stderr.String())
	benchstat := regexp.MustCompile(`^(# .*|Benchmark\S+ \d+( [\d.]+ \S+)+)$`)
	lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
	for _, line := range lines {
		assert.Regexp(t, benchstat, line)
	}
	assert.Contains(t, stdout.String(), "BenchmarkCommit/transport=mem/persist=memory/clients=64/size=128/via=leader 4000 ")
	assert.Regexp(t, `\[1/1\] transport=mem/persist=memory/clients=64/size=128/via=leader +\d+/4000 committed \(\d+%\), `, stderr.String())
}
