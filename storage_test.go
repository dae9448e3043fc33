package raftlite_test

import (
	"context"
	"errors"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/transport/mem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fullDisk is a MemoryPersister whose disk fills up on demand.
type fullDisk struct {
	*raftlite.MemoryPersister
	full atomic.Bool
}

func (d *fullDisk) Save(hs *raftlite.HardState, entries []raftlite.Entry) error {
	if d.full.Load() {
		return syscall.ENOSPC
	}
	return d.MemoryPersister.Save(hs, entries)
}

// A leader whose disk fills up stops rather than acknowledge what it could
// not write: its broadcast fails with ErrStorage, the node reports why, and
// the other two elect a new leader that carries on.
func TestLeaderWithAFullDiskStopsAndTheRestCarryOn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := mem.NewNetwork(1)
		peers := map[raftlite.NodeID]string{1: "", 2: "", 3: ""}
		disks := map[raftlite.NodeID]*fullDisk{}
		nodes := map[raftlite.NodeID]*raftlite.Node{}
		for id := range peers {
			disks[id] = &fullDisk{MemoryPersister: raftlite.NewMemoryPersister()}
			n, err := raftlite.New(raftlite.Config{ID: id, Peers: peers, Transport: net.Transport(id), Persister: disks[id]})
			require.NoError(t, err)
			nodes[id] = n
			go func() {
				for range n.Deliveries() {
				}
			}()
		}
		defer func() {
			for _, n := range nodes {
				n.Close()
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := nodes[1].Broadcast(ctx, []byte("before"))
		require.NoError(t, err)
		var leader raftlite.NodeID
		for id, n := range nodes {
			if n.Status().Role == raftlite.Leader {
				leader = id
			}
		}
		require.NotZero(t, leader)

		disks[leader].full.Store(true)
		_, err = nodes[leader].Broadcast(ctx, []byte("during"))
		require.Error(t, err)
		assert.ErrorIs(t, err, raftlite.ErrStorage)
		assert.ErrorIs(t, nodes[leader].Err(), raftlite.ErrStorage)
		assert.True(t, errors.Is(nodes[leader].Err(), syscall.ENOSPC), "the cause is kept: %v", nodes[leader].Err())

		var other raftlite.NodeID = 1
		if other == leader {
			other = 2
		}
		_, err = nodes[other].Broadcast(ctx, []byte("after"))
		require.NoError(t, err, "the survivors elect a new leader and commit")
	})
}
