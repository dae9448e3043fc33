package raftliteprom_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/raftliteprom"
	"github.com/raftlite/raftlite/transport/mem"
)

// Three nodes on a mem network elect a leader, which commits five
// broadcasts: its collector reports them, as Prometheus's linter likes.
func TestCollectorReportsTheLeadersWork(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nodes := startCluster(t, 3)
		leader := waitForLeader(t, nodes)
		before := waitForDisksRecorded(t, leader)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for i := range 5 {
			_, err := leader.Broadcast(ctx, fmt.Appendf(nil, "m%d", i))
			require.NoError(t, err)
		}
		c := raftliteprom.NewCollector(leader)
		problems, err := testutil.CollectAndLint(c)
		require.NoError(t, err)
		assert.Empty(t, problems)

		reg := prometheus.NewPedanticRegistry()
		require.NoError(t, reg.Register(c))
		fams, err := reg.Gather()
		require.NoError(t, err)
		id := fmt.Sprint(leader.Status().ID)
		get := func(name string, labels ...string) *dto.Metric {
			t.Helper()
			m := find(fams, name, append([]string{"node", id}, labels...))
			require.NotNil(t, m, "%s%v", name, labels)
			return m
		}
		assert.Equal(t, 1.0, get("raftlite_role", "role", "leader").GetGauge().GetValue())
		assert.Equal(t, 0.0, get("raftlite_role", "role", "follower").GetGauge().GetValue())
		assert.Equal(t, 1.0, get("raftlite_elections_won_total").GetCounter().GetValue())
		assert.Equal(t, 5.0, get("raftlite_broadcasts_total").GetCounter().GetValue())
		assert.Equal(t, uint64(5), get("raftlite_broadcast_commit_seconds").GetHistogram().GetSampleCount())
		assert.Equal(t, float64(before+5), get("raftlite_commit_index").GetGauge().GetValue(),
			"the %d entries that recorded the members' disks, and five broadcasts", before)
		for _, n := range nodes {
			if n == leader {
				continue
			}
			peer := fmt.Sprint(n.Status().ID)
			assert.Equal(t, float64(before+5), get("raftlite_entries_sent_total", "peer", peer).GetCounter().GetValue())
			assert.NotNil(t, get("raftlite_follower_lag_entries", "peer", peer))
			assert.Positive(t, get("raftlite_messages_sent_total", "peer", peer, "kind", "LogRequest").GetCounter().GetValue())
			assert.Positive(t, get("raftlite_transport_messages_sent_total", "transport", "mem", "peer", peer).GetCounter().GetValue())
		}
		assert.NotNil(t, get("raftlite_transport_drops_total", "transport", "mem", "reason", "network"))
	})
}

func startCluster(t *testing.T, size int) []*raftlite.Node {
	net := mem.NewNetwork(1)
	peers := map[raftlite.NodeID]string{}
	for i := 1; i <= size; i++ {
		peers[raftlite.NodeID(i)] = fmt.Sprintf("node-%d", i)
	}
	var nodes []*raftlite.Node
	for id := range peers {
		n, err := raftlite.New(raftlite.Config{ID: id, Peers: peers, Transport: net.Transport(id),
			Persister: raftlite.NewMemoryPersister(), RandSeed: uint64(id)})
		require.NoError(t, err)
		t.Cleanup(func() { _ = n.Close() })
		go func() {
			for range n.Deliveries() {
			}
		}()
		nodes = append(nodes, n)
	}
	return nodes
}

// waitForLeader waits, in virtual time, until a node leads.
func waitForLeader(t *testing.T, nodes []*raftlite.Node) *raftlite.Node {
	for range 100 {
		for _, n := range nodes {
			if n.Status().Role == raftlite.Leader {
				return n
			}
		}
		time.Sleep(100 * time.Millisecond) // virtual
	}
	t.Fatal("no leader after 10s")
	return nil
}

// waitForDisksRecorded waits, in virtual time, until the leader has
// committed the record of every member's disk, and returns its commit
// index then. A new leader records the disks its votes told it of in its
// first entry, and the others' in a second once they answer: whether
// there is a second depends on which votes came first.
func waitForDisksRecorded(t *testing.T, leader *raftlite.Node) uint64 {
	for range 100 {
		s := leader.Status()
		recorded := s.CommitIndex >= s.MembershipIndex
		for _, m := range s.Membership.Members {
			recorded = recorded && m.DiskID != 0
		}
		if recorded {
			return s.CommitIndex
		}
		time.Sleep(100 * time.Millisecond) // virtual
	}
	t.Fatal("the leader did not record every member's disk in 10s")
	return 0
}

// find returns the metric of family name whose labels include labels
// (name, value, name, value...).
func find(fams []*dto.MetricFamily, name string, labels []string) *dto.Metric {
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue metrics
				}
			}
			return m
		}
	}
	return nil
}
