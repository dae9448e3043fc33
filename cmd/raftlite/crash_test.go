//go:build unix

package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestKillNineCluster runs three `raftlite node` processes on 127.0.0.1 and,
// while a client writes lines to their stdins, kills nodes with SIGKILL,
// pauses them with SIGSTOP/SIGCONT and restarts them on their data
// directories. Meanwhile the membership changes (changePlan), through the
// admin endpoint of the node that leads: a new node joins (--join) and is
// added as a voter, a follower is removed and stopped, another node is
// added, and the leader is removed and stopped; each round that makes a
// change strikes its fault while the change is under way. At the end every
// line a node acknowledged must be delivered exactly once, at its
// acknowledged index, by every member, those added late included (from a
// snapshot, as they join behind the leader's compaction); all members must
// have delivered the same sequence, and each removed node a prefix of it;
// and the lines written to one life of a node must be delivered in the
// order they were written (FIFO). Every process must die only of our
// SIGKILL, or stop cleanly on SIGTERM when removed and at the end.
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
	deadline := time.Now().Add(150 * time.Second)
	for round := range rounds {
		require.True(t, time.Now().Before(deadline), "the test ran out of time")
		plan, changing := planFor(round, rounds)
		var ch *change
		if changing {
			ch = c.startChange(plan, rng.IntN)
		}
		writers := c.members()
		for k := range 40 {
			i := writers[rng.IntN(len(writers))]
			c.write(i, fmt.Sprintf("r%d-m%d-via%d", round, k, i+1))
		}
		// The fault strikes while those lines, and the change, are in
		// flight: an addition's once its entry is in the leader's log (a
		// removal commits too soon after to wait for it).
		if ch != nil && ch.kind == addVoter {
			c.waitAppended(ch)
		}
		victim := c.victim(plan, ch, rng.IntN)
		struck := ch != nil && !ch.finished.Load()
		pause := round%3 == 2
		if pause {
			c.pause(victim)
			if slices.Contains(c.members(), victim) {
				for k := range 5 {
					c.write(victim, fmt.Sprintf("r%d-paused%d-via%d", round, k, victim+1))
				}
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
		if ch != nil {
			c.finishChange(ch, struck)
		}
	}
	// Let the cluster settle: everything acknowledged must reach every
	// member.
	c.waitConverged(30 * time.Second)
	c.stopAll()
	c.mu.Lock()
	acked, snapshots, restores := len(c.acked), c.snapshots, c.restores
	c.mu.Unlock()
	t.Logf("%s: %d rounds, %d kills, %d restarts, %d pauses, %d membership changes (%d struck under way), "+
		"%d lines sent, %d acknowledged and checked, %d snapshots, %d restores",
		c.transport, rounds, c.kills, c.restarts, c.pauses, c.changes, c.struck, len(c.written), acked, snapshots, restores)
	require.Positive(t, acked, "some broadcasts must have been acknowledged")
	require.Positive(t, snapshots, "the nodes must have taken snapshots")
	if !testing.Short() {
		// Two short rounds (quic, -short) do not always leave a
		// restarted node behind a snapshot; the full run always does.
		require.Positive(t, restores, "restarted nodes must have restored snapshots")
	}
	require.Positive(t, c.changes, "the membership must have changed")
	require.Positive(t, c.struck, "a fault must have struck a membership change under way")
}

// progressWithout writes lines to the members other than victim and waits
// until one of them is acknowledged: the cluster works on without it.
func (c *crashCluster) progressWithout(victim, round int) {
	writers := slices.DeleteFunc(c.members(), func(i int) bool { return i == victim })
	var lines []string
	for k := range 10 {
		i := writers[k%len(writers)]
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

// waitConverged waits until every member has delivered every acknowledged
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
