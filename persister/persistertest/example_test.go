package persistertest_test

import (
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
