package quic

import (
	"crypto/tls"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/internal/loopback"
	"github.com/raftlite/raftlite/internal/netsplit"
	"github.com/raftlite/raftlite/transport/internal/tlstest"
	"github.com/raftlite/raftlite/transport/tlsutil"
	"github.com/raftlite/raftlite/transport/transporttest"
	"github.com/raftlite/raftlite/transport/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testMaxFrame = 256 << 10

var quiet = slog.New(slog.DiscardHandler)

// conformanceOptions takes the size limit from the transport itself, so the
// suite checks that MaxMessageBytes is the limit: a message of that size
// arrives, and one a byte larger does not.
//
// A UDP proxy (netsplit) keeps a flow, and its goroutine, per client address
// until the proxy closes, as UDP has no connection to end: the flows of a
// node that PeersAtRunTime removes and closes are the test's, not the
// transport's, and outlive it harmlessly.
var conformanceOptions = transporttest.Options{
	MaxMessageBytes: New(Config{MaxFrameBytes: testMaxFrame}).MaxMessageBytes(),
	Size:            wire.Size,
	Goleak:          []goleak.Option{goleak.IgnoreAnyFunction("github.com/raftlite/raftlite/internal/netsplit.(*UDP).answer")},
}

func TestMaxMessageBytesIsTheFrameLimit(t *testing.T) {
	assert.Equal(t, wire.DefaultMaxFrameBytes, New(Config{}).MaxMessageBytes())
	assert.Equal(t, testMaxFrame, New(Config{MaxFrameBytes: testMaxFrame}).MaxMessageBytes())
}

// makeNet puts each node behind a netsplit proxy, so that the suite can
// cut the network: peers reach a node at its proxy's address, and the node
// listens on an address of its own.
func makeNet(tlsFor func(t *testing.T, id raftlite.NodeID) *tls.Config) transporttest.MakeNet {
	return func(t *testing.T, ids []raftlite.NodeID) transporttest.Net {
		peers, listen := map[raftlite.NodeID]string{}, map[raftlite.NodeID]string{}
		var proxies []netsplit.Proxy
		addrs := loopback.Candidates(len(ids)) // the suite asks again if one is taken
		for i, id := range ids {
			listen[id] = addrs[i]
			p, err := netsplit.NewUDP(listen[id])
			require.NoError(t, err)
			t.Cleanup(func() { _ = p.Close() })
			peers[id] = p.Addr()
			proxies = append(proxies, p)
		}
		return transporttest.Net{
			Peers: peers,
			New: func(id raftlite.NodeID) raftlite.Transport {
				cfg := Config{ClusterID: "conformance", Listen: listen[id], MaxFrameBytes: testMaxFrame, Logger: quiet}
				if tlsFor != nil {
					cfg.TLS = tlsFor(t, id)
				}
				return New(cfg)
			},
			Partition: func() func() { return netsplit.Partition(proxies...) },
		}
	}
}

func TestConformanceUnauthenticated(t *testing.T) {
	transporttest.Run(t, makeNet(nil), conformanceOptions)
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
	transporttest.Run(t, makeNet(tlsFor), conformanceOptions)
}

func TestStrangersAndImpostorsCannotConnect(t *testing.T) {
	tlstest.Run(t, func(t *testing.T, cfg *tls.Config) tlstest.Transport {
		return New(Config{ClusterID: "secure", TLS: cfg, Logger: quiet, MaxBackoff: 50 * time.Millisecond})
	})
}

func TestStartRejectsBadConfig(t *testing.T) {
	err := New(Config{}).Start(1, map[raftlite.NodeID]string{2: "127.0.0.1:1"}, func(raftlite.Message) {})
	require.ErrorIs(t, err, raftlite.ErrInvalidConfig)
	err = New(Config{TLS: &tls.Config{}}).Start(1, map[raftlite.NodeID]string{1: "127.0.0.1:0"}, func(raftlite.Message) {})
	require.ErrorIs(t, err, raftlite.ErrInvalidConfig)
}
