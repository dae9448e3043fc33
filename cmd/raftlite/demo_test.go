package main

import (
	"bytes"
	"regexp"
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
