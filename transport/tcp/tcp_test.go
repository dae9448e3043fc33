package tcp

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"strings"
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

// testMaxFrame keeps the size subtest fast; the limit logic is the same at
// 16 MiB.
const testMaxFrame = 256 << 10

var quiet = slog.New(slog.DiscardHandler)

// conformanceOptions takes the size limit from the transport itself, so the
// suite checks that MaxMessageBytes is the limit: a message of that size
// arrives, and one a byte larger does not.
var conformanceOptions = transporttest.Options{
	MaxMessageBytes: New(Config{MaxFrameBytes: testMaxFrame}).MaxMessageBytes(),
	Size:            wire.Size,
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
			p, err := netsplit.NewTCP(listen[id])
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

func TestConformance(t *testing.T) {
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

// syncBuffer collects log output from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestClusterMismatchIsRefusedWithAClearErrorOnBothSides(t *testing.T) {
	var log1, log2 syncBuffer
	var n1, n2 *Transport
	got := make(chan raftlite.Message, 1)
	require.NoError(t, loopback.Retry(func() error {
		addrs := loopback.Candidates(2)
		peers := map[raftlite.NodeID]string{1: addrs[0], 2: addrs[1]}
		n1 = New(Config{ClusterID: "blue", Logger: slog.New(slog.NewTextHandler(&log1, nil)), MaxBackoff: 50 * time.Millisecond})
		n2 = New(Config{ClusterID: "green", Logger: slog.New(slog.NewTextHandler(&log2, nil)), MaxBackoff: 50 * time.Millisecond})
		if err := n1.Start(1, peers, func(m raftlite.Message) { got <- m }); err != nil {
			return err
		}
		if err := n2.Start(2, peers, func(m raftlite.Message) { got <- m }); err != nil {
			_ = n1.Close()
			return err
		}
		return nil
	}))
	defer n1.Close()
	defer n2.Close()
	require.Eventually(t, func() bool {
		// Traffic, as a Node's heartbeats would be: a dialer whose first
		// attempt found the other side not yet listening dials again on
		// the next send.
		n1.Send(raftlite.Message{Kind: raftlite.MsgVoteRequest, From: 1, To: 2, Term: 1})
		n2.Send(raftlite.Message{Kind: raftlite.MsgVoteRequest, From: 2, To: 1, Term: 1})
		return n1.Stats().RefusedHandshakes > 0 && n2.Stats().RefusedHandshakes > 0 &&
			bytes.Contains([]byte(log1.String()), []byte("handshake refused by peer")) &&
			bytes.Contains([]byte(log2.String()), []byte("handshake refused by peer"))
	}, 10*time.Second, 10*time.Millisecond)
	assert.Contains(t, log1.String(), `cluster id mismatch`)
	assert.Contains(t, log2.String(), `cluster id mismatch`)
	assert.Contains(t, log1.String(), `refusing connection`)
	assert.Zero(t, n1.Stats().Connects+n2.Stats().Connects)
	assert.Empty(t, got)
}

// rawPeer speaks the wire protocol by hand, as a buggy or hostile peer would.
type rawPeer struct {
	c  net.Conn
	bw *bufio.Writer
	w  *wire.Writer
	r  *wire.Reader
}

func dialRaw(t *testing.T, addr string, h wire.Handshake) (*rawPeer, wire.Handshake) {
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	p := &rawPeer{c: c, bw: bufio.NewWriter(c), r: wire.NewReader(c, 0)}
	p.w = wire.NewWriter(p.bw, 0)
	require.NoError(t, p.w.WriteHandshake(&h))
	require.NoError(t, p.bw.Flush())
	var reply wire.Handshake
	require.NoError(t, p.r.ReadHandshake(&reply))
	return p, reply
}

// expectClosed waits for the server to close the connection.
func (p *rawPeer) expectClosed(t *testing.T) {
	_, err := io.Copy(io.Discard, p.c)
	require.NoError(t, err, "want a clean close by the server")
}

type recorder struct {
	mu   sync.Mutex
	msgs []raftlite.Message
}

func (r *recorder) deliver(m raftlite.Message) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
}

func (r *recorder) all() []raftlite.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]raftlite.Message(nil), r.msgs...)
}

// startOne starts node 1 of two on a loopback address; node 2 is never
// started.
func startOne(t *testing.T) (*Transport, string, *recorder) {
	var tr *Transport
	var addrs []string
	rec := &recorder{}
	require.NoError(t, loopback.Retry(func() error {
		addrs = loopback.Candidates(2)
		tr = New(Config{ClusterID: "c", Logger: quiet, MaxFrameBytes: 1024})
		return tr.Start(1, map[raftlite.NodeID]string{1: addrs[0], 2: addrs[1]}, rec.deliver)
	}))
	t.Cleanup(func() { _ = tr.Close() })
	return tr, addrs[0], rec
}

func TestHandshakeRefusals(t *testing.T) {
	cases := map[string]struct {
		hello wire.Handshake
		want  error
	}{
		"version":      {wire.Handshake{Version: wire.Version + 1, ClusterID: "c", Node: 2}, wire.ErrVersion},
		"cluster":      {wire.Handshake{Version: wire.Version, ClusterID: "other", Node: 2}, wire.ErrCluster},
		"unknown node": {wire.Handshake{Version: wire.Version, ClusterID: "c", Node: 7}, wire.ErrUnknownPeer},
		"self":         {wire.Handshake{Version: wire.Version, ClusterID: "c", Node: 1}, wire.ErrUnknownPeer},
		"long cluster": {wire.Handshake{Version: wire.Version, ClusterID: strings.Repeat("x", 4000), Node: 2}, wire.ErrCluster},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			tr, addr, _ := startOne(t)
			p, reply := dialRaw(t, addr, tc.hello)
			err := reply.Err()
			assert.ErrorIs(t, err, wire.ErrRefused)
			assert.ErrorIs(t, err, tc.want)
			p.expectClosed(t)
			assert.Equal(t, uint64(1), tr.Stats().RefusedHandshakes)
		})
	}
}

func TestMalformedAndOversizeFramesCloseTheConnection(t *testing.T) {
	hello := wire.Handshake{Version: wire.Version, ClusterID: "c", Node: 2}
	cases := map[string][]byte{
		"garbage":  {3, 0xc1, 0xc1, 0xc1},
		"oversize": {0x81, 0x10}, // claims 2049 bytes, limit 1024
	}
	for name, frame := range cases {
		t.Run(name, func(t *testing.T) {
			tr, addr, rec := startOne(t)
			p, reply := dialRaw(t, addr, hello)
			require.NoError(t, reply.Err())
			require.NoError(t, p.w.WriteMessage(&raftlite.Message{Kind: raftlite.MsgVoteRequest, From: 2, To: 1, Term: 1}))
			_, err := p.bw.Write(frame)
			require.NoError(t, err)
			require.NoError(t, p.bw.Flush())
			p.expectClosed(t)
			assert.Equal(t, uint64(1), tr.Stats().MalformedFrames)
			assert.Len(t, rec.all(), 1, "the good frame before the bad one is delivered")
		})
	}
}

func TestMessagesNotFromTheHandshakeNodeAreDropped(t *testing.T) {
	tr, addr, rec := startOne(t)
	p, reply := dialRaw(t, addr, wire.Handshake{Version: wire.Version, ClusterID: "c", Node: 2})
	require.NoError(t, reply.Err())
	for _, m := range []raftlite.Message{
		{From: 3, To: 1, Term: 1}, // pretends to be someone else
		{From: 2, To: 5, Term: 2}, // addressed to someone else
		{From: 2, To: 1, Term: 3},
	} {
		require.NoError(t, p.w.WriteMessage(&m))
	}
	require.NoError(t, p.bw.Flush())
	require.Eventually(t, func() bool { return len(rec.all()) == 1 }, 10*time.Second, 5*time.Millisecond)
	assert.Equal(t, uint64(3), rec.all()[0].Term)
	assert.Equal(t, uint64(2), tr.Stats().DroppedSpoofed)
}

// A node that SetPeers removes is cut off: the connection it delivers on
// is closed, its handshakes are refused, and what is sent to it is
// dropped as unroutable. A node that SetPeers adds is admitted.
func TestSetPeersCutsOffRemovedNodesAndAdmitsAddedOnes(t *testing.T) {
	tr, addr, rec := startOne(t)
	from := func(id raftlite.NodeID) wire.Handshake {
		return wire.Handshake{Version: wire.Version, ClusterID: "c", Node: id}
	}
	p, reply := dialRaw(t, addr, from(2))
	require.NoError(t, reply.Err())
	require.NoError(t, p.w.WriteMessage(&raftlite.Message{From: 2, To: 1, Term: 1}))
	require.NoError(t, p.bw.Flush())
	require.Eventually(t, func() bool { return len(rec.all()) == 1 }, 10*time.Second, 5*time.Millisecond)

	tr.SetPeers(map[raftlite.NodeID]string{1: addr, 3: "127.0.0.1:1"})
	p.expectClosed(t)
	_, reply = dialRaw(t, addr, from(2))
	assert.ErrorIs(t, reply.Err(), wire.ErrUnknownPeer, "node 2 was removed")
	tr.Send(raftlite.Message{From: 1, To: 2, Term: 1})
	assert.Equal(t, uint64(1), tr.Stats().DroppedUnroutable)

	p, reply = dialRaw(t, addr, from(3))
	require.NoError(t, reply.Err(), "node 3 was added")
	require.NoError(t, p.w.WriteMessage(&raftlite.Message{From: 3, To: 1, Term: 2}))
	require.NoError(t, p.bw.Flush())
	require.Eventually(t, func() bool { return len(rec.all()) == 2 }, 10*time.Second, 5*time.Millisecond)
}

func TestStartRejectsBadConfig(t *testing.T) {
	err := New(Config{}).Start(1, map[raftlite.NodeID]string{2: "127.0.0.1:1"}, func(raftlite.Message) {})
	assert.ErrorIs(t, err, raftlite.ErrInvalidConfig)
	err = New(Config{TLS: &tls.Config{}}).Start(1, map[raftlite.NodeID]string{1: "127.0.0.1:0"}, func(raftlite.Message) {})
	assert.ErrorIs(t, err, raftlite.ErrInvalidConfig)
}

// lineCounter counts the lines written to it.
type lineCounter struct {
	mu    sync.Mutex
	lines int
	text  strings.Builder
}

func (c *lineCounter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines += strings.Count(string(p), "\n")
	c.text.Write(p)
	return len(p), nil
}

// Anyone who can reach the port can send garbage: 200 bad handshakes are
// all counted, but write at most a few warnings, the last of which says
// how many were held back.
func TestGarbageConnectionsCannotFloodTheLog(t *testing.T) {
	var logged lineCounter
	var tr *Transport
	var addr string
	require.NoError(t, loopback.Retry(func() error {
		addrs := loopback.Candidates(2)
		addr = addrs[0]
		tr = New(Config{ClusterID: "c", Logger: slog.New(slog.NewTextHandler(&logged, nil))})
		return tr.Start(1, map[raftlite.NodeID]string{1: addrs[0], 2: addrs[1]}, func(raftlite.Message) {})
	}))
	defer tr.Close()
	const garbage = 200
	start := time.Now()
	for range garbage {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		_, err = c.Write([]byte{3, 0xc1, 0xc1, 0xc1})
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, c) // the transport closes it
		require.NoError(t, c.Close())
	}
	require.NoError(t, tr.Close())
	elapsed := time.Since(start)
	assert.Equal(t, uint64(garbage), tr.Stats().MalformedFrames, "every bad handshake is counted")
	logged.mu.Lock()
	defer logged.mu.Unlock()
	// One a second, plus the first: however slow this machine is today.
	limit := 2 + int(elapsed/time.Second)
	assert.LessOrEqual(t, logged.lines, limit, "after %v:\n%s", elapsed, logged.text.String())
	assert.Less(t, logged.lines, garbage/2, "the limit must bite")
	assert.Contains(t, logged.text.String(), "bad handshake")
}
