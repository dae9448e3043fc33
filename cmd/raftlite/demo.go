package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/raftlite/raftlite"
)

// The demo's timing: short, so that it runs in about a second.
const (
	demoElection  = 150 * time.Millisecond
	demoHeartbeat = 30 * time.Millisecond
)

// runDemo starts three nodes, lets them elect a leader, broadcasts from
// each, stops the leader, lets the others elect another, broadcasts again,
// and prints what every node delivered: the same sequence everywhere. It
// tells what happens as it goes; -v adds the learning trace on stderr,
// and -sim runs the same story on virtual time, the same for a -seed every
// run.
func runDemo(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	verbose := fs.Bool("v", false, "print the trace of every event each node handles and what it does (on stderr)")
	simulate := fs.Bool("sim", false, "run in the simulator, on virtual time: the same seed tells the same story and trace every run")
	seed := fs.Uint64("seed", 1, "the simulator's seed (with -sim)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var trace io.Writer
	if *verbose {
		trace = &lockedWriter{w: stderr}
	}
	var c demoCluster
	var err error
	if *simulate {
		c, err = startSimDemo(*seed, trace)
	} else {
		c, err = startNodeDemo(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), trace)
	}
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = (&narrator{c: c, w: stdout}).tell(ctx)
	if closeErr := c.close(); err == nil {
		err = closeErr
	}
	return err
}

// demoCluster is the three nodes the demo's story happens to: real Nodes
// on an in-process network, or a Simulation.
type demoCluster interface {
	ids() []raftlite.NodeID
	status(id raftlite.NodeID) raftlite.Status
	// elapsed is the time since the cluster started (virtual, simulated).
	elapsed() time.Duration
	// await lets the cluster run until done returns true; it fails with
	// what it waited for if that takes too long.
	await(ctx context.Context, what string, done func() bool) error
	broadcast(ctx context.Context, id raftlite.NodeID, msg string) (uint64, error)
	stop(id raftlite.NodeID) error
	// delivered returns what node id delivered, in order. The running
	// nodes' lists are complete only after close.
	delivered(id raftlite.NodeID) []string
	close() error
}

// narrator tells the demo's story as it makes it happen.
type narrator struct {
	c         demoCluster
	w         io.Writer
	committed uint64          // the highest index a broadcast committed at
	stopped   raftlite.NodeID // the leader the story stops, once it has
}

func (n *narrator) say(format string, args ...any) { fmt.Fprintf(n.w, format+"\n", args...) }

func (n *narrator) tell(ctx context.Context) error {
	n.say("Three nodes start as followers with empty logs. Each waits a random election timeout (%v to %v)\n"+
		"to hear from a leader; the first whose timer fires asks the others whether it could win (pre-vote),\n"+
		"then stands for election in a new term. A node votes once per term, for a log at least as\n"+
		"up to date as its own.", demoElection, 2*demoElection)
	if _, err := n.election(ctx, "election"); err != nil {
		return err
	}
	n.say("\nreplication: each node broadcasts a message. A follower forwards its message to the leader; the\n" +
		"leader appends it to its log and sends it to the followers, which save it and acknowledge; once a\n" +
		"majority has it on disk it is committed, and every node delivers it, at the same index.")
	if err := n.broadcastFromEach(ctx, "hello from node %d"); err != nil {
		return err
	}
	if err := n.allCommitted(ctx); err != nil {
		return err
	}
	// The leader as of now: on a loaded machine, a slow heartbeat may
	// have let another node take over since the election.
	leader, _, err := n.settledLeader(ctx)
	if err != nil {
		return err
	}
	n.say("\nfailure: stopping the leader, node %d, at %v. The others stop hearing its heartbeats; when the\n"+
		"first one's election timer fires, it stands in a new term. Two of three nodes are a majority,\n"+
		"so the survivors can elect a leader and commit without it.", leader, n.at())
	if err := n.c.stop(leader); err != nil {
		return err
	}
	n.stopped = leader
	if _, err := n.election(ctx, "new election"); err != nil {
		return err
	}
	n.say("\nreplication again, without node %d:", leader)
	if err := n.broadcastFromEach(ctx, "after the failover, from node %d"); err != nil {
		return err
	}
	if err := n.allCommitted(ctx); err != nil {
		return err
	}
	if err := n.c.await(ctx, "deliveries", n.deliveredAll); err != nil {
		return err
	}
	if err := n.c.close(); err != nil {
		return err
	}
	n.agreement()
	return nil
}

// election waits until a running node leads and the others follow it,
// and tells the outcome.
func (n *narrator) election(ctx context.Context, stage string) (raftlite.NodeID, error) {
	leader, stood, err := n.settledLeader(ctx)
	if err != nil {
		return 0, err
	}
	term := n.c.status(leader).Term
	delete(stood, leader)
	others := n.followersOf(leader)
	n.say("\n%s: node %d stood for election in term %d and won a majority of the votes, at %v; %s it.",
		stage, leader, term, n.at(), nodesVerb(others, "follows", "follow"))
	n.say("  Its first entry is of its own term, so that entries of earlier terms commit beneath it (Raft §5.4.2):\n" +
		"  a no-op, or here a configuration entry recording the disk each member runs on, so that a node\n" +
		"  whose disk is wiped cannot vote twice. Such entries take an index but are never delivered.")
	if len(stood) > 0 {
		ids := slices.Sorted(maps.Keys(stood))
		n.say("  (%s too, but lost: a node that votes for one candidate refuses the others)", nodesVerb(ids, "stood", "stood"))
	}
	n.say("node %d leads term %d", leader, term)
	return leader, nil
}

// settledLeader waits until one running node leads and the others follow
// it in its term, and returns it with the nodes seen standing for election
// meanwhile.
func (n *narrator) settledLeader(ctx context.Context) (raftlite.NodeID, map[raftlite.NodeID]bool, error) {
	stood := map[raftlite.NodeID]bool{}
	var leader raftlite.NodeID
	settled := func() bool {
		leader = raftlite.None
		for _, id := range n.running() {
			if r := n.c.status(id).Role; r == raftlite.Candidate || r == raftlite.PreCandidate {
				stood[id] = true
			}
		}
		for _, id := range n.running() {
			s := n.c.status(id)
			if s.Role == raftlite.Leader {
				if leader != raftlite.None {
					return false
				}
				leader = id
			}
		}
		if leader == raftlite.None {
			return false
		}
		for _, id := range n.running() {
			if s := n.c.status(id); id != leader && (s.Leader != leader || s.Term != n.c.status(leader).Term) {
				return false
			}
		}
		return true
	}
	if err := n.c.await(ctx, "a leader", settled); err != nil {
		return 0, nil, err
	}
	return leader, stood, nil
}

// broadcastFromEach broadcasts format (given the node's id) from every
// running node in turn.
func (n *narrator) broadcastFromEach(ctx context.Context, format string) error {
	for _, id := range n.running() {
		msg := fmt.Sprintf(format, id)
		index, err := n.c.broadcast(ctx, id, msg)
		if err != nil {
			return fmt.Errorf("broadcast from node %d: %w", id, err)
		}
		n.committed = max(n.committed, index)
		n.say("node %d (%s) broadcast %q: committed at index %d", id, n.c.status(id).Role, msg, index)
	}
	return nil
}

// allCommitted waits until every running node knows that everything
// broadcast so far committed, and says so.
func (n *narrator) allCommitted(ctx context.Context) error {
	done := func() bool {
		for _, id := range n.running() {
			if n.c.status(id).CommitIndex < n.committed {
				return false
			}
		}
		return true
	}
	if err := n.c.await(ctx, "commits", done); err != nil {
		return err
	}
	n.say("  %s the log up to index %d, committed.",
		nodesVerb(n.running(), "holds", "hold"), n.committed)
	return nil
}

func (n *narrator) deliveredAll() bool {
	for _, id := range n.running() {
		if n.c.status(id).Delivered < n.committed {
			return false
		}
	}
	return true
}

// agreement prints what each node delivered, and whether they agree.
func (n *narrator) agreement() {
	n.say("\nagreement: what each node delivered, in order:")
	survivors := n.running()
	for _, id := range n.c.ids() {
		note := ""
		if id == n.stopped {
			note = " (stopped before the failover)"
		}
		fmt.Fprintf(n.w, "node %d delivered%s:\n", id, note)
		for i, msg := range n.c.delivered(id) {
			fmt.Fprintf(n.w, "  %d. %s\n", i+1, msg)
		}
	}
	ref := n.c.delivered(survivors[0])
	same := true
	for _, id := range survivors[1:] {
		same = same && slices.Equal(n.c.delivered(id), ref)
	}
	stopped := n.c.delivered(n.stopped)
	prefix := len(stopped) <= len(ref) && slices.Equal(stopped, ref[:len(stopped)])
	switch {
	case same && prefix:
		n.say("%s the same %d messages in the same order; node %d delivered the first %d of them before it stopped.",
			nodesVerb(survivors, "delivered", "delivered"), len(ref), n.stopped, len(stopped))
	default:
		n.say("THE NODES DISAGREE: this is a bug; please report it.")
	}
}

func (n *narrator) running() []raftlite.NodeID {
	var ids []raftlite.NodeID
	for _, id := range n.c.ids() {
		if id != n.stopped {
			ids = append(ids, id)
		}
	}
	return ids
}

func (n *narrator) followersOf(leader raftlite.NodeID) []raftlite.NodeID {
	var ids []raftlite.NodeID
	for _, id := range n.running() {
		if id != leader {
			ids = append(ids, id)
		}
	}
	return ids
}

// at is the time since the start, in milliseconds.
func (n *narrator) at() string {
	return fmt.Sprintf("%dms", n.c.elapsed().Milliseconds())
}

// nodesVerb says "node 1 follows", "nodes 1 and 3 follow" or "nodes 1, 2
// and 3 follow".
func nodesVerb(ids []raftlite.NodeID, one, many string) string {
	names := make([]string, len(ids))
	for i, id := range ids {
		names[i] = fmt.Sprint(id)
	}
	switch len(ids) {
	case 0:
		return "no node " + one
	case 1:
		return "node " + names[0] + " " + one
	}
	return "nodes " + strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1] + " " + many
}
