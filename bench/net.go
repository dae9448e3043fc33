package bench

import (
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/raftlite/raftlite"
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

// freeAddrs reserves a loopback port per node by listening and letting go.
func freeAddrs(ids []raftlite.NodeID, network string) (map[raftlite.NodeID]string, error) {
	peers := map[raftlite.NodeID]string{}
	for _, id := range ids {
		var addr string
		switch network {
		case "tcp":
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return nil, err
			}
			addr = ln.Addr().String()
			ln.Close()
		case "udp":
			pc, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				return nil, err
			}
			addr = pc.LocalAddr().String()
			pc.Close()
		default:
			return nil, fmt.Errorf("bench: network %q", network)
		}
		peers[id] = addr
	}
	return peers, nil
}
