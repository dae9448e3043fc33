package persistertest_test

import (
	"go/parser"
	"go/token"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/persister/persistertest"
	"github.com/raftlite/raftlite/wal"
)

// TestConformance is the example of the package documentation, run on
// package wal. (wal's own tests run the suite with its crash hook too.)
func TestConformance(t *testing.T) {
	persistertest.Run(t, persistertest.Harness{
		Open: func(t *testing.T) (raftlite.Persister, func() raftlite.Persister) {
			dir := t.TempDir()
			p := mustOpen(t, dir)
			return p, func() raftlite.Persister { p.Close(); p = mustOpen(t, dir); return p }
		},
	})
}

func mustOpen(t *testing.T, dir string) raftlite.Persister {
	l, err := wal.Open(dir, wal.Options{})
	require.NoError(t, err)
	return l
}

// TestDocExampleIsCompiled checks that the example in the package
// documentation is, line for line, code of this file, which compiles and
// runs as TestConformance.
func TestDocExampleIsCompiled(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "persistertest.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	require.NoError(t, err)
	var snippet []string
	for _, line := range strings.Split(f.Doc.Text(), "\n") {
		if strings.HasPrefix(line, "\t") {
			snippet = append(snippet, strings.TrimSpace(line))
		}
	}
	require.NotEmpty(t, snippet, "the package documentation has an example")
	src, err := os.ReadFile("example_test.go")
	require.NoError(t, err)
	var code []string
	for _, line := range strings.Split(string(src), "\n") {
		code = append(code, strings.TrimSpace(line))
	}
	for i := range code {
		if len(code)-i >= len(snippet) && slices.Equal(code[i:i+len(snippet)], snippet) {
			return
		}
	}
	t.Errorf("the example in persistertest.go is not code of example_test.go:\n%s", strings.Join(snippet, "\n"))
}
