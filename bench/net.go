package bench

import (
	"io"
	"log/slog"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/internal/loopback"
	"github.com/raftlite/raftlite/transport/quic"
	"github.com/raftlite/raftlite/transport/tcp"
	"github.com/raftlite/raftlite/transport/tlsutil"
)

// The networked transports run over 127.0.0.1 on ports the OS picks, with
// mutual TLS from a throwaway CA for quic (where TLS is always on) and
// plaintext for tcp, as a LAN deployment behind its own firewall would.
func init() {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	transports["tcp"] = func(ids []raftlite.NodeID) (map[raftlite.NodeID]string, func(raftlite.NodeID) (raftlite.Transport, error), error) {
		peers, err := freeAddrs(ids, "tcp")
		return peers, func(id raftlite.NodeID) (raftlite.Transport, error) {
			return tcp.New(tcp.Config{ClusterID: "bench", Logger: quiet, SendQueue: 1 << 14}), nil
		}, err
	}
	transports["quic"] = func(ids []raftlite.NodeID) (map[raftlite.NodeID]string, func(raftlite.NodeID) (raftlite.Transport, error), error) {
		peers, err := freeAddrs(ids, "udp")
		if err != nil {
			return nil, nil, err
		}
		ca, err := tlsutil.NewCA("raftlite bench")
		if err != nil {
			return nil, nil, err
		}
		return peers, func(id raftlite.NodeID) (raftlite.Transport, error) {
			cfg, err := ca.Config(id)
			if err != nil {
				return nil, err
			}
			return quic.New(quic.Config{ClusterID: "bench", TLS: cfg, Logger: quiet, SendQueue: 1 << 14}), nil
		}, nil
	}
}

// freeAddrs reserves a loopback address per node.
func freeAddrs(ids []raftlite.NodeID, network string) (map[raftlite.NodeID]string, error) {
	peers := map[raftlite.NodeID]string{}
	for _, id := range ids {
		addr, err := loopback.Addr(network)
		if err != nil {
			return nil, err
		}
		peers[id] = addr
	}
	return peers, nil
}
