package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/raftlite/raftlite"
)

// `raftlite admin`: the operator's client of a node's admin endpoint
// (admin.go). It prints results on stdout, status as readable text (--json:
// the endpoint's JSON as it is), and fails with a message on stderr and a
// non-zero exit status.

const adminUsage = `usage: raftlite admin --addr host:port [--admin-peers id=host:port,...] [--json] <command>

commands:
  status                 the node's view: role, leader, configuration, each follower's progress
  add-voter ID ADDR      add node ID, at transport address ADDR, as a voter (a learner until it caught up)
  add-learner ID ADDR    add node ID as a learner: it delivers everything but never votes
  remove ID              remove node ID (a leader that removes itself hands over first)
  transfer [ID]          hand leadership to ID, or to the follower furthest along

Changes go to the leader: on a follower, admin retries at the leader's admin
address if --admin-peers gives it, and otherwise names the leader and fails.`

// adminOptions are the flags of `raftlite admin`.
type adminOptions struct {
	addr       string
	adminPeers map[raftlite.NodeID]string
	json       bool
	timeout    time.Duration
	// retries is how many times a change in progress is tried again;
	// retryWait the wait before each when the answer names none.
	retries   int
	retryWait time.Duration
}

func runAdmin(args []string, stdout, stderr io.Writer) error {
	var o adminOptions
	fs := flag.NewFlagSet("admin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, adminUsage); fs.PrintDefaults() }
	fs.StringVar(&o.addr, "addr", "", "admin address (--admin) of the node to ask; changes go to the leader's (required)")
	adminPeers := fs.String("admin-peers", "", "admin addresses of the nodes, id=host:port,...: to follow a follower to the leader")
	fs.BoolVar(&o.json, "json", false, "status: print the endpoint's JSON instead of text")
	fs.DurationVar(&o.timeout, "timeout", 40*time.Second, "how long to wait for each answer")
	fs.IntVar(&o.retries, "retries", 5, "how many times to retry a change refused as in progress")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.retryWait = time.Second
	if o.addr == "" {
		return errors.New("admin: --addr is required")
	}
	if *adminPeers != "" {
		p, err := parsePeers(*adminPeers)
		if err != nil {
			return fmt.Errorf("admin: --admin-peers: %w", err)
		}
		o.adminPeers = p
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return errors.New("admin: a command is required")
	}
	c := &adminClient{o: o, http: &http.Client{Timeout: o.timeout}}
	cmd, params := rest[0], rest[1:]
	ids := func(n int) ([]raftlite.NodeID, error) {
		var out []raftlite.NodeID
		for _, p := range params[:min(n, len(params))] {
			id, err := strconv.ParseUint(p, 10, 64)
			if err != nil || id == 0 {
				return nil, fmt.Errorf("admin: %s: %q is not a node id", cmd, p)
			}
			out = append(out, raftlite.NodeID(id))
		}
		return out, nil
	}
	want := map[string][2]int{"status": {0, 0}, "add-voter": {2, 2}, "add-learner": {2, 2}, "remove": {1, 1}, "transfer": {0, 1}}
	n, ok := want[cmd]
	if !ok {
		fs.Usage()
		return fmt.Errorf("admin: unknown command %q", cmd)
	}
	if len(params) < n[0] || len(params) > n[1] {
		return fmt.Errorf("admin: %s takes %d to %d arguments, not %d (raftlite admin -h)", cmd, n[0], n[1], len(params))
	}
	switch cmd {
	case "status":
		return c.status(stdout)
	case "add-voter", "add-learner", "remove":
		id, err := ids(1)
		if err != nil {
			return err
		}
		req := membershipRequest{Op: cmd, ID: id[0]}
		if cmd != "remove" {
			req.Addr = params[1]
		}
		if _, err := c.command("/membership", req); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s %d: done\n", cmd, id[0])
	case "transfer":
		id, err := ids(1)
		if err != nil {
			return err
		}
		req := transferRequest{}
		if len(id) == 1 {
			req.To = id[0]
		}
		at, err := c.command("/transfer", req)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, "transfer: done; the leader is now", c.leaderSeenBy(at))
	}
	return nil
}

type adminClient struct {
	o    adminOptions
	http *http.Client
}

// command posts body to path on the leader, following a follower's answer
// to the leader when its admin address is known, and retrying a change in
// progress. It returns the admin address that carried it out.
func (c *adminClient) command(path string, body any) (string, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return "", err
	}
	addr, tries, hops := c.o.addr, 0, 0
	for {
		resp, err := c.http.Post("http://"+addr+path, "application/json", bytes.NewReader(b))
		if err != nil {
			return "", fmt.Errorf("admin: %w", err)
		}
		var e errorJSON
		decErr := json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return addr, nil
		}
		if decErr != nil || e.Error == "" {
			return "", fmt.Errorf("admin: %s answered %s", addr, resp.Status)
		}
		switch {
		case e.Code == "change_in_progress" && tries < c.o.retries:
			tries++
			wait := c.o.retryWait
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
				wait = time.Duration(s) * time.Second
			}
			time.Sleep(wait)
			continue
		case e.Code == "not_leader" && e.Leader != raftlite.None:
			next, known := c.o.adminPeers[e.Leader]
			if !known {
				return "", fmt.Errorf("admin: %s is not the leader; node %d (transport address %s) is: "+
					"run again with --addr set to its admin address, or give --admin-peers", addr, e.Leader, e.LeaderAddr)
			}
			if hops++; hops > 3 {
				return "", fmt.Errorf("admin: leadership keeps moving (last: node %d); try again", e.Leader)
			}
			addr = next
			continue
		case e.Code == "not_leader":
			return "", fmt.Errorf("admin: %s is not the leader and knows none yet; try again shortly", addr)
		}
		return "", fmt.Errorf("admin: %s (%s)", e.Error, resp.Status)
	}
}

// leaderSeenBy names the leader as the node at admin address addr sees it,
// waiting a moment for it to hear from the new leader.
func (c *adminClient) leaderSeenBy(addr string) string {
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		st, _, err := c.getStatus(addr)
		if err == nil && st.Leader != raftlite.None && st.Role != "leader" {
			return "node " + strconv.FormatUint(uint64(st.Leader), 10)
		}
		if err == nil && st.Leader == st.ID {
			return "node " + strconv.FormatUint(uint64(st.Leader), 10) + " (it led already)"
		}
		if err != nil || time.Now().After(deadline) {
			return "not known yet"
		}
	}
}

func (c *adminClient) getStatus(addr string) (statusJSON, []byte, error) {
	var st statusJSON
	resp, err := c.http.Get("http://" + addr + "/status")
	if err != nil {
		return st, nil, fmt.Errorf("admin: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return st, nil, fmt.Errorf("admin: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return st, nil, fmt.Errorf("admin: /status answered %s", resp.Status)
	}
	return st, b, json.Unmarshal(b, &st)
}

func (c *adminClient) status(stdout io.Writer) error {
	st, raw, err := c.getStatus(c.o.addr)
	if err != nil {
		return err
	}
	if c.o.json {
		_, err := stdout.Write(raw)
		return err
	}
	_, err = io.WriteString(stdout, formatStatus(st))
	return err
}

// formatStatus renders /status for a person.
func formatStatus(st statusJSON) string {
	var b strings.Builder
	leader := "none known"
	if st.Leader != raftlite.None {
		leader = strconv.FormatUint(uint64(st.Leader), 10)
	}
	fmt.Fprintf(&b, "node %d: %s, term %d, leader %s\n", st.ID, st.Role, st.Term, leader)
	fmt.Fprintf(&b, "log: last %d, committed %d, delivered %d, snapshot %d\n",
		st.LastIndex, st.CommitIndex, st.DeliveredIndex, st.SnapshotIndex)
	if st.Stopped != "" {
		fmt.Fprintf(&b, "stopped: %s\n", st.Stopped)
	}
	fmt.Fprintf(&b, "configuration (set at index %d):\n", st.MembershipIndex)
	for _, m := range st.Configuration.Voters {
		fmt.Fprintf(&b, "  voter    %d  %s\n", m.ID, m.Address)
	}
	for _, m := range st.Configuration.Learners {
		note := ""
		if m.Promote {
			note = "  (becomes a voter once caught up)"
		}
		fmt.Fprintf(&b, "  learner  %d  %s%s\n", m.ID, m.Address, note)
	}
	if len(st.Followers) > 0 {
		fmt.Fprintln(&b, "followers:")
		for _, f := range st.Followers {
			contact := "never heard from"
			if f.LastContactSeconds != nil {
				contact = fmt.Sprintf("heard %.1fs ago", *f.LastContactSeconds)
			}
			probing := ""
			if f.Probing {
				probing = ", probing"
			}
			wrong := ""
			if f.WrongDisk {
				wrong = fmt.Sprintf(", WRONG DISK %s: wiped or replaced, does not vote or count until re-added (add-voter %d)", f.Disk, f.ID)
			}
			fmt.Fprintf(&b, "  %d: match %d, next %d, lag %d, %s%s%s\n", f.ID, f.Match, f.Next, f.Lag, contact, probing, wrong)
		}
	}
	return b.String()
}
