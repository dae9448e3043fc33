package quic

import (
	"crypto/tls"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/transport/internal/tlstest"
	"github.com/raftlite/raftlite/transport/tlsutil"
	"github.com/raftlite/raftlite/transport/transporttest"
	"github.com/raftlite/raftlite/transport/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testMaxFrame = 256 << 10

var quiet = slog.New(slog.DiscardHandler)

// freeAddr returns a loopback UDP address nothing listens on.
func freeAddr(t *testing.T) string {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := c.LocalAddr().String()
	require.NoError(t, c.Close())
	return addr
}

func makeNet(tlsFor func(t *testing.T, id raftlite.NodeID) *tls.Config) transporttest.MakeNet {
	return func(t *testing.T, ids []raftlite.NodeID) transporttest.Net {
		peers := map[raftlite.NodeID]string{}
		for _, id := range ids {
			peers[id] = freeAddr(t)
		}
		return transporttest.Net{Peers: peers, New: func(id raftlite.NodeID) raftlite.Transport {
			// A short dial timeout keeps the PeerDown subtest's unanswered
			// handshakes brief.
			cfg := Config{ClusterID: "conformance", MaxFrameBytes: testMaxFrame, Logger: quiet,
				DialTimeout: 2 * time.Second}
			if tlsFor != nil {
				cfg.TLS = tlsFor(t, id)
			}
			return New(cfg)
		}}
	}
}

func TestConformanceUnauthenticated(t *testing.T) {
	transporttest.Run(t, makeNet(nil), transporttest.Options{MaxMessageBytes: testMaxFrame, Size: wire.Size})
}

func TestConformanceMutualTLS(t *testing.T) {
	ca, err := tlsutil.NewCA("test CA")
	require.NoError(t, err)
	var mu sync.Mutex
	cfgs := map[raftlite.NodeID]*tls.Config{}
	tlsFor := func(t *testing.T, id raftlite.NodeID) *tls.Config {
		mu.Lock()
		defer mu.Unlock()
		if cfgs[id] == nil {
			cfg, err := ca.Config(id)
			require.NoError(t, err)
			cfgs[id] = cfg
		}
		return cfgs[id]
	}
	transporttest.Run(t, makeNet(tlsFor), transporttest.Options{MaxMessageBytes: testMaxFrame, Size: wire.Size})
}

func TestStrangersAndImpostorsCannotConnect(t *testing.T) {
	tlstest.Run(t, func(t *testing.T, cfg *tls.Config) tlstest.Transport {
		return New(Config{ClusterID: "secure", TLS: cfg, Logger: quiet, MaxBackoff: 50 * time.Millisecond})
	}, freeAddr)
}

func TestStartRejectsBadConfig(t *testing.T) {
	err := New(Config{}).Start(1, map[raftlite.NodeID]string{2: "127.0.0.1:1"}, func(raftlite.Message) {})
	require.ErrorIs(t, err, raftlite.ErrInvalidConfig)
	err = New(Config{TLS: &tls.Config{}}).Start(1, map[raftlite.NodeID]string{1: "127.0.0.1:0"}, func(raftlite.Message) {})
	require.ErrorIs(t, err, raftlite.ErrInvalidConfig)
}
