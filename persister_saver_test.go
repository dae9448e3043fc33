package raftlite

import (
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// slowDisk wraps a MemoryPersister but says its saves do I/O.
type slowDisk struct{ *MemoryPersister }

func (slowDisk) SavesInMemory() bool { return false }

// nullTransport carries nothing.
type nullTransport struct{}

func (nullTransport) Start(NodeID, map[NodeID]string, func(Message)) error { return nil }
func (nullTransport) Send(Message)                                         {}
func (nullTransport) Close() error                                         { return nil }

// Whether a Node saves on its loop follows the persister's MemorySaver
// answer, not its concrete type: a wrapper that embeds a MemoryPersister
// keeps the fast path, and one that declares I/O gets the saver goroutine.
func TestMemorySaverDecidesWhereSavesRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			p      Persister
			inline bool
		}{
			{"memory", NewMemoryPersister(), true},
			{"embedding wrapper", struct{ *MemoryPersister }{NewMemoryPersister()}, true},
			{"wrapper that does I/O", slowDisk{NewMemoryPersister()}, false},
		} {
			n, err := New(Config{ID: 1, Peers: map[NodeID]string{1: ""}, Transport: nullTransport{}, Persister: tc.p})
			require.NoError(t, err)
			assert.Equal(t, tc.inline, n.inlineSave, tc.name)
			require.NoError(t, n.Close())
		}
	})
}
