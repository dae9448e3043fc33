package raftliteprom

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOnlyThisPackageImportsPrometheus: a program that uses raftlite, its
// transports and persisters, but not this package, compiles no metrics
// library.
func TestOnlyThisPackageImportsPrometheus(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list dependencies with")
	}
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{.ImportPath}}",
		"github.com/raftlite/raftlite", "github.com/raftlite/raftlite/transport/...",
		"github.com/raftlite/raftlite/wal", "github.com/raftlite/raftlite/persister/...").CombinedOutput()
	require.NoError(t, err, "%s", out)
	deps := strings.Fields(string(out))
	require.Contains(t, deps, "github.com/raftlite/raftlite", "go list must list the packages themselves")
	for _, dep := range deps {
		assert.NotContains(t, dep, "prometheus", "a package that does not import raftliteprom depends on %s", dep)
	}
}

// TestTheREADMEListsEveryMetric: the README's table of metrics names each
// metric this package exports, and no other.
func TestTheREADMEListsEveryMetric(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(readme), "\n### Metrics\n")
	require.True(t, ok, "README.md has no section ### Metrics")
	section, _, _ = strings.Cut(section, "\n## ")
	var listed []string
	for _, m := range regexp.MustCompile("(?m)^\\| `(raftlite_[a-z_]+)`").FindAllStringSubmatch(section, -1) {
		listed = append(listed, m[1])
	}
	var exported []string
	for _, m := range all {
		exported = append(exported, m.name)
	}
	slices.Sort(listed)
	slices.Sort(exported)
	assert.Equal(t, exported, listed, "README.md's metrics table")
}
