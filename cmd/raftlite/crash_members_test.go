//go:build unix

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/internal/loopback"
	"github.com/stretchr/testify/require"
)

// The kill -9 test's membership changes: nodes join and are added as
// voters, members are removed and stopped, each through the admin endpoint
// of the node that leads, while kills and pauses strike.

// changeKind is a membership change a round of the kill -9 test makes.
type changeKind int

const (
	// addVoter starts a new node with --join and adds it as a voter.
	addVoter changeKind = iota
	// removeFollower removes a member that does not lead, and stops it.
	removeFollower
	// removeLeader removes the member that leads, which hands over, and
	// stops it.
	removeLeader
)

// victimOf says which node the fault of a round with a change strikes.
type victimOf int

const (
	anyNode     victimOf = iota // any node not removed, at random
	leaderNode                  // the node that leads when the change is asked
	changedNode                 // the node added or removed
	followerOf                  // a node that neither leads nor is changed
)

// plannedChange is a change and where the fault of its round strikes.
type plannedChange struct {
	kind   changeKind
	victim victimOf
}

// changePlan is the changes of a run, in order, spread over its rounds.
// Voters go 3, 4 (a learner first), 3, 4, 3: one fault at a time always
// leaves a quorum, of the old configuration and of the new.
var changePlan = []plannedChange{
	// The leader dies, or stops, with the new node's catch-up in flight:
	// the change is lost or finished by the next leader, and asked again.
	{addVoter, leaderNode},
	// Any node, the one removed included, which then restarts with a log
	// that may still count it a member.
	{removeFollower, anyNode},
	// The new node dies while it catches up, and starts again on what it
	// had saved: the addition waits for it.
	{addVoter, changedNode},
	// The leader removes itself and hands over while a follower is out.
	{removeLeader, followerOf},
}

// planFor returns the change of round in a run of rounds, if it makes one:
// the plan's changes spread evenly, as many as fit.
func planFor(round, rounds int) (plannedChange, bool) {
	every := max(rounds/len(changePlan), 1)
	k := round / every
	if round%every != 0 || k >= len(changePlan) {
		return plannedChange{}, false
	}
	return changePlan[k], true
}

// change is a membership change under way.
type change struct {
	kind     changeKind
	node     int           // the node added or removed
	done     chan error    // receives the outcome, once
	finished atomic.Bool   // set before done receives
	took     time.Duration // from the ask to done, set before done receives
	// leader is the node that led when the change was asked, and before
	// the index of the configuration in effect on it then.
	leader int
	before uint64
}

// startChange begins the change that plan asks for on its own goroutine:
// for an addition it starts the new node first.
func (c *crashCluster) startChange(plan plannedChange, rng func(int) int) *change {
	ch := &change{kind: plan.kind, done: make(chan error, 1)}
	if plan.kind == addVoter {
		ch.node = c.join()
	}
	leader, st := c.leaderNow()
	ch.leader, ch.before = leader, st.MembershipIndex
	var req membershipRequest
	switch plan.kind {
	case addVoter:
		req = membershipRequest{Op: "add-voter", ID: nodeID(ch.node), Addr: c.addrs[ch.node]}
	case removeLeader:
		ch.node = leader
		req = membershipRequest{Op: "remove", ID: nodeID(leader)}
	case removeFollower:
		followers := slices.DeleteFunc(c.members(), func(i int) bool { return i == leader })
		ch.node = followers[rng(len(followers))]
		req = membershipRequest{Op: "remove", ID: nodeID(ch.node)}
	}
	if plan.kind == addVoter {
		c.joining[ch.node] = true
	} else {
		c.removing[ch.node] = true
	}
	// The goroutine reads only the admin addresses, never the procs that
	// the test replaces as it restarts nodes.
	admins := slices.Clone(c.admins)
	go func() {
		t0 := time.Now()
		err := askLeader(admins, req, 2*time.Minute)
		ch.took = time.Since(t0)
		ch.finished.Store(true)
		ch.done <- err
	}()
	c.changes++
	return ch
}

// waitAppended waits, for a while, until the leader asked has appended
// the entry of change ch (its configuration is no longer the one of
// before), or no longer leads, or ch completed: so that a fault struck then
// finds the entry in the log and the change under way, as an addition is
// until the new node has caught up.
func (c *crashCluster) waitAppended(ch *change) {
	client := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !ch.finished.Load(); {
		st, err := getStatus(client, c.admins[ch.leader])
		if err != nil || st.Role != "leader" || st.MembershipIndex > ch.before {
			return
		}
		select {
		case <-time.After(2 * time.Millisecond):
		case <-c.failed:
			return
		}
	}
}

// victim picks the node the fault of a round strikes: one not removed,
// chosen as plan says if the round makes change ch.
func (c *crashCluster) victim(plan plannedChange, ch *change, rng func(int) int) int {
	nodes := c.notRemoved()
	switch {
	case ch == nil || plan.victim == anyNode:
	case plan.victim == leaderNode:
		return ch.leader
	case plan.victim == changedNode:
		return ch.node
	case plan.victim == followerOf:
		nodes = slices.DeleteFunc(nodes, func(i int) bool { return i == ch.leader || i == ch.node })
	}
	return nodes[rng(len(nodes))]
}

func nodeID(i int) raftlite.NodeID { return raftlite.NodeID(i + 1) }

// finishChange waits for ch to complete, then stops a removed node, and
// notes whether the round's fault struck before it completed.
func (c *crashCluster) finishChange(ch *change, struck bool) {
	c.t.Helper()
	if struck {
		c.struck++
	}
	var err error
	select {
	case err = <-ch.done:
	case <-c.failed:
		c.t.Fatalf("%s: waiting for a membership change: a node exited on its own", c.transport)
	}
	require.NoError(c.t, err, "%s: membership change on node %d\n%s\n%s", c.transport, ch.node+1, c.procs[ch.node].tail(), c.statuses())
	c.t.Logf("%s: %s node %d in %v (the fault struck it under way: %v)", c.transport,
		map[changeKind]string{addVoter: "added", removeFollower: "removed follower", removeLeader: "removed leader"}[ch.kind],
		ch.node+1, ch.took.Round(time.Millisecond), struck)
	if ch.kind == addVoter {
		c.joining[ch.node] = false
		return
	}
	// A removed node is no member: it hears nothing more, and stops.
	c.stop(ch.node)
	c.removing[ch.node], c.removed[ch.node] = false, true
}

// join starts a new node with --join on ports of its own, and returns it.
func (c *crashCluster) join() int {
	i := len(c.procs)
	c.procs = append(c.procs, nil)
	c.joining, c.removing, c.removed = append(c.joining, false), append(c.removing, false), append(c.removed, false)
	c.addrs, c.admins = append(c.addrs, ""), append(c.admins, "")
	c.dirs = append(c.dirs, c.t.TempDir())
	require.NoError(c.t, loopback.Retry(func() error {
		ports := loopback.Candidates(2)
		c.addrs[i], c.admins[i] = ports[0], ports[1]
		if slices.Contains(c.addrs[:i], ports[0]) || slices.Contains(c.admins[:i], ports[1]) ||
			slices.Contains(c.addrs[:i], ports[1]) || slices.Contains(c.admins[:i], ports[0]) {
			return syscall.EADDRINUSE // ours: a dead node's port may be its again on restart
		}
		return c.start(i)
	}))
	return i
}

// members returns the nodes that are members, not joining or leaving.
func (c *crashCluster) members() []int {
	var out []int
	for i := range c.procs {
		if !c.joining[i] && !c.removing[i] && !c.removed[i] {
			out = append(out, i)
		}
	}
	return out
}

// notRemoved returns the nodes started and not removed: those a fault may
// strike.
func (c *crashCluster) notRemoved() []int {
	var out []int
	for i := range c.procs {
		if !c.removed[i] {
			out = append(out, i)
		}
	}
	return out
}

// leaderNow waits until a node not removed says it leads, and returns it
// and its status.
func (c *crashCluster) leaderNow() (int, statusJSON) {
	c.t.Helper()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var lst statusJSON
		leader := -1
		for _, i := range c.notRemoved() {
			st, err := getStatus(client, c.admins[i])
			if err == nil && st.Role == "leader" && st.Term > lst.Term {
				leader, lst = i, st
			}
		}
		if leader >= 0 {
			return leader, lst
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: no node leads after 30s", c.transport)
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-c.failed:
			c.t.Fatalf("%s: waiting for a leader: a node exited on its own", c.transport)
		}
	}
}

// askLeader posts req to /membership on the node that leads, whichever
// that is by then, until one answers that it is done (a change asked again
// is done once the configuration has it) or limit passes. The leader may be
// killed or paused under it: a refused connection, a timeout or an answer
// that it no longer leads, lost the change or has one in progress are
// asked again.
func askLeader(admins []string, req membershipRequest, limit time.Duration) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	status := &http.Client{Timeout: time.Second}
	// Long enough for a catch-up by snapshot; a paused leader answers
	// nothing until it resumes.
	post := &http.Client{Timeout: 20 * time.Second}
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(50 * time.Millisecond) // between asks
	defer tick.Stop()
	var last error
	for time.Now().Before(deadline) {
		for id, addr := range admins {
			st, err := getStatus(status, addr)
			if err != nil || st.Role != "leader" {
				continue
			}
			resp, err := post.Post("http://"+addr+"/membership", "application/json", bytes.NewReader(body))
			if err != nil {
				last = fmt.Errorf("node %d: %w", id+1, err)
				break
			}
			var e errorJSON
			decErr := json.NewDecoder(resp.Body).Decode(&e)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("node %d answered %s: %s (%s), %v", id+1, resp.Status, e.Error, e.Code, decErr)
			if resp.StatusCode == http.StatusBadRequest {
				return last
			}
			break
		}
		<-tick.C
	}
	return errors.Join(errors.New("no leader carried out the change in time"), last)
}

func getStatus(client *http.Client, addr string) (statusJSON, error) {
	var st statusJSON
	resp, err := client.Get("http://" + addr + "/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// statuses returns every node's /status, or why not, for failure messages.
func (c *crashCluster) statuses() string {
	client := &http.Client{Timeout: time.Second}
	var b strings.Builder
	for i := range c.procs {
		resp, err := client.Get("http://" + c.admins[i] + "/status")
		if err != nil {
			fmt.Fprintf(&b, "node %d: %v\n", i+1, err)
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Fprintf(&b, "node %d: %s %v\n", i+1, bytes.Join(bytes.Fields(body), []byte(" ")), err)
	}
	return b.String()
}
