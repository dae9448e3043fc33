package raftlite_test

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/transport/mem"
)

// records keeps the log records a handler is given.
type records struct {
	mu   sync.Mutex
	list []slog.Record
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append(r.list, rec.Clone())
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

// messages returns the Info messages logged, in order.
func (r *records) messages() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, rec := range r.list {
		if rec.Level == slog.LevelInfo {
			out = append(out, rec.Message)
		}
	}
	return out
}

// An election reads as a story in the logs, at Info: the winner started an
// election and won it, with the votes it got; the others follow it.
func TestElectionsAreLoggedAsAStory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := mem.NewNetwork(1)
		peers := map[raftlite.NodeID]string{1: "", 2: "", 3: ""}
		logs := map[raftlite.NodeID]*records{}
		var nodes []*raftlite.Node
		for id := range peers {
			logs[id] = &records{}
			n, err := raftlite.New(raftlite.Config{ID: id, Peers: peers, Transport: net.Transport(id),
				Persister: raftlite.NewMemoryPersister(), RandSeed: uint64(id), Logger: slog.New(logs[id])})
			require.NoError(t, err)
			nodes = append(nodes, n)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := nodes[0].Broadcast(ctx, []byte("x"))
		require.NoError(t, err)
		leader := nodes[0].Status().Leader
		for _, n := range nodes {
			require.NoError(t, n.Close())
		}
		won := logs[leader].messages()
		assert.True(t, slices.Contains(won, "starting an election"), "%v", won)
		assert.True(t, slices.Contains(won, "won the election"), "%v", won)
		for id, l := range logs {
			if id != leader {
				assert.True(t, slices.Contains(l.messages(), "following a leader"), "node %d: %v", id, l.messages())
			}
		}
	})
}
