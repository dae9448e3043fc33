package raftlite_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/persister/persistertest"
)

// TestMemoryPersisterConformance runs the suite on MemoryPersister. Its
// Saves are atomic under a mutex and nothing of it survives the process, so
// it has no crash to simulate: the crash subtests are skipped as not
// applicable. A reopen copies what Load and OpenSnapshot return to a new
// MemoryPersister, which is what a Node re-created in the same process
// starts from.
func TestMemoryPersisterConformance(t *testing.T) {
	persistertest.Run(t, persistertest.Harness{
		Open: func(t *testing.T) (raftlite.Persister, func() raftlite.Persister) {
			p := raftlite.NewMemoryPersister()
			return p, func() raftlite.Persister {
				q := raftlite.NewMemoryPersister()
				require.NoError(t, persistertest.Copy(q, p))
				p = q
				return p
			}
		},
	})
}
