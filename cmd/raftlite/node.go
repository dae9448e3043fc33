package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/transport/quic"
	"github.com/raftlite/raftlite/transport/tcp"
	"github.com/raftlite/raftlite/transport/tlsutil"
	"github.com/raftlite/raftlite/wal"
)

// nodeOptions are the flags of `raftlite node`.
type nodeOptions struct {
	id          raftlite.NodeID
	listen      string
	peersFlag   string
	peers       map[raftlite.NodeID]string // parsed from peersFlag
	data        string
	transport   string
	cluster     string
	tlsCA       string
	tlsCert     string
	tlsKey      string
	concurrency int
	logFormat   string
	// snapshotEvery is Config.SnapshotEvery; 0 never snapshots.
	snapshotEvery uint64
	// trailingEntries is Config.TrailingEntries.
	trailingEntries uint64
	// admin is the address of the admin endpoint (admin.go); "" for none.
	admin string
	// join is Config.Join: start as no member, to be added by the leader.
	join bool
}

// runNode runs one node as its own process: each line read on stdin is
// broadcast, in stdin order, each delivered message is written to stdout as
// "index<TAB>message", and logs go to stderr.
func runNode(args []string, stdout, stderr io.Writer) error {
	o, err := parseNodeFlags(args, stderr)
	if err != nil {
		return err
	}
	// Caught from before the node starts: a SIGTERM that arrives once it
	// logged "started" must stop it cleanly, not kill the process.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The node and its transport name the node in their own lines; the
	// lines of this command say which node they are about themselves.
	base := o.logger(stderr)
	node, err := o.start(base)
	if err != nil {
		return err
	}
	if o.admin != "" {
		a, err := startAdmin(o.admin, node, o.peers, base.With("node", uint64(o.id)))
		if err != nil {
			return errors.Join(err, node.Close())
		}
		defer a.Close()
		publishMetrics(node)
	}
	return serveNode(ctx, node, os.Stdin, stdout, o.concurrency, base.With("node", uint64(o.id)))
}

func parseNodeFlags(args []string, stderr io.Writer) (nodeOptions, error) {
	var o nodeOptions
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	fs.SetOutput(stderr)
	id := fs.Uint64("id", 0, "this node's id (required)")
	fs.StringVar(&o.listen, "listen", "", "address to listen on (default: this node's address in --peers)")
	fs.StringVar(&o.peersFlag, "peers", "",
		"every voting member, this node included: id=host:port,... (required); with --join, only the addresses to reach")
	fs.StringVar(&o.data, "data", "", "directory for the write-ahead log (required)")
	fs.StringVar(&o.transport, "transport", "tcp", "tcp or quic")
	fs.StringVar(&o.cluster, "cluster", "raftlite", "cluster id; nodes of other clusters are refused")
	fs.StringVar(&o.tlsCA, "tls-ca", "", "CA certificate (PEM): with --tls-cert and --tls-key, turns on mutual TLS")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "this node's certificate (PEM), naming URI raftlite:node:<id>")
	fs.StringVar(&o.tlsKey, "tls-key", "", "this node's private key (PEM)")
	fs.IntVar(&o.concurrency, "concurrency", 64, "broadcasts from stdin in flight at once (submitted, not yet known to be committed)")
	fs.StringVar(&o.logFormat, "log-format", "text", "text or json (on stderr)")
	fs.Uint64Var(&o.snapshotEvery, "snapshot-every", 1<<16,
		"snapshot what was printed every this many entries, and compact the log behind it (0: never)")
	fs.Uint64Var(&o.trailingEntries, "trailing-entries", 1<<12,
		"entries kept before a snapshot, for followers a little behind (others are sent the snapshot)")
	fs.StringVar(&o.admin, "admin", "",
		"host:port for the admin HTTP endpoint: /status, /metrics, /health/*, POST /membership and /transfer (default: none)")
	fs.BoolVar(&o.join, "join", false,
		"join an existing cluster instead of bootstrapping one: the node waits, not voting, until the leader adds it "+
			"(raftlite admin add-voter); harmless on a restart, where the node follows the membership its log holds")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.id = raftlite.NodeID(*id)
	peers, err := parsePeers(o.peersFlag)
	if err != nil {
		return o, err
	}
	o.peers = peers
	switch {
	case o.id == 0:
		return o, errors.New("node: --id is required")
	case o.data == "":
		return o, errors.New("node: --data is required")
	}
	if _, ok := peers[o.id]; !ok {
		return o, fmt.Errorf("node: --peers must include this node's id %d", o.id)
	}
	return o, nil
}

func (o nodeOptions) logger(stderr io.Writer) *slog.Logger {
	var handler slog.Handler = slog.NewTextHandler(stderr, nil)
	if o.logFormat == "json" {
		handler = slog.NewJSONHandler(stderr, nil)
	}
	return slog.New(handler)
}

// start opens the node's write-ahead log and transport and starts the node.
// If its listen address is in use, the error says so (syscall.EADDRINUSE).
func (o nodeOptions) start(logger *slog.Logger) (*raftlite.Node, error) {
	tr, err := o.newTransport(logger)
	if err != nil {
		return nil, err
	}
	log, err := wal.Open(o.data, wal.Options{})
	if err != nil {
		return nil, errors.Join(err, tr.Close())
	}
	// New closes the transport and the log if it fails.
	every := o.snapshotEvery
	if every == 0 {
		every = math.MaxUint64 // never due
	}
	node, err := raftlite.New(raftlite.Config{ID: o.id, Peers: o.peers, Transport: tr, Persister: log, Logger: logger,
		SnapshotEvery: every, TrailingEntries: max(o.trailingEntries, 1), Join: o.join})
	if err != nil {
		return nil, err
	}
	logger.Info("started", "node", uint64(o.id), "transport", o.transport, "peers", o.peersFlag, "data", o.data, "join", o.join)
	return node, nil
}

func (o nodeOptions) newTransport(logger *slog.Logger) (raftlite.Transport, error) {
	tlsConfig, err := loadTLS(o.id, o.tlsCA, o.tlsCert, o.tlsKey)
	if err != nil {
		return nil, err
	}
	switch o.transport {
	case "tcp":
		if tlsConfig == nil {
			logger.Warn("no TLS flags: tcp traffic is plaintext and unauthenticated", "node", uint64(o.id))
		}
		return tcp.New(tcp.Config{ClusterID: o.cluster, Listen: o.listen, TLS: tlsConfig, Logger: logger}), nil
	case "quic":
		return quic.New(quic.Config{ClusterID: o.cluster, Listen: o.listen, TLS: tlsConfig, Logger: logger}), nil
	}
	return nil, fmt.Errorf("node: --transport must be tcp or quic, not %q", o.transport)
}

// serveNode broadcasts the lines of stdin through node and writes node's
// deliveries to stdout until ctx ends, then closes node. If the node stops
// by itself first (a storage failure), serveNode returns why.
func serveNode(ctx context.Context, node *raftlite.Node, stdin io.Reader, stdout io.Writer, window int, logger *slog.Logger) error {
	p, err := newPrinter(node, stdout, logger)
	if err != nil {
		return errors.Join(err, node.Close())
	}
	written := make(chan error, 1)
	go func() { written <- writeDeliveries(ctx, node.Deliveries(), p) }()
	go submitLines(ctx, node, stdin, window, logger)
	select {
	case <-ctx.Done():
		logger.Info("stopping")
		err = node.Close()
		err = errors.Join(err, <-written)
	case err = <-written: // Deliveries closed: the node has stopped
		err = errors.Join(node.Close(), err)
	}
	return errors.Join(err, p.close())
}

// writeDeliveries hands each delivery to the printer, flushing stdout
// whenever no other delivery is waiting. If printing fails it logs why
// once, keeps draining deliveries (so that the node is not held up) and
// returns the error when they end.
func writeDeliveries(ctx context.Context, deliveries <-chan raftlite.Delivery, p *printer) error {
	var err error
	for d := range deliveries {
		if err != nil {
			if d.Snapshot != nil {
				_ = d.Snapshot.Close()
			}
			continue
		}
		if err = p.deliver(ctx, d); err == nil && len(deliveries) == 0 {
			if err = p.out.Flush(); err != nil {
				err = fmt.Errorf("node: writing deliveries: %w", err)
			}
		}
		if err != nil {
			p.logger.Error("writing deliveries failed; no more will be written", "err", err)
		}
	}
	if err != nil {
		return err
	}
	if err := p.out.Flush(); err != nil {
		return fmt.Errorf("node: writing deliveries: %w", err)
	}
	return nil
}

func parsePeers(s string) (map[raftlite.NodeID]string, error) {
	if s == "" {
		return nil, errors.New("node: --peers is required")
	}
	peers := map[raftlite.NodeID]string{}
	for _, part := range strings.Split(s, ",") {
		idText, addr, ok := strings.Cut(strings.TrimSpace(part), "=")
		id, err := strconv.ParseUint(idText, 10, 64)
		if !ok || err != nil || id == 0 || addr == "" {
			return nil, fmt.Errorf("node: --peers entry %q is not id=host:port", part)
		}
		peers[raftlite.NodeID(id)] = addr
	}
	return peers, nil
}

func loadTLS(id raftlite.NodeID, ca, cert, key string) (*tls.Config, error) {
	if ca == "" && cert == "" && key == "" {
		return nil, nil
	}
	if ca == "" || cert == "" || key == "" {
		return nil, errors.New("node: --tls-ca, --tls-cert and --tls-key go together")
	}
	return tlsutil.LoadConfig(id, ca, cert, key)
}
