package bench

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/raftlite/raftlite"
)

// RejoinResult is one round of Rejoin: the commits of a steady load on
// the leader around the return of a follower that was cut off.
type RejoinResult struct {
	// Leader and Follower are the leader when the follower was cut off and
	// the follower, from 1.
	Leader, Follower int
	// Baseline is the longest gap between consecutive commits both in the
	// window before the follower was cut off: the load's own jitter.
	Baseline time.Duration
	// WhileCut is the longest gap between commits both made while the
	// follower was cut off.
	WhileCut time.Duration
	// Pause is the longest gap between consecutive commits that ends after
	// the heal and begins before the window after it ends (the last commit
	// of the window to its end counts if no commit follows).
	Pause time.Duration
	// PauseAt is when that gap began, after the heal (negative: before).
	PauseAt time.Duration
	// StrandedTerms is how many terms the follower went through while cut
	// off: none with pre-vote, whose pre-candidate raises no term until it
	// could win.
	StrandedTerms uint64
	// Elections is how many leaders were elected, each in a term of its
	// own, from the heal to the end of the window after it; TermRise is
	// how far the leaders' term rose meanwhile.
	Elections int
	TermRise  uint64
	// Commits is how many broadcasts committed during the round.
	Commits int
}

// rejoinClients and rejoinPace make Rejoin's steady load: each client
// broadcasts, waits for the commit, then rests for the pace, so that
// commits come every few hundred microseconds without the load taking
// the machine's cores from the nodes' timers.
const (
	rejoinClients = 4
	rejoinPace    = time.Millisecond
)

// Rejoin runs a steady load of broadcasts on the leader for window, cuts a
// follower off for cut (Isolate; the setup needs Partitions), heals, and
// runs it for window more; it measures the gaps between commits and
// watches the nodes' roles and terms every millisecond. Then it waits
// until every node follows one leader in one term. The broadcasts count
// for Verify.
func (c *Cluster) Rejoin(ctx context.Context, cut, window time.Duration) (RejoinResult, error) {
	l, err := c.leader(ctx)
	if err != nil {
		return RejoinResult{}, err
	}
	f := (l + 1) % len(c.nodes)
	res := RejoinResult{Leader: l + 1, Follower: f + 1}
	watch := c.watchTerms(ctx)

	load := c.startPaced(rejoinClients, func(k int, stopping <-chan struct{}, cl *pacedClient) error {
		return c.runClient(ctx, c.nodes[l], k, -1, func(index uint64, payload []byte, _ time.Duration) bool {
			cl.note(index, payload)
			select {
			case <-stopping:
				return false
			case <-time.After(rejoinPace):
				return true
			}
		})
	})
	defer load.stop()
	sleep := func(d time.Duration) error { return sleepCtx(ctx, d) }

	errs := []error{sleep(window)}
	cutAt := time.Now()
	stranded := c.nodes[f].Status().Term
	errs = append(errs, c.Isolate(f), sleep(cut))
	res.StrandedTerms = c.nodes[f].Status().Term - stranded
	healAt := time.Now()
	c.Heal()
	errs = append(errs, sleep(window))
	end := time.Now()
	commits, err := load.finish(c, errs)
	seen := watch()
	if err != nil {
		return res, err
	}
	res.Commits = len(commits)
	res.Baseline, _ = longestGap(within(commits, cutAt.Add(-window), cutAt), cutAt.Add(-window), cutAt)
	res.WhileCut, _ = longestGap(within(commits, cutAt, healAt), cutAt, healAt)
	var from time.Time
	res.Pause, from = longestGap(append(within(commits, time.Time{}, end), end), healAt, end)
	res.PauseAt = from.Sub(healAt)
	res.Elections, res.TermRise = seen.electedSince(healAt)
	return res, c.settle(ctx)
}

// pacedClient is one client of a paced load: when each of its broadcasts
// was acknowledged, what Verify must find, and why it stopped early.
type pacedClient struct {
	at   []time.Time
	acks []ack
	err  error
}

// note records a broadcast of payload acknowledged at index.
func (cl *pacedClient) note(index uint64, payload []byte) {
	cl.at = append(cl.at, time.Now())
	cl.acks = append(cl.acks, ack{index, maphash.Bytes(hashSeed, payload)})
}

// pacedLoad is clients broadcasting one at a time with a pause between,
// so that the time between commits shows how long the cluster paused.
type pacedLoad struct {
	stop    func() // idempotent
	wg      sync.WaitGroup
	clients []pacedClient
}

// startPaced starts n clients, numbered from the cluster's next client
// number, each running run until stopping closes. A client stops between
// broadcasts, once its current one is acknowledged: Verify wants every
// broadcast that may commit.
func (c *Cluster) startPaced(n int, run func(k int, stopping <-chan struct{}, cl *pacedClient) error) *pacedLoad {
	stopping := make(chan struct{})
	p := &pacedLoad{stop: sync.OnceFunc(func() { close(stopping) }), clients: make([]pacedClient, n)}
	first := c.clients
	c.clients += n
	for k := range p.clients {
		cl := &p.clients[k]
		p.wg.Go(func() { cl.err = run(first+k, stopping, cl) })
	}
	return p
}

// finish stops the load and waits for its clients. With errs and theirs
// all nil, it hands their broadcasts to Verify and returns when each was
// acknowledged, in order.
func (p *pacedLoad) finish(c *Cluster, errs []error) ([]time.Time, error) {
	p.stop()
	p.wg.Wait()
	var commits []time.Time
	for _, cl := range p.clients {
		errs = append(errs, cl.err)
		commits = append(commits, cl.at...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, cl := range p.clients {
		c.acked = append(c.acked, cl.acks...)
	}
	slices.SortFunc(commits, func(a, b time.Time) int { return a.Compare(b) })
	return commits, nil
}

// sleepCtx waits for d, or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// longestGap returns the longest gap between consecutive times of sorted
// ts that ends after from and begins before to, and where it begins.
func longestGap(ts []time.Time, from, to time.Time) (time.Duration, time.Time) {
	var gap time.Duration
	var at time.Time
	for k := 1; k < len(ts); k++ {
		if ts[k].After(from) && ts[k-1].Before(to) && ts[k].Sub(ts[k-1]) > gap {
			gap, at = ts[k].Sub(ts[k-1]), ts[k-1]
		}
	}
	return gap, at
}

// within returns the times of sorted ts from from to to.
func within(ts []time.Time, from, to time.Time) []time.Time {
	i := sort.Search(len(ts), func(i int) bool { return !ts[i].Before(from) })
	j := sort.Search(len(ts), func(i int) bool { return ts[i].After(to) })
	return ts[i:j:j]
}

// leadership is a node seen leading a term.
type leadership struct {
	at   time.Time // first seen
	term uint64
	id   raftlite.NodeID
}

type leaderships []leadership

// electedSince returns how many leaders were first seen at or after t, in
// terms above that of the last one seen before it, and how far their term
// rose above it.
func (ls leaderships) electedSince(t time.Time) (int, uint64) {
	var before uint64
	for _, l := range ls {
		if l.at.Before(t) {
			before = max(before, l.term)
		}
	}
	n, top := 0, before
	for _, l := range ls {
		if !l.at.Before(t) && l.term > before {
			n++
			top = max(top, l.term)
		}
	}
	return n, top - before
}

// watchTerms polls the nodes' Status every millisecond and records each
// leadership the first time it is seen, until the returned function is
// called.
func (c *Cluster) watchTerms(ctx context.Context) (stop func() leaderships) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan leaderships)
	go func() {
		var seen leaderships
		known := map[uint64]bool{}
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			for i, n := range c.nodes {
				if c.stopped[i] {
					continue
				}
				if st := n.Status(); st.Role == raftlite.Leader && !known[st.Term] {
					known[st.Term] = true
					seen = append(seen, leadership{at: time.Now(), term: st.Term, id: st.ID})
				}
			}
			select {
			case <-ctx.Done():
				done <- seen
				return
			case <-tick.C:
			}
		}
	}()
	return func() leaderships {
		cancel()
		return <-done
	}
}

// settle waits until every running node is in one term with one leader,
// which every other running node follows.
func (c *Cluster) settle(ctx context.Context) error {
	var last string
	err := poll(ctx, 5*time.Millisecond, func() bool {
		var term uint64
		var leader raftlite.NodeID
		last = ""
		for i, n := range c.nodes {
			if c.stopped[i] {
				continue
			}
			st := n.Status()
			last += fmt.Sprintf(" node %d: term %d, %v, leader %d;", st.ID, st.Term, st.Role, st.Leader)
			if term == 0 {
				term, leader = st.Term, st.Leader
			}
			if st.Term != term || st.Leader != leader || leader == raftlite.None {
				return false
			}
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("bench: the cluster did not settle:%s %w", last, err)
	}
	return nil
}
