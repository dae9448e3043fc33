package raftlite

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// traceLine is the form of every line of the learning trace, after the
// driver's prefix: the node, its term and role, then an event (a handler's
// name, flush left) or an effect (indented).
var traceLine = regexp.MustCompile(`^node \d+ term \d+ (follower|pre-candidate|candidate|leader) +(on[A-Z]\w*|stops|  \S)`)

// TestSimulatorTraceIsTheSameForTheSameSeed runs the fault-injecting
// simulator twice on one seed and once on another: the first two traces
// are the same bytes, the third differs. Nothing in the trace may depend
// on a clock or on a map's order.
func TestSimulatorTraceIsTheSameForTheSameSeed(t *testing.T) {
	first, again, other := simulatorTrace(t, 3), simulatorTrace(t, 3), simulatorTrace(t, 4)
	requireSameTrace(t, first, again)
	assert.NotEqual(t, first, other, "another seed, another history")
	assert.Contains(t, string(first), "onLogRequest from")
	nodeLine := regexp.MustCompile(`^node \d+ term \d+ `) // the simulator's own lines say other things
	lines := 0
	for _, line := range strings.Split(strings.TrimSuffix(string(first), "\n"), "\n") {
		_, rest, _ := strings.Cut(line, ": ") // the simulator's time and step
		if nodeLine.MatchString(rest) {
			require.Regexp(t, traceLine, rest)
			lines++
		}
	}
	assert.Greater(t, lines, 1000)
}

// TestSimulationTraceIsTheSameForTheSameSeed: the exported Simulation,
// which the demo runs, traces the same bytes for the same seed and
// calls, and others for another seed.
func TestSimulationTraceIsTheSameForTheSameSeed(t *testing.T) {
	first, again, other := simulationTrace(t, 1), simulationTrace(t, 1), simulationTrace(t, 2)
	requireSameTrace(t, first, again)
	assert.NotEqual(t, first, other, "another seed, another history")
}

// simulationTrace runs a failover on a Simulation and returns its trace.
func simulationTrace(t *testing.T, seed uint64) []byte {
	var b bytes.Buffer
	sm, err := NewSimulation(SimulationConfig{Seed: seed, Trace: &b})
	require.NoError(t, err)
	leader := func() NodeID {
		for id := NodeID(1); id <= 3; id++ {
			if s := sm.Status(id); s.Role == Leader && !sm.nodes[id-1].stopped {
				return id
			}
		}
		return None
	}
	require.True(t, sm.RunUntil(func() bool { return leader() != None }, 10*time.Second))
	_, err = sm.Broadcast(1, []byte("one"))
	require.NoError(t, err)
	require.NoError(t, sm.Stop(leader()))
	sm.Run(50 * time.Millisecond)
	require.True(t, sm.RunUntil(func() bool { return leader() != None }, 10*time.Second))
	for id := NodeID(1); id <= 3; id++ {
		if !sm.nodes[id-1].stopped {
			_, err = sm.Broadcast(id, []byte("two"))
			require.NoError(t, err)
		}
	}
	for _, line := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		_, rest, _ := strings.Cut(line, "ms  ") // the virtual time
		require.Regexp(t, traceLine, rest)
	}
	return b.Bytes()
}

func simulatorTrace(t *testing.T, seed uint64) []byte {
	var b bytes.Buffer
	r := runSimulation(seed, simOptions{trace: &b})
	require.Empty(t, r.failure)
	return b.Bytes()
}

func requireSameTrace(t *testing.T, a, b []byte) {
	t.Helper()
	require.NotEmpty(t, a)
	if bytes.Equal(a, b) {
		return
	}
	la, lb := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := range min(len(la), len(lb)) {
		if la[i] != lb[i] {
			t.Fatalf("the traces of one seed differ at line %d:\n%s\n%s", i+1, la[i], lb[i])
		}
	}
	t.Fatalf("the traces of one seed differ in length: %d and %d lines", len(la), len(lb))
}

// TestTraceNamesTheCoresHandlers: every event the trace names is a method
// of the core, so that a reader finds it beside the others in events.go.
func TestTraceNamesTheCoresHandlers(t *testing.T) {
	methods := map[string]bool{}
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		require.NoError(t, err)
		for _, d := range f.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv != nil {
				if star, ok := fn.Recv.List[0].Type.(*ast.StarExpr); ok && star.X.(*ast.Ident).Name == "core" {
					methods[fn.Name.Name] = true
				}
			}
		}
	}
	handler := regexp.MustCompile(`(?m)^ *[\d.]+ms  node \d+ term \d+ \S+ +(on[A-Z]\w*)`)
	seen := map[string]bool{}
	for _, m := range handler.FindAllStringSubmatch(string(simulationTrace(t, 1)), -1) {
		seen[m[1]] = true
	}
	for _, kind := range []MessageKind{MsgVoteRequest, MsgLogRequest, MsgSnapshot, MsgPreVoteResponse, MsgReadIndex, MsgReadIndexResponse} {
		seen[handlerOf(kind)] = true
	}
	for _, h := range []string{"onElectionTimeout", "onTick", "onBroadcast", "onPersisted", "onReadIndex", "onFetched", "onSnapshotRead", "onSnapshotTaken"} {
		seen[h] = true // what the drivers name by hand
	}
	require.Contains(t, seen, "onLogResponse")
	for h := range seen {
		assert.True(t, methods[h], "the trace names %s, which is no method of core", h)
	}
}

// TestTracingOffCostsNothing: with no trace, the calls the Node makes on
// every event allocate nothing.
func TestTracingOffCostsNothing(t *testing.T) {
	var tr *tracer
	c := newCore(coreConfig{id: 1, peers: []NodeID{1, 2, 3}, electionTimeout: time.Second, heartbeatInterval: 100 * time.Millisecond},
		HardState{}, bootInMemory(SnapshotMeta{}, nil, 0), rand.New(rand.NewPCG(1, 1)))
	m := Message{Kind: MsgLogRequest, From: 2, To: 1, Term: 1}
	rd := ready{}
	d := Delivery{Index: 1}
	allocs := testing.AllocsPerRun(100, func() {
		tr.message(c, &m)
		tr.tickEvent(c)
		tr.event(c, "onElectionTimeout")
		tr.broadcast(c, nil)
		tr.ready(c, &rd)
		tr.persisted(c, &saveBatch{})
		tr.deliver(c, &d)
	})
	assert.Zero(t, allocs)
}
