package raftlite

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The queue holds at most limit broadcasts with the core's, wakes a caller
// waiting for room when the core's count falls, and after close fails
// every push and gives back what it held, which never reached a log.
func TestProposalQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newProposalQueue(2)
		ctx := context.Background()
		a, b, c := &Pending{}, &Pending{}, &Pending{}
		require.NoError(t, q.push(ctx, a))
		require.Len(t, q.wake, 1, "the first push wakes the loop")
		require.NoError(t, q.push(ctx, b))
		batch := q.take()
		assert.Equal(t, []*Pending{a, b}, batch)
		q.done(batch)

		short, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		require.ErrorIs(t, q.push(short, c), context.DeadlineExceeded, "two are in the core: no room")

		pushed := make(chan error, 1)
		go func() { pushed <- q.push(ctx, c) }()
		synctest.Wait()
		require.Empty(t, pushed, "still no room")
		q.settle(1) // one committed
		require.NoError(t, <-pushed)

		d := &Pending{}
		go func() { pushed <- q.push(ctx, d) }()
		synctest.Wait()
		closed := errors.New("closed")
		assert.Equal(t, []*Pending{c}, q.close(closed), "what was queued comes back")
		require.ErrorIs(t, <-pushed, closed, "a waiting push fails once closed")
		require.ErrorIs(t, q.push(ctx, &Pending{}), closed)
	})
}
