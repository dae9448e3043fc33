package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/raftlite/raftlite"
)

// TestOperatorGrowsShrinksAndHandsOverACluster: three nodes start with
// --admin; a fourth starts with --join. `raftlite admin add-voter` at a
// follower names the leader and fails, and with --admin-peers follows it
// there and succeeds; every node then shows four voters, and a line on
// node 4's stdin is delivered by all four. `remove` takes a follower out,
// and `transfer 4` makes node 4 the leader.
func TestOperatorGrowsShrinksAndHandsOverACluster(t *testing.T) {
	c := newAdminCluster(t, 4)
	first3 := peersFlag(c.addrs[:3])
	for id := 1; id <= 3; id++ {
		c.startWith(t, id, nil, first3)
	}
	leader := c.waitLeader(t, 1, 2, 3)
	stdin4, feed4 := io.Pipe()
	t.Cleanup(func() { feed4.Close() })
	c.startWith(t, 4, stdin4, c.peers, "--join")
	st4 := getJSON[statusJSON](t, c.url(4, "/status"), http.StatusOK)
	assert.Empty(t, st4.Configuration.Voters, "a joining node is no member yet")

	follower := 1 + leader%3 // one of 1..3 that is not the leader
	out, errOut, err := c.admin("--addr", c.admins[follower].Addr(), "add-voter", "4", c.addrs[3])
	require.Error(t, err, "a follower does not change the membership")
	assert.Contains(t, err.Error(), fmt.Sprintf("node %d", leader), "the error names the leader")
	assert.Empty(t, out)
	assert.Empty(t, errOut, "dispatch leaves printing the error to main")

	out, _, err = c.admin("--addr", c.admins[follower].Addr(), "--admin-peers", c.adminPeers(), "add-voter", "4", c.addrs[3])
	require.NoError(t, err)
	assert.Equal(t, "add-voter 4: done\n", out)
	for id := 1; id <= 4; id++ {
		require.EventuallyWithT(t, func(t *assert.CollectT) {
			st := getJSONStatus[statusJSON](c.url(id, "/status"))
			assert.Equal(t, []raftlite.NodeID{1, 2, 3, 4}, voterIDs(st), "node %d", id)
		}, 10*time.Second, 20*time.Millisecond)
	}
	text, _, err := c.admin("--addr", c.admins[leader].Addr(), "status")
	require.NoError(t, err)
	assert.Contains(t, text, "voter    4  "+c.addrs[3])
	assert.Contains(t, text, "  4: match ", "the leader shows node 4's progress")

	_, err = io.WriteString(feed4, "hello from 4\n")
	require.NoError(t, err)
	for id := 1; id <= 4; id++ {
		lines := c.outs[id].waitFor(t, 1, 10*time.Second)
		_, msg, _ := strings.Cut(lines[0], "\t")
		assert.Equal(t, "hello from 4", msg, "node %d delivers node 4's line", id)
	}

	removed := 1 + follower%3
	if removed == leader {
		removed = 1 + removed%3
	}
	out, _, err = c.admin("--addr", c.admins[leader].Addr(), "remove", strconv.Itoa(removed))
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("remove %d: done\n", removed), out)
	st := getJSON[statusJSON](t, c.url(leader, "/status"), http.StatusOK)
	assert.NotContains(t, voterIDs(st), raftlite.NodeID(removed))
	assert.Len(t, st.Configuration.Voters, 3)

	out, _, err = c.admin("--addr", c.admins[leader].Addr(), "transfer", "4")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(out, "transfer: done; the leader is now node 4"), out)
	require.EventuallyWithT(t, func(t *assert.CollectT) {
		st := getJSONStatus[statusJSON](c.url(4, "/status"))
		assert.Equal(t, "leader", st.Role)
	}, 10*time.Second, 20*time.Millisecond, "node 4 leads")
}

// The commands answer errors as JSON with status codes a client can act on.
func TestAdminCommandsAnswerErrorsClients(t *testing.T) {
	c := newAdminCluster(t, 3)
	for id := 1; id <= 3; id++ {
		c.start(t, id, nil)
	}
	leader := c.waitLeader(t, 1, 2, 3)
	follower := 1 + leader%3
	post := func(id int, path, body string) (int, errorJSON) {
		resp, err := http.Post(c.url(id, path), "application/json", strings.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		var e errorJSON
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&e))
		return resp.StatusCode, e
	}
	for _, body := range []string{`{"op":"grow","id":4}`, `{"op":"add-voter","id":4}`, `{"op":"remove"}`, `not json`, `{"op":"remove","id":2,"extra":1}`} {
		code, e := post(leader, "/membership", body)
		assert.Equal(t, http.StatusBadRequest, code, body)
		assert.Equal(t, "bad_request", e.Code, body)
	}
	code, e := post(follower, "/membership", `{"op":"add-learner","id":4,"addr":"127.0.0.1:1"}`)
	assert.Equal(t, http.StatusConflict, code)
	assert.Equal(t, "not_leader", e.Code)
	assert.Equal(t, raftlite.NodeID(leader), e.Leader)
	assert.Equal(t, c.addrs[leader-1], e.LeaderAddr)
	code, e = post(follower, "/transfer", `{"to":0}`)
	assert.Equal(t, http.StatusConflict, code)
	assert.Equal(t, "not_leader", e.Code)
	code, e = post(leader, "/transfer", `{"to":99}`)
	assert.Equal(t, http.StatusBadRequest, code, "99 is no voter")
	assert.Equal(t, "bad_request", e.Code)
	code, _ = post(leader, "/transfer", fmt.Sprintf(`{"to":%d}`, leader))
	assert.Equal(t, http.StatusOK, code, "a transfer to the leader itself is done already")

	st := getJSON[statusJSON](t, c.url(leader, "/status"), http.StatusOK)
	code, e = post(leader, "/membership", fmt.Sprintf(`{"op":"remove","id":%d,"if_index":%d}`, follower, st.MembershipIndex+1000))
	assert.Equal(t, http.StatusPreconditionFailed, code)
	assert.Equal(t, "membership_changed", e.Code)

	_, _, err := c.admin("--addr", c.admins[leader].Addr(), "remove", "x")
	assert.ErrorContains(t, err, `"x" is not a node id`)
}

// waitLeader waits until one of ids says it leads and all of ids know it,
// and returns it.
func (c *adminCluster) waitLeader(t *testing.T, ids ...int) int {
	t.Helper()
	leader := 0
	require.EventuallyWithT(t, func(t *assert.CollectT) {
		leader = 0
		known := map[raftlite.NodeID]bool{}
		for _, id := range ids {
			st := getJSONStatus[statusJSON](c.url(id, "/status"))
			if st.Role == "leader" {
				leader = id
			}
			known[st.Leader] = true
		}
		assert.NotZero(t, leader, "a leader")
		assert.Equal(t, map[raftlite.NodeID]bool{raftlite.NodeID(leader): true}, known, "all know it")
	}, 20*time.Second, 20*time.Millisecond)
	// A leader takes changes once it committed an entry of its term;
	// until then they are refused as in progress, which admin retries.
	return leader
}

// admin runs `raftlite admin args...` in process.
func (c *adminCluster) admin(args ...string) (stdout, stderr string, err error) {
	var out, errOut bytes.Buffer
	err = dispatch(append([]string{"admin"}, args...), &out, &errOut)
	return out.String(), errOut.String(), err
}

// adminPeers is the --admin-peers of the nodes started.
func (c *adminCluster) adminPeers() string {
	var parts []string
	for id, a := range c.admins {
		parts = append(parts, fmt.Sprintf("%d=%s", id, a.Addr()))
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

func voterIDs(st statusJSON) []raftlite.NodeID {
	var ids []raftlite.NodeID
	for _, m := range st.Configuration.Voters {
		ids = append(ids, m.ID)
	}
	return ids
}
