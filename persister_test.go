package raftlite_test

import (
	"testing"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/persister/persistertest"
)

func TestMemoryPersisterConformance(t *testing.T) {
	persistertest.Run(t, func(t *testing.T) (raftlite.Persister, func() raftlite.Persister) {
		p := raftlite.NewMemoryPersister()
		return p, func() raftlite.Persister { return p }
	})
}
