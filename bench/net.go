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

// The networked transports run over 127.0.0.1 on random ports (see package
// loopback), with mutual TLS from a throwaway CA for quic (where TLS is
// always on) and plaintext for tcp, as a LAN deployment behind its own
// firewall would.
func init() {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	transports["tcp"] = func(ids []raftlite.NodeID) (map[raftlite.NodeID]string, func(raftlite.NodeID) (raftlite.Transport, error), error) {
		peers := loopbackPeers(ids)
		return peers, func(id raftlite.NodeID) (raftlite.Transport, error) {
			return tcp.New(tcp.Config{ClusterID: "bench", Logger: quiet, SendQueue: 1 << 14}), nil
		}, nil
	}
	transports["quic"] = func(ids []raftlite.NodeID) (map[raftlite.NodeID]string, func(raftlite.NodeID) (raftlite.Transport, error), error) {
		peers := loopbackPeers(ids)
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

// loopbackPeers gives each node a candidate address on 127.0.0.1; Start
// starts the cluster again on new ones if a port is taken.
func loopbackPeers(ids []raftlite.NodeID) map[raftlite.NodeID]string {
	addrs := loopback.Candidates(len(ids))
	peers := map[raftlite.NodeID]string{}
	for i, id := range ids {
		peers[id] = addrs[i]
	}
	return peers
}
