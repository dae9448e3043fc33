package main

import (
	"context"
	"encoding/json"
	"errors"
	"expvar"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
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
//
// Commands that change the cluster (membership) will go beside these, as
// POST and DELETE on their own paths (/members, /members/{id}), answering
// JSON; an error is always {"error": "..."} with a 4xx or 5xx status.
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
	Followers      []followerJSON  `json:"followers"` // on the leader; empty elsewhere
	Stopped        string          `json:"stopped,omitempty"`
}

// configJSON is the cluster's membership; membership change will add to it.
type configJSON struct {
	Voters []memberJSON `json:"voters"`
}

type memberJSON struct {
	ID      raftlite.NodeID `json:"id"`
	Address string          `json:"address"`
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
}

func (a *admin) status(w http.ResponseWriter, _ *http.Request) {
	st := a.node.Status()
	out := statusJSON{ID: st.ID, Role: st.Role.String(), Term: st.Term, Leader: st.Leader,
		CommitIndex: st.CommitIndex, LastIndex: st.LastIndex, DeliveredIndex: st.Delivered,
		SnapshotIndex: st.SnapshotIndex, HeldEntries: st.HeldEntries, Pending: st.Pending, Dropped: st.Dropped,
		Followers: []followerJSON{}}
	for _, id := range slices.Sorted(maps.Keys(a.peers)) {
		out.Configuration.Voters = append(out.Configuration.Voters, memberJSON{ID: id, Address: a.peers[id]})
	}
	for _, f := range st.Followers {
		fj := followerJSON{ID: f.ID, Match: f.Match, Next: f.Next, Lag: st.LastIndex - min(f.Match, st.LastIndex), Probing: f.Probing}
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
