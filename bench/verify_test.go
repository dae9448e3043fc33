package bench

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVerifyRejectsANodeThatDeliveredOutOfOrder shows that Verify checks
// each node's order, not only that every acknowledged broadcast arrived:
// after a load that verifies, each case tampers with what node 2 was seen
// to deliver, and Verify must fail and name node 2.
func TestVerifyRejectsANodeThatDeliveredOutOfOrder(t *testing.T) {
	ctx, c := startCluster(t, Setup{Transport: "mem", Persister: "memory", Clients: 4, Size: 128}, time.Minute)
	_, err := c.Load(ctx, 50)
	require.NoError(t, err)
	require.NoError(t, c.Verify(ctx))
	c.mu.Lock()
	good := slices.Clone(c.seen[1])
	c.mu.Unlock()
	require.GreaterOrEqual(t, len(good), 50)

	for _, tc := range []struct {
		name   string
		tamper func(s []ack) []ack
	}{
		{"two deliveries swapped", func(s []ack) []ack {
			s[10], s[11] = s[11], s[10]
			return s
		}},
		{"two payloads swapped between their indices", func(s []ack) []ack {
			s[10].sum, s[11].sum = s[11].sum, s[10].sum
			return s
		}},
		{"one delivered twice", func(s []ack) []ack { return slices.Insert(s, 11, s[10]) }},
		{"one delivered twice in place of another", func(s []ack) []ack {
			s[11] = s[10]
			return s
		}},
		{"one missing", func(s []ack) []ack { return slices.Delete(s, 10, 11) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.mu.Lock()
			c.seen[1] = tc.tamper(slices.Clone(good))
			c.mu.Unlock()
			// Verify waits for deliveries up to the last acknowledged
			// index, which every case keeps, so it returns at once.
			err := c.Verify(ctx)
			assert.ErrorContains(t, err, "node 2")
		})
	}
	c.mu.Lock()
	c.seen[1] = good
	c.mu.Unlock()
	require.NoError(t, c.Verify(ctx), "the untampered record verifies again")
}
