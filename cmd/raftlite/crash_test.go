//go:build unix

package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestKillNineCluster runs three `raftlite node` processes on 127.0.0.1 and,
// while a client writes lines to their stdins, kills nodes with SIGKILL,
// pauses them with SIGSTOP/SIGCONT and restarts them on their data
// directories. At the end every line a node acknowledged must be delivered
// exactly once, at its acknowledged index, by every node; all nodes must
// have delivered the same sequence; and the lines written to one life of a
// node must be delivered in the order they were written (FIFO). Every
// process must die only of our SIGKILL, or stop cleanly on SIGTERM at the
// end.
func TestKillNineCluster(t *testing.T) {
	rounds := 8
	if testing.Short() {
		rounds = 3
	}
	bin := binary(t)
	for _, transport := range []string{"tcp", "quic"} {
		t.Run(transport, func(t *testing.T) {
			n := rounds
			if transport == "quic" {
				n = (rounds + 1) / 2
			}
			runKillNine(t, bin, transport, n)
		})
	}
}

func runKillNine(t *testing.T, bin, transport string, rounds int) {
	c := newCrashCluster(t, bin, transport)
	rng := rand.New(rand.NewPCG(1, uint64(len(transport))))
	deadline := time.Now().Add(90 * time.Second)
	for round := range rounds {
		require.True(t, time.Now().Before(deadline), "the test ran out of time")
		for k := range 40 {
			i := rng.IntN(3)
			c.write(i, fmt.Sprintf("r%d-m%d-via%d", round, k, i+1))
		}
		// The fault strikes while those lines are in flight.
		victim := rng.IntN(3)
		pause := round%3 == 2
		if pause {
			c.pause(victim)
			for k := range 5 {
				c.write(victim, fmt.Sprintf("r%d-paused%d-via%d", round, k, victim+1))
			}
		} else {
			c.kill(victim)
			c.kills++
		}
		c.progressWithout(victim, round)
		if pause {
			c.resume(victim)
		} else {
			require.NoError(t, c.start(victim), "restarting node %d", victim+1)
			c.restarts++
		}
	}
	// Let the cluster settle: everything acknowledged must reach everyone.
	c.waitConverged(30 * time.Second)
	c.stopAll()
	c.mu.Lock()
	acked, snapshots, restores := len(c.acked), c.snapshots, c.restores
	c.mu.Unlock()
	t.Logf("%s: %d rounds, %d kills, %d restarts, %d pauses, %d lines sent, %d acknowledged and checked, %d snapshots, %d restores",
		c.transport, rounds, c.kills, c.restarts, c.pauses, len(c.written), acked, snapshots, restores)
	require.Positive(t, acked, "some broadcasts must have been acknowledged")
	require.Positive(t, snapshots, "the nodes must have taken snapshots")
	require.Positive(t, restores, "restarted nodes must have restored snapshots")
}

// progressWithout writes lines to the nodes other than victim and waits
// until one of them is acknowledged: the cluster works on without it.
func (c *crashCluster) progressWithout(victim, round int) {
	var lines []string
	for k := range 10 {
		i := (victim + 1 + k%2) % 3
		line := fmt.Sprintf("r%d-without%d-m%d-via%d", round, victim+1, k, i+1)
		c.write(i, line)
		lines = append(lines, line)
	}
	c.waitFor(fmt.Sprintf("a line acknowledged while node %d is out", victim+1), 20*time.Second, func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, line := range lines {
			if _, ok := c.acked[line]; ok {
				return nil
			}
		}
		return errors.New("none yet")
	})
}

// waitConverged waits until every node has delivered every acknowledged
// line and all agree, checking the sequences each time a node prints or
// acknowledges something.
func (c *crashCluster) waitConverged(limit time.Duration) {
	c.waitFor("convergence", limit, c.check)
}

// waitFor waits until cond returns nil, re-evaluating it whenever a node
// prints or acknowledges a line, and fails the test after limit or as soon
// as a process exits on its own.
func (c *crashCluster) waitFor(what string, limit time.Duration, cond func() error) {
	c.t.Helper()
	timeout := time.After(limit)
	for {
		err := cond()
		if err == nil {
			return
		}
		select {
		case <-c.progress:
		case <-c.failed:
			c.t.Fatalf("%s: waiting for %s: a node exited on its own", c.transport, what)
		case <-timeout:
			c.t.Fatalf("%s: no %s after %v: %v", c.transport, what, limit, err)
		}
	}
}
