package raftlite_test

import (
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/raftlite/raftlite"
)

// A Simulation runs a cluster on virtual time: the same seed, the same
// history, every run. Its trace tells every event each node handled.
func ExampleSimulation() {
	sim, err := raftlite.NewSimulation(raftlite.SimulationConfig{Seed: 1})
	if err != nil {
		panic(err)
	}
	elected := func() bool { return sim.Status(2).Leader != raftlite.None }
	sim.RunUntil(elected, 10*time.Second)
	fmt.Printf("node %d leads term %d, at %v\n", sim.Status(2).Leader, sim.Status(2).Term, sim.Now())

	index, err := sim.Broadcast(3, []byte("hello"))
	fmt.Println("committed at", index, err)
	sim.Run(time.Second)
	for id := raftlite.NodeID(1); id <= 3; id++ {
		d := sim.Deliveries(id)
		fmt.Printf("node %d delivered %q at %d\n", id, d[0].Data, d[0].Index)
	}
	// Output:
	// node 1 leads term 1, at 150.730557ms
	// committed at 2 <nil>
	// node 1 delivered "hello" at 2
	// node 2 delivered "hello" at 2
	// node 3 delivered "hello" at 2
}

// ExampleSimulationConfig_trace traces a first election, event by event:
// node 1's timer fires first; it asks whether it could win (pre-vote),
// stands in term 1 once a majority says yes, and leads once a majority
// voted, each vote sent only after the voter saved it.
func ExampleSimulationConfig_trace() {
	sim, err := raftlite.NewSimulation(raftlite.SimulationConfig{Seed: 1, Trace: os.Stdout})
	if err != nil {
		panic(err)
	}
	sim.RunUntil(func() bool { return sim.Status(1).Role == raftlite.Leader }, time.Second)
	// Output:
	//   140.998ms  node 1 term 0 follower      onElectionTimeout
	//   140.998ms  node 1 term 0 pre-candidate   becomes pre-candidate (was follower)
	//   140.998ms  node 1 term 0 pre-candidate   send PreVoteRequest to 2: term 1, last entry 0 of term 0
	//   140.998ms  node 1 term 0 pre-candidate   send PreVoteRequest to 3: term 1, last entry 0 of term 0
	//   141.885ms  node 2 term 0 follower      onPreVoteRequest from 1: term 1, last entry 0 of term 0
	//   141.885ms  node 2 term 0 follower        send PreVoteResponse to 1: term 1, granted
	//   143.271ms  node 3 term 0 follower      onPreVoteRequest from 1: term 1, last entry 0 of term 0
	//   143.271ms  node 3 term 0 follower        send PreVoteResponse to 1: term 1, granted
	//   144.276ms  node 1 term 0 pre-candidate onPreVoteResponse from 2: term 1, granted
	//   144.276ms  node 1 term 1 candidate       becomes candidate in term 1 (was pre-candidate in term 0)
	//   144.276ms  node 1 term 1 candidate       save term 1, vote 1, commit 0
	//   144.276ms  node 1 term 1 candidate       send VoteRequest to 2 once saved: term 1, last entry 0 of term 0
	//   144.276ms  node 1 term 1 candidate       send VoteRequest to 3 once saved: term 1, last entry 0 of term 0
	//   144.971ms  node 1 term 1 candidate     onPersisted: term 1, vote 1; 2 held messages released
	//   145.173ms  node 1 term 1 candidate     onPreVoteResponse from 3: term 1, granted
	//   145.507ms  node 3 term 0 follower      onVoteRequest from 1: term 1, last entry 0 of term 0
	//   145.507ms  node 3 term 1 follower        moves to term 1 (was 0)
	//   145.507ms  node 3 term 1 follower        save term 1, vote 1, commit 0
	//   145.507ms  node 3 term 1 follower        send VoteResponse to 1 once saved: term 1, granted
	//   145.793ms  node 3 term 1 follower      onPersisted: term 1, vote 1; 1 held message released
	//   147.931ms  node 2 term 0 follower      onVoteRequest from 1: term 1, last entry 0 of term 0
	//   147.931ms  node 2 term 1 follower        moves to term 1 (was 0)
	//   147.931ms  node 2 term 1 follower        save term 1, vote 1, commit 0
	//   147.931ms  node 2 term 1 follower        send VoteResponse to 1 once saved: term 1, granted
	//   147.962ms  node 1 term 1 candidate     onVoteResponse from 3: term 1, granted
	//   147.962ms  node 1 term 1 leader          becomes leader (was candidate)
	//   147.962ms  node 1 term 1 leader          save entry 1 of term 1: configuration voters 1 2 3, disks of 1 2 3 recorded
	//   147.962ms  node 1 term 1 leader          send LogRequest to 2: term 1, after 0 of term 0, entry 1: configuration voters 1 2 3, disks of 1 2 3 recorded, commit 0
	//   147.962ms  node 1 term 1 leader          send LogRequest to 3: term 1, after 0 of term 0, entry 1: configuration voters 1 2 3, disks of 1 2 3 recorded, commit 0
}

// TestSimulationRefusesWhatItCannotDo: a bad configuration, an unknown
// node, and a broadcast on a stopped node are errors, not panics.
func TestSimulationRefusesWhatItCannotDo(t *testing.T) {
	_, err := raftlite.NewSimulation(raftlite.SimulationConfig{ElectionTimeout: time.Second, HeartbeatInterval: time.Second})
	assert.ErrorIs(t, err, raftlite.ErrInvalidConfig)
	_, err = raftlite.NewSimulation(raftlite.SimulationConfig{Nodes: -1})
	assert.ErrorIs(t, err, raftlite.ErrInvalidConfig)

	sim, err := raftlite.NewSimulation(raftlite.SimulationConfig{Nodes: 1})
	require.NoError(t, err)
	_, err = sim.Broadcast(2, []byte("nobody"))
	assert.ErrorIs(t, err, raftlite.ErrInvalidConfig)
	index, err := sim.Broadcast(1, []byte("alone"))
	require.NoError(t, err, "a cluster of one commits by itself")
	assert.Equal(t, raftlite.Leader, sim.Status(1).Role)
	require.NoError(t, sim.Stop(1))
	_, err = sim.Broadcast(1, []byte("stopped"))
	assert.ErrorIs(t, err, raftlite.ErrClosed)
	assert.Len(t, sim.Deliveries(1), 1)
	assert.Equal(t, index, sim.Deliveries(1)[0].Index)
}

// TestSimulationBroadcastGivesUpWithoutAQuorum: with two of three nodes
// stopped, a broadcast cannot commit, and says so as Node.Broadcast would.
func TestSimulationBroadcastGivesUpWithoutAQuorum(t *testing.T) {
	sim, err := raftlite.NewSimulation(raftlite.SimulationConfig{Seed: 5})
	require.NoError(t, err)
	require.NoError(t, sim.Stop(1))
	require.NoError(t, sim.Stop(2))
	_, err = sim.Broadcast(3, []byte("lost"))
	assert.True(t, errors.Is(err, raftlite.ErrOutcomeUnknown), "%v", err)
}
