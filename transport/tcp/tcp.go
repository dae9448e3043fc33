package tcp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/transport/internal/link"
	"github.com/raftlite/raftlite/transport/tlsutil"
	"github.com/raftlite/raftlite/transport/wire"
)

// Config configures a Transport. Zero values pick the defaults noted.
type Config struct {
	// ClusterID names the cluster; nodes with different ids refuse each
	// other, which catches a node pointed at the wrong cluster's addresses.
	ClusterID string
	// Listen is the address to listen on; default peers[self] from Start.
	// Set it when the advertised address differs (e.g. ":7000").
	Listen string
	// TLS, if set, turns on mutual TLS: both sides present certificates,
	// verified against TLS.ClientCAs (accepting) and TLS.RootCAs (dialing),
	// and each certificate must name its node id (see package tlsutil).
	// tlsutil.Config builds a suitable config. Nil means plaintext and no
	// authentication: anyone who can reach the port can speak as any member.
	TLS *tls.Config
	// MaxFrameBytes bounds one encoded message, both ways; larger outbound
	// messages are dropped and counted, larger inbound frames close the
	// connection. Default wire.DefaultMaxFrameBytes (16 MiB).
	MaxFrameBytes int
	// SendQueue is the per-peer queue length; Send drops when it is full.
	// Default 1024.
	SendQueue int
	// DialTimeout bounds one attempt at connecting: TCP, TLS and the
	// handshake. Default 2s. Attempts overlap (see package doc), so a long
	// one does not delay reconnecting after a partition.
	DialTimeout time.Duration
	// WriteTimeout bounds each write; a peer that stops reading for longer
	// is disconnected. Default 10s.
	WriteTimeout time.Duration
	// IdleTimeout is how long a connection may hear nothing from the peer
	// before it is given up as dead and redialed; the peer sends a
	// keep-alive every quarter of it. Default 1s: two of raftlite's
	// default election timeouts.
	IdleTimeout time.Duration
	// MaxBackoff caps the delay between attempts while the peer refuses
	// our handshake (another cluster, a wrong identity). Other failures
	// are retried as soon as there is a message to send. Default 1s.
	MaxBackoff time.Duration
	// Logger receives connection events; default slog.Default().
	Logger *slog.Logger
}

// Stats counts what a Transport did since Start: messages sent, delivered
// and dropped (each drop under its cause), malformed frames, refused
// handshakes, dial failures and connects. tcp and quic share the type.
type Stats = link.Stats

// Transport is a raftlite.Transport over TCP. Create it with New.
type Transport struct {
	cfg    Config
	engine atomic.Pointer[link.Engine]
	ln     net.Listener

	closeOnce sync.Once
}

var (
	_ raftlite.Transport                = (*Transport)(nil)
	_ raftlite.MessageSizeLimiter       = (*Transport)(nil)
	_ raftlite.TransportMetricsReporter = (*Transport)(nil)
	_ raftlite.PeerUpdater              = (*Transport)(nil)
)

// New returns an unstarted Transport.
func New(cfg Config) *Transport {
	return &Transport{cfg: cfg}
}

// Start listens and begins connecting to every peer.
func (t *Transport) Start(self raftlite.NodeID, peers map[raftlite.NodeID]string, deliver func(raftlite.Message)) error {
	if t.engine.Load() != nil {
		return errors.New("tcp: Start called twice")
	}
	listen := t.cfg.Listen
	if listen == "" {
		listen = peers[self]
	}
	if listen == "" {
		return fmt.Errorf("%w: tcp: no address to listen on: node %d is not in peers and Config.Listen is empty", raftlite.ErrInvalidConfig, self)
	}
	serverTLS, err := t.serverTLS()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("tcp: %w", err)
	}
	t.ln = ln
	e := link.New(link.Config{
		ClusterID: t.cfg.ClusterID, MaxFrameBytes: t.cfg.MaxFrameBytes, SendQueue: t.cfg.SendQueue,
		DialTimeout: t.cfg.DialTimeout, WriteTimeout: t.cfg.WriteTimeout, IdleTimeout: t.cfg.IdleTimeout,
		MaxBackoff: t.cfg.MaxBackoff,
		Logger:     t.cfg.Logger, CheckCerts: t.cfg.TLS != nil, Dial: t.dial,
	}, self, peers, deliver)
	t.engine.Store(e)
	e.Go(func() { t.accept(e, serverTLS) })
	e.Start()
	return nil
}

// Addr returns the listening address, useful with Listen ":0". Nil before Start.
func (t *Transport) Addr() net.Addr {
	if t.ln == nil {
		return nil
	}
	return t.ln.Addr()
}

// Send queues m for m.To; see raftlite.Transport. Messages to unknown nodes,
// or sent before Start or after Close, are dropped and counted.
func (t *Transport) Send(m raftlite.Message) {
	if e := t.engine.Load(); e != nil {
		e.Send(m)
	}
}

// SetPeers replaces the peers given to Start; see raftlite.PeerUpdater,
// which a Node calls as its membership changes. A peer added is dialed at
// once; one whose address changed is dialed at the new one; one no longer
// listed has its queue dropped and its connections closed, both ways.
// Connections from nodes not listed are refused, as before Start: a node
// that the cluster is adding is refused until this node learns of it, and
// then redials at once, as this node connects to it. Ignored before Start
// and after Close. This node's own address is not changed: the listener
// stays where Start put it.
func (t *Transport) SetPeers(peers map[raftlite.NodeID]string) {
	if e := t.engine.Load(); e != nil {
		e.SetPeers(peers)
	}
}

// Close stops the transport and waits for its goroutines, including any
// deliver call in progress. It is safe to call more than once.
func (t *Transport) Close() error {
	e := t.engine.Load()
	if e == nil {
		return nil
	}
	t.closeOnce.Do(func() {
		e.Shutdown()
		_ = t.ln.Close()
	})
	e.Wait()
	return nil
}

// MaxMessageBytes returns the largest message the transport carries, as
// wire.Size measures it: Config.MaxFrameBytes, or wire.DefaultMaxFrameBytes
// if that is zero. raftlite.New uses it to refuse a Config whose largest
// message would never get through.
func (t *Transport) MaxMessageBytes() int {
	if t.cfg.MaxFrameBytes > 0 {
		return t.cfg.MaxFrameBytes
	}
	return wire.DefaultMaxFrameBytes
}

// TransportMetrics returns the counters, per peer and by reason of drop,
// for raftlite.Node.Metrics; zero before Start.
func (t *Transport) TransportMetrics() raftlite.TransportMetrics {
	if e := t.engine.Load(); e != nil {
		return e.TransportMetrics("tcp")
	}
	return raftlite.TransportMetrics{Name: "tcp"}
}

// Stats returns a snapshot of the counters.
func (t *Transport) Stats() Stats {
	if e := t.engine.Load(); e != nil {
		return e.Stats()
	}
	return Stats{}
}

func (t *Transport) accept(e *link.Engine, serverTLS *tls.Config) {
	for {
		c, err := t.ln.Accept()
		if err != nil {
			select {
			case <-e.Done():
				return
			default:
			}
			// Out of file descriptors and the like: pause rather than spin.
			e.Logger().Warn("tcp: accept failed", "err", err)
			timer := time.NewTimer(100 * time.Millisecond)
			select {
			case <-e.Done():
				timer.Stop()
				return
			case <-timer.C:
			}
			continue
		}
		setNoDelay(c)
		if !e.Go(func() { t.serve(e, c, serverTLS) }) {
			_ = c.Close()
			return
		}
	}
}

func (t *Transport) serve(e *link.Engine, c net.Conn, serverTLS *tls.Config) {
	remote := c.RemoteAddr().String()
	if serverTLS == nil {
		e.Serve(&conn{Conn: c}, remote)
		return
	}
	tc := tls.Server(c, serverTLS)
	ctx, cancel := context.WithTimeout(e.Context(), t.timeout())
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		e.CountRefused()
		e.WarnFromNetwork("tcp: refusing connection: TLS handshake failed", "remote", remote, "err", err)
		_ = c.Close()
		return
	}
	e.Serve(&conn{Conn: tc, certs: tc.ConnectionState().PeerCertificates}, remote)
}

func (t *Transport) dial(ctx context.Context, addr string) (link.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	setNoDelay(c)
	if t.cfg.TLS == nil {
		return &conn{Conn: c}, nil
	}
	cfg := clientTLS(t.cfg.TLS, addr)
	tc := tls.Client(c, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("tcp: TLS handshake with %s: %w", addr, err)
	}
	state := tc.ConnectionState()
	if err := tlsutil.VerifyChain(state, cfg.RootCAs); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("tcp: %s: %w", addr, err)
	}
	return &conn{Conn: tc, certs: state.PeerCertificates}, nil
}

func (t *Transport) timeout() time.Duration {
	if t.cfg.DialTimeout > 0 {
		return t.cfg.DialTimeout
	}
	return link.DefaultDialTimeout
}

// serverTLS insists on verified client certificates whatever the supplied
// config says: without them the node-id check would trust an unverified
// claim.
func (t *Transport) serverTLS() (*tls.Config, error) {
	if t.cfg.TLS == nil {
		return nil, nil
	}
	if t.cfg.TLS.ClientCAs == nil {
		return nil, fmt.Errorf("%w: tcp: TLS.ClientCAs is nil, so peers' certificates cannot be verified", raftlite.ErrInvalidConfig)
	}
	cfg := t.cfg.TLS.Clone()
	cfg.ClientAuth = tls.RequireAndVerifyClientCert
	if cfg.MinVersion < tls.VersionTLS13 {
		cfg.MinVersion = tls.VersionTLS13
	}
	return cfg, nil
}

// clientTLS fills in ServerName so that a config relying on Go's own
// verification (no InsecureSkipVerify) has a name to check.
func clientTLS(base *tls.Config, addr string) *tls.Config {
	cfg := base.Clone()
	if cfg.ServerName == "" && !cfg.InsecureSkipVerify {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			cfg.ServerName = host
		}
	}
	if cfg.MinVersion < tls.VersionTLS13 {
		cfg.MinVersion = tls.VersionTLS13
	}
	return cfg
}

// setNoDelay is the default for Go's TCP conns already; set it anyway, as
// Raft's heartbeats and acknowledgements are latency-bound and small.
func setNoDelay(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
}

type conn struct {
	net.Conn
	certs []*x509.Certificate
}

// PeerCertificates returns the certificates the peer presented in the TLS
// handshake, leaf first; nil without TLS.
func (c *conn) PeerCertificates() []*x509.Certificate { return c.certs }
