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

// TestBenchScaleRunsTheTable: -scale prints, besides the floor, the disk's
// sequential bandwidth, a benchstat line per setup and the same as a
// Markdown table, all on lines benchstat reads or skips.
func TestBenchScaleRunsTheTable(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the disk's floor and runs a load")
	}
	var stdout, stderr bytes.Buffer
	name := "nodes=3/transport=tcp/persist=wal/clients=64/size=128/via=leader"
	args := []string{"-scale", "-for", "200ms", "-seqwrite", "4", "-run", "^" + name + "$", "-progress", "50ms"}
	require.NoError(t, runBench(args, &stdout, &stderr), "stderr:\n%s", stderr.String())
	benchstat := regexp.MustCompile(`^(#( .*)?|Benchmark\S+ \d+( [\d.]+ \S+)+)$`)
	for _, line := range strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n") {
		assert.Regexp(t, benchstat, line)
	}
	out := stdout.String()
	assert.Regexp(t, `(?m)^BenchmarkSeqWrite 1 [\d.]+ MB/s$`, out)
	assert.Regexp(t, `(?m)^BenchmarkScale/`+name+` \d+ \d+ ns/op [\d.]+ commits/s [\d.]+ MB/s \d+ p50-ns \d+ p99-ns \d+ cpu-ns/op [\d.]+ cores [\d.]+ waiting-cores \d+ peak-rss-bytes`, out)
	assert.Regexp(t, `(?m)^# \| 3 \| 64 \| 128 B \| \d+ \|`, out)
	assert.Contains(t, out, "# load average at start: ")
	assert.Regexp(t, `committed, \d+s`, stderr.String())
}
