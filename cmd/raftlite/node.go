package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/transport/quic"
	"github.com/raftlite/raftlite/transport/tcp"
	"github.com/raftlite/raftlite/transport/tlsutil"
	"github.com/raftlite/raftlite/wal"
)

// runNode runs one node as its own process: each line read on stdin is
// broadcast, each delivered message is written to stdout as
// "index<TAB>message", and logs go to stderr.
func runNode(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	fs.SetOutput(stderr)
	id := fs.Uint64("id", 0, "this node's id (required)")
	listen := fs.String("listen", "", "address to listen on (default: this node's address in --peers)")
	peersFlag := fs.String("peers", "", "every voting member, this node included: id=host:port,... (required)")
	data := fs.String("data", "", "directory for the write-ahead log (required)")
	transport := fs.String("transport", "tcp", "tcp or quic")
	cluster := fs.String("cluster", "raftlite", "cluster id; nodes of other clusters are refused")
	tlsCA := fs.String("tls-ca", "", "CA certificate (PEM): with --tls-cert and --tls-key, turns on mutual TLS")
	tlsCert := fs.String("tls-cert", "", "this node's certificate (PEM), naming URI raftlite:node:<id>")
	tlsKey := fs.String("tls-key", "", "this node's private key (PEM)")
	concurrency := fs.Int("concurrency", 64, "broadcasts from stdin in flight at once")
	logFormat := fs.String("log-format", "text", "text or json (on stderr)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var handler slog.Handler = slog.NewTextHandler(stderr, nil)
	if *logFormat == "json" {
		handler = slog.NewJSONHandler(stderr, nil)
	}
	logger := slog.New(handler).With("node", *id)

	peers, err := parsePeers(*peersFlag)
	if err != nil {
		return err
	}
	switch {
	case *id == 0:
		return errors.New("node: --id is required")
	case *data == "":
		return errors.New("node: --data is required")
	}
	self := raftlite.NodeID(*id)
	if _, ok := peers[self]; !ok {
		return fmt.Errorf("node: --peers must include this node's id %d", self)
	}
	tlsConfig, err := loadTLS(self, *tlsCA, *tlsCert, *tlsKey)
	if err != nil {
		return err
	}
	var tr raftlite.Transport
	switch *transport {
	case "tcp":
		if tlsConfig == nil {
			logger.Warn("no TLS flags: tcp traffic is plaintext and unauthenticated")
		}
		tr = tcp.New(tcp.Config{ClusterID: *cluster, Listen: *listen, TLS: tlsConfig, Logger: logger})
	case "quic":
		tr = quic.New(quic.Config{ClusterID: *cluster, Listen: *listen, TLS: tlsConfig, Logger: logger})
	default:
		return fmt.Errorf("node: --transport must be tcp or quic, not %q", *transport)
	}
	log, err := wal.Open(*data, wal.Options{})
	if err != nil {
		tr.Close()
		return err
	}
	node, err := raftlite.New(raftlite.Config{ID: self, Peers: peers, Transport: tr, Persister: log, Logger: logger})
	if err != nil {
		tr.Close()
		log.Close()
		return err
	}
	logger.Info("started", "transport", *transport, "peers", *peersFlag, "data", *data)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	delivered := make(chan struct{})
	go func() {
		defer close(delivered)
		out := bufio.NewWriter(stdout)
		for d := range node.Deliveries() {
			fmt.Fprintf(out, "%d\t%s\n", d.Index, d.Data)
			if len(node.Deliveries()) == 0 {
				out.Flush()
			}
		}
		out.Flush()
	}()
	go broadcastLines(ctx, node, os.Stdin, *concurrency, logger)

	<-ctx.Done()
	logger.Info("stopping")
	err = node.Close()
	<-delivered
	return err
}

// broadcastLines broadcasts each line of r, several at a time, and logs
// each outcome, so that a driver reading stderr knows what was acknowledged.
func broadcastLines(ctx context.Context, node *raftlite.Node, r io.Reader, concurrency int, logger *slog.Logger) {
	sem := make(chan struct{}, max(concurrency, 1))
	var wg sync.WaitGroup
	defer wg.Wait()
	lines := bufio.NewScanner(r)
	lines.Buffer(make([]byte, 64<<10), 1<<20)
	for lines.Scan() {
		msg := lines.Text()
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Go(func() {
			defer func() { <-sem }()
			index, err := node.Broadcast(ctx, []byte(msg))
			if err != nil {
				logger.Warn("broadcast failed", "data", msg, "err", err)
				return
			}
			logger.Info("committed", "index", index, "data", msg)
		})
	}
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
