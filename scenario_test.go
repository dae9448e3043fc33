package raftlite_test

import (
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/require"
)

func TestBasicAgreement(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, 3, 1)
		l := c.leader()
		for i := range 3 {
			c.broadcast(c.ids[i], "m"+string(rune('a'+i)))
		}
		_ = l
		c.waitDelivered(3)
		got := c.checkSameOrder()
		require.Len(t, got, 3)
	})
}
