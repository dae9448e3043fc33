package bench

import (
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/raftlite/raftlite"
)

// The scale table's machinery runs in every `go test`, tiny: a cluster of
// five nodes (more than the matrix's three) loaded for a moment must verify
// and report what it cost.
func TestLoadCostOfAFiveNodeCluster(t *testing.T) {
	s := Setup{Nodes: 5, Transport: "tcp", Persister: "wal", Clients: 8, Size: 128}
	ctx, c := startCluster(t, s, time.Minute)
	require.Len(t, c.nodes, 5)
	cost, err := c.LoadCost(ctx, 200*time.Millisecond)
	require.NoError(t, err)
	require.NoError(t, c.Verify(ctx))
	assert.Positive(t, cost.Commits)
	assert.Positive(t, cost.Syncs)
	assert.InDelta(t, float64(cost.Commits)*128/1e6/cost.Elapsed.Seconds(), cost.MBPerSecond(s.Size), 1e-9)
	if runtime.GOOS == "linux" {
		assert.Positive(t, cost.CPUPerCommit(), "Getrusage counts the load's CPU")
		assert.Positive(t, cost.PeakRSS, "VmRSS is sampled during the load")
		assert.Positive(t, cost.Cores())
		assert.GreaterOrEqual(t, cost.WaitingCores(), 0.0)
	}
}

// TestLargestMessageIsTheDefaultMaxEntryBytes holds bench.LargestMessage to
// the Config it describes: the bench's nodes leave MaxEntryBytes at its
// default, and accept a message of exactly that size but not a byte more.
func TestLargestMessageIsTheDefaultMaxEntryBytes(t *testing.T) {
	s := Largest()
	s.Transport, s.Persister = "mem", "memory"
	ctx, c := startCluster(t, s, time.Minute)
	n, err := c.target(ctx)
	require.NoError(t, err)
	_, err = n.Broadcast(ctx, make([]byte, LargestMessage))
	assert.NoError(t, err)
	_, err = n.Broadcast(ctx, make([]byte, LargestMessage+1))
	assert.ErrorIs(t, err, raftlite.ErrTooLarge)
}

func TestScaleMatrixIsTheIssuesTable(t *testing.T) {
	setups := ScaleMatrix()
	require.Len(t, setups, 27)
	names := map[string]bool{}
	for _, s := range setups {
		assert.True(t, Available(s), "%s", s)
		assert.Equal(t, Setup{Nodes: s.Nodes, Transport: "tcp", Persister: "wal", Clients: s.Clients, Size: s.Size}, s)
		names[s.String()] = true
	}
	assert.Len(t, names, 27, "every setup has a name of its own, for -run")
	assert.Equal(t, "nodes=7/transport=tcp/persist=wal/clients=1024/size=65536/via=leader", setups[26].String())
}

func TestSeqWriteMeasuresABandwidth(t *testing.T) {
	bw, err := SeqWrite(t.TempDir(), 4<<20, 1<<20)
	require.NoError(t, err)
	assert.Positive(t, bw)
}
