package bench

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The benchmark harness itself is tested in every `go test`: a short load on
// the cheapest and on a durable networked setup must verify.
func TestHarnessVerifiesASmallLoad(t *testing.T) {
	for _, s := range []Setup{
		{Transport: "mem", Persister: "memory", Clients: 8, Size: 128, ViaFollower: true},
		{Transport: "tcp", Persister: "wal", Clients: 8, Size: 128},
	} {
		t.Run(s.String(), func(t *testing.T) {
			ctx, c := startCluster(t, s, time.Minute)
			r, err := c.Load(ctx, 200)
			require.NoError(t, err)
			require.Equal(t, 200, r.Commits)
			require.NoError(t, c.Verify(ctx))
			if s.Persister == "wal" {
				require.Positive(t, r.Syncs)
			}
		})
	}
}
