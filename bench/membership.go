package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/raftlite/raftlite"
)

// Join starts the next spare node (Setup.Spares) as a node that is not yet
// a member (Config.Join), and returns it (from 0). Its application, or its
// record of deliveries, starts empty: it delivers everything from a
// snapshot or from the log once the leader adds it.
func (c *Cluster) Join() (int, error) {
	i := len(c.nodes)
	if i >= c.setup.voters()+c.setup.Spares {
		return 0, fmt.Errorf("bench: no spare node left (Setup.Spares is %d)", c.setup.Spares)
	}
	c.nodes, c.stopped, c.reading = append(c.nodes, nil), append(c.stopped, true), append(c.reading, nil)
	c.disks, c.syncs = append(c.disks, nil), append(c.syncs, nil)
	c.joined, c.removed = append(c.joined, true), append(c.removed, false)
	if c.apps != nil {
		c.apps = append(c.apps, &app{stateBytes: c.setup.StateBytes, auto: c.setup.SnapshotEvery != math.MaxUint64})
	} else {
		c.mu.Lock()
		c.seen = append(c.seen, nil)
		c.mu.Unlock()
	}
	return i, c.startNode(i)
}

// addr is node i's transport address, as the configuration records it.
func (c *Cluster) addr(i int) string {
	id := raftlite.NodeID(i + 1)
	return c.net.peers(id)[id]
}

// change makes a membership change on whichever node leads, asking again
// while a change is in progress or leadership moves.
func (c *Cluster) change(ctx context.Context, ch raftlite.MembershipChange) error {
	for {
		l, err := c.leader(ctx)
		if err != nil {
			return err
		}
		err = c.nodes[l].ChangeMembership(ctx, ch)
		if !errors.Is(err, raftlite.ErrChangeInProgress) && !errors.Is(err, raftlite.ErrNotLeader) &&
			!errors.Is(err, raftlite.ErrChangeLost) {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Remove removes node i from the cluster, handing leadership over first if
// it leads (to the follower furthest along), and stops it.
func (c *Cluster) Remove(ctx context.Context, i int) error {
	if st := c.nodes[i].Status(); st.Role == raftlite.Leader {
		if err := c.nodes[i].TransferLeadership(ctx, raftlite.None); err != nil {
			return fmt.Errorf("bench: handing over from node %d: %w", i+1, err)
		}
	}
	if err := c.change(ctx, raftlite.MembershipChange{Op: raftlite.Remove, ID: raftlite.NodeID(i + 1)}); err != nil {
		return fmt.Errorf("bench: removing node %d: %w", i+1, err)
	}
	c.removed[i] = true
	return c.Stop(i)
}

// AddVoterResult is how a node that joined became a voter and caught up.
type AddVoterResult struct {
	Node int // from 1
	// Commit is the leader's commit index when ChangeMembership was
	// called: what the new node must deliver.
	Commit uint64
	// LeaderSnapshot is the index of the leader's latest snapshot then:
	// the new node is sent it and the entries after it.
	LeaderSnapshot uint64
	// Voter is the time from the call until ChangeMembership returned: the
	// node is a voter in the committed configuration. Delivered is the
	// time from the call until the node had delivered everything up to
	// Commit. Took is the later of the two.
	Voter, Delivered, Took time.Duration
	// Restores is how many snapshots the new node's application restored;
	// Messages how many messages it applied one by one.
	Restores, Messages int
}

// AddVoter starts a spare node with Config.Join and adds it as a voter
// (ChangeMembership on the leader), measuring from the call until the node
// is a voter and has delivered everything the cluster had committed when
// it was called. The cluster needs Setup.SnapshotEvery's applications.
func (c *Cluster) AddVoter(ctx context.Context) (AddVoterResult, error) {
	var res AddVoterResult
	if c.apps == nil {
		return res, errors.New("bench: AddVoter needs the applications of Setup.SnapshotEvery")
	}
	i, err := c.Join()
	if err != nil {
		return res, err
	}
	res.Node = i + 1
	l, err := c.leader(ctx)
	if err != nil {
		return res, err
	}
	st := c.nodes[l].Status()
	res.Commit, res.LeaderSnapshot = st.CommitIndex, st.SnapshotIndex
	// Delivered is watched from the call on, on a goroutine of its own:
	// the node may deliver everything before it is made a voter.
	delivered := make(chan time.Duration, 1)
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	t0 := time.Now()
	go func() {
		err := poll(watchCtx, 100*time.Microsecond, func() bool { return c.nodes[i].Status().Delivered >= res.Commit })
		if err != nil {
			close(delivered)
			return
		}
		delivered <- time.Since(t0)
	}()
	err = c.nodes[l].ChangeMembership(ctx, raftlite.MembershipChange{Op: raftlite.AddVoter, ID: raftlite.NodeID(i + 1), Addr: c.addr(i)})
	res.Voter = time.Since(t0)
	if err != nil {
		return res, fmt.Errorf("bench: adding node %d: %w", i+1, err)
	}
	d, ok := <-delivered
	if !ok {
		return res, fmt.Errorf("bench: node %d delivered up to %d of %d: %w", i+1, c.nodes[i].Status().Delivered, res.Commit, ctx.Err())
	}
	res.Delivered, res.Took = d, max(d, res.Voter)
	if _, err := c.applied(ctx, i, res.Commit); err != nil {
		return res, err
	}
	app := c.apps[i].state()
	res.Restores, res.Messages = app.restores, app.messages
	return res, c.Agree(ctx)
}

// ReplaceResult is a rolling replacement of every node of the cluster
// under a steady load: the commits around each step.
type ReplaceResult struct {
	// Baseline is the longest gap between consecutive commits in the
	// window before the first change: the load's own jitter.
	Baseline time.Duration
	// Steps is one per node replaced, in order.
	Steps []ReplaceStep
	// Pause is the longest gap between consecutive commits from the first
	// change to the end of the window after the last; PauseAt is the step
	// it fell in (from 1), 0 if in the window after the last.
	Pause   time.Duration
	PauseAt int
	// TermRise is how far the term rose from the first change to the
	// end: one for each election, the transfers' included.
	TermRise uint64
	Commits  int
}

// ReplaceStep is the replacement of one node.
type ReplaceStep struct {
	Old, New int // from 1
	OldLed   bool
	// Add is how long the new node took to become a voter (from the
	// ChangeMembership call); Remove how long the old one's removal took,
	// its leadership transfer included.
	Add, Remove time.Duration
	// Pause is the longest gap between commits that ends during the step.
	Pause time.Duration
}

// replaceClients and replacePace make Replace's steady load, as Rejoin's.
const (
	replaceClients = 4
	replacePace    = time.Millisecond
)

// Replace replaces each of the three nodes the cluster started with, in
// turn, under a steady load (replaceClients, each resting replacePace
// after each commit): a spare node joins and is added as a voter, then the
// old node is removed (handing leadership over first if it leads) and
// stopped. It measures the gaps between consecutive commits, with window of
// load before the first change and after the last. The clients broadcast
// on the node added last (before the first, on node 3), which forwards to
// the leader: never on a node about to be removed. The broadcasts count
// for Verify. The setup needs Spares of 3 or more.
func (c *Cluster) Replace(ctx context.Context, window time.Duration) (ReplaceResult, error) {
	var res ReplaceResult
	if c.setup.Spares < 3 {
		return res, errors.New("bench: Replace needs three spare nodes (Setup.Spares)")
	}
	var target sync.Mutex // guards on
	on := c.nodes[2]
	targetNow := func() *raftlite.Node {
		target.Lock()
		defer target.Unlock()
		return on
	}
	load := c.startPaced(replaceClients, func(k int, stopping <-chan struct{}, cl *pacedClient) error {
		return c.paced(ctx, targetNow, k, stopping, cl)
	})
	defer load.stop()
	sleep := func(d time.Duration) error { return sleepCtx(ctx, d) }

	errs := []error{sleep(window)}
	begin, term := time.Now(), c.term()
	var ends []time.Time // of each step
	for old := range 3 {
		if err := errors.Join(errs...); err != nil {
			break
		}
		step := ReplaceStep{Old: old + 1}
		i, err := c.Join()
		if err != nil {
			errs = append(errs, err)
			break
		}
		step.New = i + 1
		t0 := time.Now()
		if err := c.change(ctx, raftlite.MembershipChange{Op: raftlite.AddVoter, ID: raftlite.NodeID(i + 1), Addr: c.addr(i)}); err != nil {
			errs = append(errs, fmt.Errorf("bench: adding node %d: %w", i+1, err))
			break
		}
		step.Add = time.Since(t0)
		target.Lock()
		on = c.nodes[i]
		target.Unlock()
		step.OldLed = c.nodes[old].Status().Role == raftlite.Leader
		t0 = time.Now()
		errs = append(errs, c.Remove(ctx, old))
		step.Remove = time.Since(t0)
		ends = append(ends, time.Now())
		res.Steps = append(res.Steps, step)
	}
	errs = append(errs, sleep(window))
	end := time.Now()
	commits, err := load.finish(c, errs)
	res.TermRise = c.term() - term
	if err != nil {
		return res, err
	}
	res.Commits = len(commits)
	res.Baseline, _ = longestGap(within(commits, begin.Add(-window), begin), begin.Add(-window), begin)
	from := begin
	for k, to := range ends {
		res.Steps[k].Pause, _ = longestGap(commits, from, to)
		from = to
	}
	var at time.Time
	res.Pause, at = longestGap(append(within(commits, time.Time{}, end), end), begin, end)
	for k, to := range ends {
		if at.Before(to) {
			res.PauseAt = k + 1
			break
		}
	}
	return res, c.settle(ctx)
}

// paced is one client of a steady load, as Rejoin's: it broadcasts on the
// node target returns, waits for the commit, records when it came and
// what, and rests for replacePace, until stopping closes.
func (c *Cluster) paced(ctx context.Context, target func() *raftlite.Node, k int, stopping <-chan struct{}, cl *pacedClient) error {
	payload := make([]byte, max(c.setup.Size, 32))
	for j := 0; ; j++ {
		// "client/seq|" makes every payload unique, as runClient's do.
		n := copy(payload, fmt.Sprintf("r%d/%d|", k, j))
		for p := n; p < len(payload); p++ {
			payload[p] = 'x'
		}
		idx, err := target().Broadcast(ctx, payload)
		if err != nil {
			return fmt.Errorf("bench: client %d: %w", k, err)
		}
		cl.note(idx, payload)
		select {
		case <-stopping:
			return nil
		case <-time.After(replacePace):
		}
	}
}
