package raftlite_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/transport/mem"
)

// A node restarted on an empty disk under its old id must not mistake the
// broadcasts of its earlier life, already in the log, for its own new ones:
// its first new broadcast is delivered where Broadcast says it is, and the
// next one does not wait for ever.
func TestRestartOnAnEmptyDiskGetsNoFalseAcknowledgements(t *testing.T) {
	scenario(t, func(t *testing.T) {
		c := newCluster(t, 3, 1)
		c.leader()
		for i := range 3 {
			c.broadcast(2, fmt.Sprintf("old-%d", i+1))
		}
		c.stop(2)
		c.persisters[2] = raftlite.NewMemoryPersister() // the disk is lost
		c.start(2)
		for _, msg := range []string{"new-1", "new-2"} {
			idx := c.broadcast(2, msg)
			c.waitDeliveredIndex(idx)
			for _, id := range c.ids {
				ds := c.deliveries(id)
				require.NotEmpty(t, ds)
				got := ds[len(ds)-1]
				assert.Equal(t, idx, got.Index, "node %d", id)
				assert.Equal(t, msg, string(got.Data), "node %d delivered at the acknowledged index", id)
			}
		}
	})
}

// A context that is already done never broadcasts, even when the node
// could take the message at once.
func TestBroadcastWithADoneContextNeverBroadcasts(t *testing.T) {
	scenario(t, func(t *testing.T) {
		c := newCluster(t, 3, 2)
		l := c.leader()
		done, cancel := context.WithCancel(context.Background())
		cancel()
		for i := range 200 {
			_, err := c.nodes[l].Broadcast(done, fmt.Appendf(nil, "cancelled-%d", i))
			require.ErrorIs(t, err, context.Canceled)
			var unknown *raftlite.OutcomeUnknownError
			require.False(t, errors.As(err, &unknown), "nothing was accepted, so the outcome is known")
			_, err = c.nodes[l].Submit(done, []byte("cancelled"))
			require.ErrorIs(t, err, context.Canceled)
		}
		idx := c.broadcast(l, "live")
		c.waitDeliveredIndex(idx)
		for _, id := range c.ids {
			assert.Equal(t, []string{"live"}, c.deliveredData(id), "node %d", id)
		}
	})
}

// Broadcasts submitted one after another through one node are delivered in
// that order on every node (FIFO-total order), while the leader changes
// under them and the node's messages are lost, duplicated and reordered.
func TestSubmitKeepsEachNodesOrderAcrossLeaderChanges(t *testing.T) {
	scenario(t, func(t *testing.T) {
		c := newCluster(t, 3, 3)
		first := c.leader()
		c.net.SetLoss(0.1, 0.05)
		c.net.SetReorder(0.3)
		ctx, cancel := contextWithTimeout(time.Minute)
		defer cancel()
		var pending []*raftlite.Pending
		for _, id := range c.ids {
			for i := range 100 {
				if id == first && i == 50 {
					c.net.Isolate(first) // the leader changes mid-stream
				}
				p, err := c.nodes[id].Submit(ctx, fmt.Appendf(nil, "%d-%03d", id, i))
				require.NoError(t, err)
				pending = append(pending, p)
			}
		}
		c.net.Heal()
		for _, p := range pending {
			if _, err := p.Wait(ctx); err != nil {
				require.ErrorIs(t, err, raftlite.ErrOutcomeUnknown)
			}
		}
		c.settle()
		order := c.checkSameOrder()
		last := map[string]string{}
		for _, msg := range order {
			origin, _, ok := strings.Cut(msg, "-")
			if !ok {
				continue // a barrier
			}
			assert.Less(t, last[origin], msg, "node %s's broadcasts out of order", origin)
			last[origin] = msg
		}
		for _, id := range c.ids {
			assert.Equal(t, fmt.Sprintf("%d-099", id), last[fmt.Sprint(id)], "every broadcast of node %d committed", id)
		}
	})
}

// A Delivery names its broadcast, and an unknown outcome names the same
// broadcast, so that an application can resolve it by watching Deliveries.
func TestAnUnknownOutcomeNamesTheBroadcastToWatchFor(t *testing.T) {
	scenario(t, func(t *testing.T) {
		c := newCluster(t, 3, 4)
		l := c.leader()
		follower := without(c.ids, l)[0]
		c.net.Isolate(follower)
		_, err := c.broadcastFor(follower, "maybe", time.Second)
		var unknown *raftlite.OutcomeUnknownError
		require.ErrorAs(t, err, &unknown)
		require.ErrorIs(t, err, raftlite.ErrOutcomeUnknown)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, follower, unknown.ID.Origin)
		assert.Equal(t, uint64(1), unknown.ID.Seq)
		c.net.Heal()
		c.settle()
		found := 0
		for _, d := range c.deliveries(l) {
			if d.ID == unknown.ID {
				found++
				assert.Equal(t, "maybe", string(d.Data))
			}
		}
		assert.Equal(t, 1, found, "the broadcast was retried after the partition healed and delivered once")
	})
}

// A Broadcast that gave up waiting leaves its broadcast to the node, which
// answers it later; Broadcast reuses what the ones that got their answer
// used, and every later Broadcast gets the index of its own message.
func TestBroadcastsAfterAnUnknownOutcomeGetTheirOwnIndices(t *testing.T) {
	scenario(t, func(t *testing.T) {
		c := newCluster(t, 3, 4)
		l := c.leader()
		follower := without(c.ids, l)[0]
		c.net.Isolate(follower)
		_, err := c.broadcastFor(follower, "maybe", time.Second)
		require.ErrorIs(t, err, raftlite.ErrOutcomeUnknown)
		c.net.Heal()
		got := map[uint64]string{}
		for i := range 20 {
			for _, from := range []raftlite.NodeID{follower, l} {
				msg := fmt.Sprintf("%d-%02d", from, i)
				got[c.broadcast(from, msg)] = msg
			}
		}
		c.settle()
		delivered := map[uint64]string{}
		for _, d := range c.deliveries(l) {
			delivered[d.Index] = string(d.Data)
		}
		for index, msg := range got {
			assert.Equal(t, msg, delivered[index], "the broadcast acknowledged at index %d", index)
		}
	})
}

// closeRecorder is a persister and transport whose Close fails.
type failingClose struct {
	*raftlite.MemoryPersister
	closed int
}

func (f *failingClose) Close() error { f.closed++; return errors.New("persister close failed") }

type failingTransport struct {
	*mem.Transport
	closed int
}

func (f *failingTransport) Close() error {
	f.closed++
	return errors.Join(f.Transport.Close(), errors.New("transport close failed"))
}

// Close reports what closing the transport and the persister returned, and
// New closes both when it fails, as it owns them from the start.
func TestCloseAndFailedNewCloseWhatTheNodeOwns(t *testing.T) {
	scenario(t, func(t *testing.T) {
		net := mem.NewNetwork(1)
		peers := map[raftlite.NodeID]string{1: ""}
		p := &failingClose{MemoryPersister: raftlite.NewMemoryPersister()}
		tr := &failingTransport{Transport: net.Transport(1)}
		n, err := raftlite.New(raftlite.Config{ID: 1, Peers: peers, Transport: tr, Persister: p})
		require.NoError(t, err)
		err = n.Close()
		assert.ErrorContains(t, err, "transport close failed")
		assert.ErrorContains(t, err, "persister close failed")
		assert.Equal(t, 1, p.closed)
		assert.Equal(t, 1, tr.closed)

		p2 := &failingClose{MemoryPersister: raftlite.NewMemoryPersister()}
		tr2 := &failingTransport{Transport: net.Transport(1)}
		_, err = raftlite.New(raftlite.Config{ID: 1, Peers: peers, Transport: tr2, Persister: p2, MaxEntryBytes: -1})
		assert.ErrorIs(t, err, raftlite.ErrInvalidConfig)
		assert.Equal(t, 1, p2.closed, "a failed New closes the persister it was given")
		assert.Equal(t, 1, tr2.closed, "and the transport")
	})
}

// The Node keeps its own copy of Peers.
func TestPeersAreCopied(t *testing.T) {
	scenario(t, func(t *testing.T) {
		net := mem.NewNetwork(1)
		peers := map[raftlite.NodeID]string{1: ""}
		n, err := raftlite.New(raftlite.Config{ID: 1, Peers: peers, Transport: net.Transport(1),
			Persister: raftlite.NewMemoryPersister()})
		require.NoError(t, err)
		defer n.Close()
		peers[2], peers[3] = "", "" // a one-node cluster must not become a three-node one
		ctx, cancel := contextWithTimeout(10 * time.Second)
		defer cancel()
		_, err = n.Broadcast(ctx, []byte("alone"))
		require.NoError(t, err, "a single node commits by itself")
	})
}

// limitedTransport carries messages of at most limit bytes.
type limitedTransport struct {
	raftlite.Transport
	limit int
}

func (l limitedTransport) MaxMessageBytes() int { return l.limit }

// Config is checked once its defaults are in: setting one field never
// draws an error about a field the user did not set, and limits that a
// transport cannot carry are refused with the field to change.
func TestConfigIsValidatedWithItsDefaults(t *testing.T) {
	net := mem.NewNetwork(1)
	base := func() raftlite.Config {
		return raftlite.Config{ID: 1, Peers: map[raftlite.NodeID]string{1: ""}, Transport: net.Transport(1),
			Persister: raftlite.NewMemoryPersister()}
	}
	for _, tc := range []struct {
		name    string
		set     func(*raftlite.Config)
		wantErr string // empty: valid
	}{
		{"heartbeat alone", func(c *raftlite.Config) { c.HeartbeatInterval = 100 * time.Millisecond }, ""},
		{"batch alone", func(c *raftlite.Config) { c.MaxBatchBytes = 32 << 20 }, ""},
		{"short election timeout alone", func(c *raftlite.Config) { c.ElectionTimeout = 40 * time.Millisecond }, ""},
		{"heartbeat too slow", func(c *raftlite.Config) { c.HeartbeatInterval = 300 * time.Millisecond }, "HeartbeatInterval"},
		{"negative entry limit", func(c *raftlite.Config) { c.MaxEntryBytes = -1 }, "MaxEntryBytes"},
		{"negative buffer", func(c *raftlite.Config) { c.DeliveryBuffer = -1 }, "DeliveryBuffer"},
		{"inflight below batch", func(c *raftlite.Config) { c.MaxInflightBytes = 1 << 10 }, "MaxInflightBytes"},
		{"id not a peer", func(c *raftlite.Config) { c.ID = 2 }, "Peers"},
		{"batch over the transport's limit", func(c *raftlite.Config) {
			c.Transport = limitedTransport{c.Transport, 1 << 20}
		}, "MaxBatchBytes"},
		{"limits that fit the transport", func(c *raftlite.Config) {
			c.Transport = limitedTransport{c.Transport, 1 << 20}
			c.MaxBatchBytes, c.MaxEntryBytes = 512<<10, 512<<10
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base()
			tc.set(&cfg)
			n, err := raftlite.New(cfg)
			if tc.wantErr == "" {
				require.NoError(t, err)
				require.NoError(t, n.Close())
				return
			}
			require.ErrorIs(t, err, raftlite.ErrInvalidConfig)
			assert.True(t, strings.HasPrefix(strings.TrimPrefix(err.Error(), raftlite.ErrInvalidConfig.Error()+": "), tc.wantErr),
				"the error names %s first: %v", tc.wantErr, err)
		})
	}
}

// The leader's Status shows each follower's progress and when it was last
// heard from; a follower that stops answering falls behind in Match and
// in LastContact.
func TestLeaderStatusShowsEachFollower(t *testing.T) {
	scenario(t, func(t *testing.T) {
		c := newCluster(t, 3, 5)
		l := c.leader()
		idx := c.broadcast(l, "x")
		c.waitDeliveredIndex(idx)
		time.Sleep(200 * time.Millisecond) // virtual: a few heartbeats, and their answers
		s := c.nodes[l].Status()
		require.Len(t, s.Followers, 2)
		for _, f := range s.Followers {
			assert.NotEqual(t, l, f.ID)
			assert.Equal(t, s.LastIndex, f.Match, "follower %d holds the whole log", f.ID)
			assert.Equal(t, s.LastIndex+1, f.Next)
			assert.False(t, f.Probing)
			assert.WithinDuration(t, time.Now(), f.LastContact, time.Second)
		}
		down := s.Followers[0].ID
		c.net.Isolate(down)
		idx = c.broadcast(l, "y")
		time.Sleep(3 * time.Second) // virtual: the follower stays silent
		s = c.nodes[l].Status()
		require.Equal(t, raftlite.Leader, s.Role)
		for _, f := range s.Followers {
			if f.ID == down {
				assert.Less(t, f.Match, idx)
				assert.Greater(t, time.Since(f.LastContact), 2*time.Second)
			} else {
				assert.GreaterOrEqual(t, f.Match, idx)
			}
		}
		for _, id := range without(c.ids, l) {
			assert.Nil(t, c.nodes[id].Status().Followers, "only the leader has a view of followers")
		}
	})
}

// Submit waits while MaxPendingBroadcasts of the node's broadcasts are
// uncommitted, and goes on as soon as one commits.
func TestSubmitWaitsWhileMaxPendingBroadcastsAreUncommitted(t *testing.T) {
	scenario(t, func(t *testing.T) {
		const limit = 3
		c := newClusterWith(t, 3, 5, func(cfg *raftlite.Config) { cfg.MaxPendingBroadcasts = limit })
		l := c.leader()
		for _, id := range without(c.ids, l) {
			c.net.Isolate(id) // nothing commits
		}
		ctx, cancel := contextWithTimeout(time.Minute)
		defer cancel()
		var pending []*raftlite.Pending
		for i := range limit {
			p, err := c.nodes[l].Submit(ctx, fmt.Appendf(nil, "held-%d", i))
			require.NoError(t, err, "broadcast %d of %d", i+1, limit)
			pending = append(pending, p)
		}
		full, cancelFull := contextWithTimeout(time.Second)
		defer cancelFull()
		_, err := c.nodes[l].Submit(full, []byte("one too many"))
		require.ErrorIs(t, err, context.DeadlineExceeded, "Submit must wait while %d are uncommitted", limit)
		var unknown *raftlite.OutcomeUnknownError
		require.False(t, errors.As(err, &unknown), "it was never accepted")

		// The fourth waits, and is taken once the cluster heals and the
		// first three commit.
		fourth := make(chan error, 1)
		go func() {
			p, err := c.nodes[l].Submit(ctx, []byte("fourth"))
			if err == nil {
				_, err = p.Wait(ctx)
			}
			fourth <- err
		}()
		c.net.Heal()
		for _, p := range pending {
			_, err := p.Wait(ctx)
			require.NoError(t, err)
		}
		require.NoError(t, <-fourth)
		c.settle()
		assert.Equal(t, []string{"held-0", "held-1", "held-2", "fourth"}, c.checkSameOrder()[:4])
	})
}
