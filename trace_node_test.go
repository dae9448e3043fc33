package raftlite_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/transport/mem"
)

// lockedBuffer is a bytes.Buffer that several Nodes may write to at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestNodeTraceFollowsABroadcastFromAFollowerToEveryDelivery: a Node's
// Config.Trace tells, in the simulator's line format, a broadcast's way
// from the follower that took it, through the leader's log and the
// followers' saves, to its delivery on every node.
func TestNodeTraceFollowsABroadcastFromAFollowerToEveryDelivery(t *testing.T) {
	scenario(t, func(t *testing.T) {
		var trace lockedBuffer
		c := newClusterWith(t, 3, 1, func(cfg *raftlite.Config) { cfg.Trace = &trace })
		leader := c.leader()
		from := raftlite.NodeID(1)
		if leader == from {
			from = 2
		}
		index := c.broadcast(from, "hello")
		c.waitDeliveredIndex(index)
		c.stopAll()

		out := trace.String()
		line := regexp.MustCompile(`^node [1-3] term \d+ (follower|pre-candidate|candidate|leader) +(on[A-Z]\w*|  \S)`)
		for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
			require.Regexp(t, line, l)
		}
		journey := []string{
			fmt.Sprintf(`node %d term \d+ follower +onBroadcast #1 "hello"`, from),
			fmt.Sprintf(`node %d term \d+ follower +  send Propose to %d: term \d+, broadcast "hello" \(node %d #1\)`, from, leader, from),
			fmt.Sprintf(`node %d term \d+ leader +onPropose from %d`, leader, from),
			fmt.Sprintf(`node %d term \d+ leader +  save entry %d of term \d+: "hello"`, leader, index),
			fmt.Sprintf(`node %d term \d+ follower +onLogRequest from %d: .*entry %d: "hello"`, from, leader, index),
			fmt.Sprintf(`node %d term \d+ follower +  send LogResponse to %d once saved: term \d+, accepted up to %d`, from, leader, index),
			fmt.Sprintf(`node %d term \d+ leader +  commits up to %d`, leader, index),
			fmt.Sprintf(`node %d term \d+ follower +  broadcast #1 committed at %d: its Broadcast returns`, from, index),
		}
		for _, step := range journey {
			assert.Regexp(t, regexp.MustCompile(`(?m)^`+step), out)
		}
		for _, id := range c.ids {
			assert.Regexp(t, regexp.MustCompile(fmt.Sprintf(`(?m)^node %d term \d+ \S+ +  deliver %d: "hello" \(node %d #1\)$`, id, index, from)), out)
		}
	})
}

// With no Config.Trace, a logger that takes Debug gets the trace, a record
// per line: the per-message detail an operator asks for with -v.
func TestDebugLoggerGetsTheTrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf lockedBuffer
		logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		node, err := raftlite.New(raftlite.Config{ID: 1, Peers: map[raftlite.NodeID]string{1: ""},
			Transport: mem.NewNetwork(1).Transport(1), Persister: raftlite.NewMemoryPersister(), Logger: logger})
		require.NoError(t, err)
		index, err := node.Broadcast(context.Background(), []byte("hi"))
		require.NoError(t, err)
		// Broadcast returns once committed; the delivery (and its trace
		// line) may come a moment later.
		_, err = node.WaitDelivered(context.Background(), index)
		require.NoError(t, err)
		require.NoError(t, node.Close())
		assert.Contains(t, buf.String(), `level=DEBUG msg="node 1 term 0 follower      onBroadcast #1 \"hi\"" node=1`)
		assert.Contains(t, buf.String(), `level=DEBUG msg="node 1 term 1 leader          deliver 2: \"hi\" (node 1 #1)" node=1`)
	})
}
