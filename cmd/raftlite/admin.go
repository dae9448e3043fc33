package main

import (
	"context"
	"encoding/json"
	"errors"
	"expvar"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/raftliteprom"
)

// The admin endpoint of `raftlite node --admin ADDR`: plain HTTP, for the
// operator and their monitoring, never on stdout. Every path answers JSON
// but /metrics (Prometheus text) and /debug/vars (expvar's JSON):
//
//	GET /status        the node's view: role, term, leader, indices, configuration, followers
//	GET /metrics       Status and Metrics for Prometheus (raftliteprom), with Go's runtime
//	GET /health/live   200 while the node runs; 503 once it stopped by itself
//	GET /health/ready  200 once it can serve a linearizable read: it knows a
//	                   leader, which confirmed it leads, and it has delivered
//	                   all that the leader had committed; 503 and why not
//	GET /debug/vars    expvar, with the node's Metrics under "raftlite"
//	POST /membership   {"op":"add-voter"|"add-learner"|"remove","id":N,"addr":"host:port","if_index":N}:
//	                   Node.ChangeMembership, on the leader; 200 once committed
//	POST /transfer     {"to":N} (0: the follower furthest along): Node.TransferLeadership;
//	                   200 at once if N is this node and it leads
//
// The commands answer {"ok": true} or an error, always
// {"error": "...", "code": "..."} with a 4xx or 5xx status (errorJSON):
// 400 bad input; 409 not the leader (with the leader's id and address, if
// known, to retry there) or a change in progress (with Retry-After); 412
// if_index no longer names the configuration; 503 the change was lost,
// the transfer failed or the node stopped; 504 no answer in time.
// JSON objects only ever gain fields.

// admin serves one node's admin endpoint.
type admin struct {
	node  *raftlite.Node
	peers map[raftlite.NodeID]string // the configuration the node started with
	ln    net.Listener
	srv   *http.Server
	done  chan error
}

// startAdmin listens on addr and serves node's admin endpoint until Close.
// If addr is in use, the error says so (syscall.EADDRINUSE).
func startAdmin(addr string, node *raftlite.Node, peers map[raftlite.NodeID]string, logger *slog.Logger) (*admin, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("node: --admin: %w", err)
	}
	a := &admin{node: node, peers: peers, ln: ln, done: make(chan error, 1)}
	a.srv = &http.Server{Handler: a.handler(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	go func() { a.done <- a.srv.Serve(ln) }()
	logger.Info("admin endpoint listening", "addr", ln.Addr().String())
	return a, nil
}

// Addr returns the address the endpoint listens on.
func (a *admin) Addr() string { return a.ln.Addr().String() }

// Close stops serving, letting requests under way finish for a moment.
func (a *admin) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := a.srv.Shutdown(ctx)
	if serveErr := <-a.done; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	return err
}

func (a *admin) handler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(raftliteprom.NewCollector(a.node), collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", a.status)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /health/live", a.live)
	mux.HandleFunc("GET /health/ready", a.ready)
	mux.Handle("GET /debug/vars", expvar.Handler())
	mux.HandleFunc("POST /membership", a.membership)
	mux.HandleFunc("POST /transfer", a.transfer)
	return mux
}

// statusJSON is the answer of /status.
type statusJSON struct {
	ID             raftlite.NodeID `json:"id"`
	Role           string          `json:"role"`
	Term           uint64          `json:"term"`
	Leader         raftlite.NodeID `json:"leader"` // 0: none known
	CommitIndex    uint64          `json:"commit_index"`
	LastIndex      uint64          `json:"last_index"`
	DeliveredIndex uint64          `json:"delivered_index"`
	SnapshotIndex  uint64          `json:"snapshot_index"`
	HeldEntries    uint64          `json:"held_entries"`
	Pending        int             `json:"pending_broadcasts"`
	Dropped        uint64          `json:"dropped_messages"`
	Configuration  configJSON      `json:"configuration"`
	// MembershipIndex is the index of the entry that set Configuration
	// (Status.MembershipIndex): the if_index of a conditional change.
	MembershipIndex uint64         `json:"membership_index"`
	Followers       []followerJSON `json:"followers"` // on the leader; empty elsewhere
	Stopped         string         `json:"stopped,omitempty"`
}

// configJSON is the membership in effect on the node (Status.Membership).
type configJSON struct {
	Voters   []memberJSON `json:"voters"`
	Learners []memberJSON `json:"learners"`
}

type memberJSON struct {
	ID      raftlite.NodeID `json:"id"`
	Address string          `json:"address"`
	// Promote: a learner the leader makes a voter once it caught up.
	Promote bool `json:"promote,omitempty"`
	// Disk is the disk identity the member joined with, in hex; empty
	// until the leader has recorded it.
	Disk string `json:"disk,omitempty"`
}

type followerJSON struct {
	ID      raftlite.NodeID `json:"id"`
	Match   uint64          `json:"match"`
	Next    uint64          `json:"next"`
	Lag     uint64          `json:"lag"` // the leader's last index minus Match
	Probing bool            `json:"probing"`
	// LastContactSeconds is how long ago the follower was last heard
	// from; absent if never since the leader started.
	LastContactSeconds *float64 `json:"last_contact_seconds,omitempty"`
	// Disk is the disk the follower answers from; WrongDisk: not the one
	// the configuration records, its storage was wiped or replaced, and
	// it neither votes nor counts until re-added with add-voter.
	Disk      string `json:"disk,omitempty"`
	WrongDisk bool   `json:"wrong_disk,omitempty"`
}

func (a *admin) status(w http.ResponseWriter, _ *http.Request) {
	st := a.node.Status()
	out := statusJSON{ID: st.ID, Role: st.Role.String(), Term: st.Term, Leader: st.Leader,
		CommitIndex: st.CommitIndex, LastIndex: st.LastIndex, DeliveredIndex: st.Delivered,
		SnapshotIndex: st.SnapshotIndex, HeldEntries: st.HeldEntries, Pending: st.Pending, Dropped: st.Dropped,
		Followers: []followerJSON{}, MembershipIndex: st.MembershipIndex,
		Configuration: configJSON{Voters: []memberJSON{}, Learners: []memberJSON{}}}
	for _, m := range st.Membership.Members {
		mj := memberJSON{ID: m.ID, Address: a.addrOf(st.Membership, m.ID), Promote: m.Promote, Disk: diskHex(m.DiskID)}
		if m.Learner {
			out.Configuration.Learners = append(out.Configuration.Learners, mj)
		} else {
			out.Configuration.Voters = append(out.Configuration.Voters, mj)
		}
	}
	for _, f := range st.Followers {
		fj := followerJSON{ID: f.ID, Match: f.Match, Next: f.Next, Lag: st.LastIndex - min(f.Match, st.LastIndex), Probing: f.Probing,
			Disk: diskHex(f.DiskID), WrongDisk: f.WrongDisk}
		if !f.LastContact.IsZero() {
			s := time.Since(f.LastContact).Seconds()
			fj.LastContactSeconds = &s
		}
		out.Followers = append(out.Followers, fj)
	}
	if err := a.node.Err(); err != nil {
		out.Stopped = err.Error()
	}
	writeJSON(w, http.StatusOK, out)
}

// diskHex writes a disk identity as 16 hex digits, or "" for none.
func diskHex(id uint64) string {
	if id == 0 {
		return ""
	}
	return fmt.Sprintf("%016x", id)
}

// addrOf is id's transport address: the configuration's, or else --peers'.
func (a *admin) addrOf(m raftlite.Membership, id raftlite.NodeID) string {
	for _, x := range m.Members {
		if x.ID == id && x.Addr != "" {
			return x.Addr
		}
	}
	return a.peers[id]
}

// errorJSON is the answer of a command that failed.
type errorJSON struct {
	Error string `json:"error"`
	// Code names the error for clients: bad_request, not_leader,
	// change_in_progress, membership_changed, change_lost,
	// transfer_failed, stopped, timeout, failed.
	Code string `json:"code"`
	// Leader and LeaderAddr (its transport address), with not_leader,
	// when known: retry on the leader.
	Leader     raftlite.NodeID `json:"leader,omitempty"`
	LeaderAddr string          `json:"leader_addr,omitempty"`
}

// membershipRequest is the body of POST /membership.
type membershipRequest struct {
	Op      string          `json:"op"`
	ID      raftlite.NodeID `json:"id"`
	Addr    string          `json:"addr"`
	IfIndex uint64          `json:"if_index"`
}

// transferRequest is the body of POST /transfer.
type transferRequest struct {
	To raftlite.NodeID `json:"to"`
}

// commandTimeout bounds how long a command waits for the node.
const commandTimeout = 30 * time.Second

var membershipOps = map[string]raftlite.MembershipOp{
	"add-voter": raftlite.AddVoter, "add-learner": raftlite.AddLearner, "remove": raftlite.Remove}

func (a *admin) membership(w http.ResponseWriter, r *http.Request) {
	var req membershipRequest
	if !decodeBody(w, r, &req) {
		return
	}
	op, ok := membershipOps[req.Op]
	switch {
	case !ok:
		badRequest(w, fmt.Sprintf("op %q is not add-voter, add-learner or remove", req.Op))
		return
	case req.ID == raftlite.None:
		badRequest(w, "id is required")
		return
	case op != raftlite.Remove && req.Addr == "":
		badRequest(w, "addr is required to add a node")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), commandTimeout)
	defer cancel()
	err := a.node.ChangeMembership(ctx, raftlite.MembershipChange{Op: op, ID: req.ID, Addr: req.Addr, IfIndex: req.IfIndex})
	a.answer(w, err)
}

func (a *admin) transfer(w http.ResponseWriter, r *http.Request) {
	var req transferRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.To != raftlite.None {
		st := a.node.Status()
		if st.Role == raftlite.Leader && req.To == st.ID {
			writeJSON(w, http.StatusOK, map[string]bool{"ok": true}) // leads already
			return
		}
		if !isVoter(st.Membership, req.To) {
			badRequest(w, fmt.Sprintf("node %d is not a voter", req.To))
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), commandTimeout)
	defer cancel()
	a.answer(w, a.node.TransferLeadership(ctx, req.To))
}

func isVoter(m raftlite.Membership, id raftlite.NodeID) bool {
	for _, x := range m.Members {
		if x.ID == id {
			return !x.Learner
		}
	}
	return false
}

// decodeBody decodes r's JSON body into v, or answers 400 and returns false.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		badRequest(w, "body: "+err.Error())
		return false
	}
	return true
}

func badRequest(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusBadRequest, errorJSON{Error: msg, Code: "bad_request"})
}

// answer answers a command that ended with err.
func (a *admin) answer(w http.ResponseWriter, err error) {
	if err == nil {
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
		return
	}
	e := errorJSON{Error: err.Error(), Code: "failed"}
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, raftlite.ErrNotLeader):
		code, e.Code = http.StatusConflict, "not_leader"
		st := a.node.Status()
		if st.Leader != raftlite.None && st.Leader != st.ID {
			e.Leader, e.LeaderAddr = st.Leader, a.addrOf(st.Membership, st.Leader)
		}
	case errors.Is(err, raftlite.ErrChangeInProgress):
		code, e.Code = http.StatusConflict, "change_in_progress"
		w.Header().Set("Retry-After", "1")
	case errors.Is(err, raftlite.ErrMembershipChanged):
		code, e.Code = http.StatusPreconditionFailed, "membership_changed"
	case errors.Is(err, raftlite.ErrInvalidConfig):
		code, e.Code = http.StatusBadRequest, "bad_request"
	case errors.Is(err, raftlite.ErrChangeLost):
		code, e.Code = http.StatusServiceUnavailable, "change_lost"
	case errors.Is(err, raftlite.ErrTransferFailed):
		code, e.Code = http.StatusServiceUnavailable, "transfer_failed"
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		code, e.Code = http.StatusGatewayTimeout, "timeout"
	case a.node.Err() != nil:
		code, e.Code = http.StatusServiceUnavailable, "stopped"
	}
	writeJSON(w, code, e)
}

func (a *admin) live(w http.ResponseWriter, _ *http.Request) {
	if err := a.node.Err(); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"live": false, "error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"live": true})
}

// healthJSON is the answer of /health/ready.
type healthJSON struct {
	Ready          bool            `json:"ready"`
	Reason         string          `json:"reason,omitempty"` // why not
	Leader         raftlite.NodeID `json:"leader"`
	ReadIndex      uint64          `json:"read_index,omitempty"`
	DeliveredIndex uint64          `json:"delivered_index"`
}

// defaultReadyTimeout bounds the wait of /health/ready for the leader's
// confirmation and for the deliveries; ?timeout=500ms sets another.
const defaultReadyTimeout = time.Second

// ready answers whether the node can serve a linearizable read now: a
// ReadIndex that the leader confirms, and everything up to it delivered.
func (a *admin) ready(w http.ResponseWriter, r *http.Request) {
	timeout := defaultReadyTimeout
	if q := r.URL.Query().Get("timeout"); q != "" {
		d, err := time.ParseDuration(q)
		if err != nil || d <= 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("timeout %q is not a positive duration", q)})
			return
		}
		timeout = d
	}
	h := a.readiness(r.Context(), timeout)
	code := http.StatusOK
	if !h.Ready {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, h)
}

func (a *admin) readiness(ctx context.Context, timeout time.Duration) healthJSON {
	st := a.node.Status()
	h := healthJSON{Leader: st.Leader, DeliveredIndex: st.Delivered}
	if err := a.node.Err(); err != nil {
		h.Reason = "stopped: " + err.Error()
		return h
	}
	if st.Leader == raftlite.None {
		h.Reason = "no leader known"
		return h
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	idx, err := a.node.ReadIndex(ctx)
	if err != nil {
		h.Reason = fmt.Sprintf("no leader confirmed within %v: %v", timeout, err)
		return h
	}
	h.ReadIndex = idx
	if _, err := a.node.WaitDelivered(ctx, idx); err != nil {
		h.DeliveredIndex = a.node.Status().Delivered
		h.Reason = fmt.Sprintf("catching up: delivered up to %d of %d within %v", h.DeliveredIndex, idx, timeout)
		return h
	}
	h.Ready, h.DeliveredIndex = true, a.node.Status().Delivered
	return h
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// publishMetrics publishes node's Metrics with expvar, under "raftlite":
// once per process, as expvar's names are global.
func publishMetrics(node *raftlite.Node) {
	expvar.Publish("raftlite", metricsVar(node))
}

func metricsVar(node *raftlite.Node) expvar.Var {
	return expvar.Func(func() any { return node.Metrics() })
}
