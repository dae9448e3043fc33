package bench

import (
	"errors"
	"io"
	"log/slog"
	"sync"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/internal/loopback"
	"github.com/raftlite/raftlite/internal/netsplit"
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
	transports["tcp"] = func(ids []raftlite.NodeID, s Setup) (*network, error) {
		addrs := loopbackPeers(ids)
		var stats statsOf
		net := &network{
			peers: samePeers(addrs),
			newTransport: func(id raftlite.NodeID) (raftlite.Transport, error) {
				t := tcp.New(tcp.Config{ClusterID: "bench", Listen: addrs[id], Logger: quiet, SendQueue: 1 << 14})
				stats.add(t.Stats)
				return t, nil
			},
			sent: stats.sent,
		}
		if s.Partitions {
			if err := splitTCP(net, ids, addrs); err != nil {
				return nil, err
			}
		}
		return net, nil
	}
	transports["quic"] = func(ids []raftlite.NodeID, _ Setup) (*network, error) {
		peers := loopbackPeers(ids)
		ca, err := tlsutil.NewCA("raftlite bench")
		if err != nil {
			return nil, err
		}
		var stats statsOf
		return &network{
			peers: samePeers(peers),
			newTransport: func(id raftlite.NodeID) (raftlite.Transport, error) {
				cfg, err := ca.Config(id)
				if err != nil {
					return nil, err
				}
				t := quic.New(quic.Config{ClusterID: "bench", TLS: cfg, Logger: quiet, SendQueue: 1 << 14})
				stats.add(t.Stats)
				return t, nil
			},
			sent: stats.sent,
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

// splitTCP routes every direction of every pair of nodes through a proxy
// of its own, which net.isolate cuts: node a reaches node b at the address
// of proxy a->b, and each node listens on its address in addrs. A node's
// outbound connection to a peer carries what it sends that peer (and the
// peer's keep-alives back), so that cutting a->b and b->a for every b cuts
// a off, both ways, while the others still reach each other.
//
// A cut loses bytes silently, as a pulled cable does (package netsplit):
// the transport learns of it from silence, gives the connection up after
// its IdleTimeout, and after Heal is back on a new connection, usually
// within a quarter of that (tcp's package doc, "Failures").
func splitTCP(net *network, ids []raftlite.NodeID, addrs map[raftlite.NodeID]string) error {
	type pair struct{ from, to raftlite.NodeID }
	proxies := map[pair]*netsplit.TCP{}
	closeAll := func() error {
		var errs []error
		for _, p := range proxies {
			errs = append(errs, p.Close())
		}
		return errors.Join(errs...)
	}
	views := map[raftlite.NodeID]map[raftlite.NodeID]string{}
	for _, a := range ids {
		views[a] = map[raftlite.NodeID]string{a: addrs[a]}
		for _, b := range ids {
			if a == b {
				continue
			}
			p, err := netsplit.NewTCP(addrs[b])
			if err != nil {
				return errors.Join(err, closeAll())
			}
			proxies[pair{a, b}] = p
			views[a][b] = p.Addr()
		}
	}
	net.peers = func(id raftlite.NodeID) map[raftlite.NodeID]string { return views[id] }
	net.isolate = func(id raftlite.NodeID) {
		for k, p := range proxies {
			if k.from == id || k.to == id {
				p.Cut()
			}
		}
	}
	net.heal = func() {
		for _, p := range proxies {
			p.Heal()
		}
	}
	net.close = closeAll
	return nil
}

// statsOf sums the messages sent by every transport of a network, those
// closed included.
type statsOf struct {
	mu    sync.Mutex
	stats []func() tcp.Stats
}

func (s *statsOf) add(f func() tcp.Stats) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = append(s.stats, f)
}

func (s *statsOf) sent() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n uint64
	for _, f := range s.stats {
		n += f().Sent
	}
	return n
}
