//go:build raftlite_bugs

package raftlite_test

import (
	"strings"
	"testing"

	"github.com/anishathalye/porcupine"
	"github.com/raftlite/raftlite"
	"github.com/stretchr/testify/require"
)

// TestReadCheckerCatchesUnconfirmedReads shows that the read workload's
// checker bites: with bugReadWithoutConfirm a leader serves a read at its
// commit index without a round of heartbeats, and with check-quorum off a
// leader cut off from the majority goes on believing it leads. The
// workload's deposeLeader step then makes the catch certain, not a matter
// of timing: "probe" is put (acknowledged) before the partition and again,
// through the majority's new leader, after it; only then is "probe" read
// on the nodes cut off, which hold only the first value. Porcupine's check
// of the per-key register model (kvModel, through checkKV) rejects the
// history: no order of the operations consistent with real time lets a
// read called after put(probe, "pN-after") returned see "pN-before".
// staleReads, ReadIndex's promise checked directly, names the culprits.
func TestReadCheckerCatchesUnconfirmedReads(t *testing.T) {
	require.True(t, raftlite.BugsCompiled)
	for _, seed := range []uint64{41, 43} {
		run := kvWorkload(t, seed, func(cfg *raftlite.Config) {
			cfg.DisableCheckQuorum = true
			raftlite.InjectBugReadWithoutConfirm(cfg)
		})
		summarize(t, run)
		stale := 0
		for _, p := range run.probes {
			if p.err == nil && strings.HasSuffix(p.value, "-before") {
				stale++
			}
		}
		require.Equal(t, len(run.probes), stale, "every read on a deposed leader, or through one, is stale: %v", run.probes)
		bad := staleReads(run.ops)
		require.NotEmpty(t, bad)
		t.Logf("seed %d: %d stale reads, the first: %s", seed, len(bad), bad[0])
		require.Equal(t, porcupine.Illegal, checkKV(run.ops), "seed %d", seed)
	}
}
