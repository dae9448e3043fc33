package quic

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

	quicgo "github.com/quic-go/quic-go"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/transport/internal/link"
	"github.com/raftlite/raftlite/transport/tlsutil"
	"github.com/raftlite/raftlite/transport/wire"
)

// ALPN is the TLS application protocol raftlite negotiates over QUIC.
const ALPN = "raftlite/1"

// DefaultIdleTimeout is how long a connection may hear nothing from the
// peer before it is given up as dead: two of raftlite's default election
// timeouts. Keep-alives go out at a quarter of it, so only a dead peer or
// a cut network ever reaches it.
const DefaultIdleTimeout = link.DefaultIdleTimeout

// Config configures a Transport. Zero values pick the defaults noted. The
// fields mean what they do for transport/tcp, except TLS.
type Config struct {
	// ClusterID names the cluster; nodes with different ids refuse each other.
	ClusterID string
	// Listen is the UDP address to listen on; default peers[self].
	Listen string
	// TLS turns on mutual TLS with node identities (see package tlsutil),
	// e.g. from tlsutil.Config. QUIC always encrypts; with TLS nil the
	// transport makes a throwaway self-signed certificate and verifies no
	// peer, so traffic is encrypted but NOT AUTHENTICATED: anyone who can
	// reach the port can speak as any member, and a warning is logged.
	TLS *tls.Config
	// MaxFrameBytes bounds one encoded message; default 16 MiB. Flow-control
	// windows are sized so that a frame this large fits.
	MaxFrameBytes int
	// SendQueue is the per-peer queue length; Send drops when full. Default 1024.
	SendQueue int
	// DialTimeout bounds one attempt at connecting: the QUIC/TLS handshake
	// and ours. Default 2s. Attempts overlap, as in transport/tcp.
	DialTimeout time.Duration
	// WriteTimeout bounds each write. Default 10s.
	WriteTimeout time.Duration
	// IdleTimeout is how long a connection may hear nothing from the peer
	// before it is given up as dead and redialed; keep-alives go out at a
	// quarter of it. Default DefaultIdleTimeout (1s).
	IdleTimeout time.Duration
	// MaxBackoff caps the delay between attempts while the peer refuses
	// our handshake; other failures are retried as soon as there is a
	// message to send. Default 1s.
	MaxBackoff time.Duration
	// Logger receives connection events; default slog.Default().
	Logger *slog.Logger
}

// Stats counts what a Transport did since Start: messages sent, delivered
// and dropped (each drop under its cause), malformed frames, refused
// handshakes, dial failures and connects. tcp and quic share the type.
type Stats = link.Stats

// Transport is a raftlite.Transport over QUIC: one connection and one
// long-lived stream per peer direction, carrying the same frames as
// transport/tcp. Create it with New.
type Transport struct {
	cfg    Config
	engine atomic.Pointer[link.Engine]
	udp    *net.UDPConn
	qt     *quicgo.Transport
	ln     *quicgo.Listener
	client *tls.Config
	quic   *quicgo.Config

	closeOnce sync.Once
}

var (
	_ raftlite.Transport                = (*Transport)(nil)
	_ raftlite.MessageSizeLimiter       = (*Transport)(nil)
	_ raftlite.TransportMetricsReporter = (*Transport)(nil)
	_ raftlite.PeerUpdater              = (*Transport)(nil)
)

// New returns an unstarted Transport.
func New(cfg Config) *Transport { return &Transport{cfg: cfg} }

// Start listens and begins connecting to every peer.
func (t *Transport) Start(self raftlite.NodeID, peers map[raftlite.NodeID]string, deliver func(raftlite.Message)) error {
	if t.engine.Load() != nil {
		return errors.New("quic: Start called twice")
	}
	listen := t.cfg.Listen
	if listen == "" {
		listen = peers[self]
	}
	if listen == "" {
		return fmt.Errorf("%w: quic: no address to listen on: node %d is not in peers and Config.Listen is empty", raftlite.ErrInvalidConfig, self)
	}
	if t.cfg.TLS != nil && t.cfg.TLS.ClientCAs == nil {
		return fmt.Errorf("%w: quic: TLS.ClientCAs is nil, so peers' certificates cannot be verified", raftlite.ErrInvalidConfig)
	}
	e := link.New(link.Config{
		ClusterID: t.cfg.ClusterID, MaxFrameBytes: t.cfg.MaxFrameBytes, SendQueue: t.cfg.SendQueue,
		DialTimeout: t.cfg.DialTimeout, WriteTimeout: t.cfg.WriteTimeout, IdleTimeout: t.idleTimeout(),
		MaxBackoff: t.cfg.MaxBackoff,
		Logger:     t.cfg.Logger, CheckCerts: t.cfg.TLS != nil, Dial: t.dial,
	}, self, peers, deliver)
	server, client, err := t.tlsConfigs(e, self)
	if err != nil {
		return err
	}
	t.client = client
	t.quic = t.quicConfig()

	udpAddr, err := net.ResolveUDPAddr("udp", listen)
	if err != nil {
		return fmt.Errorf("quic: %w", err)
	}
	t.udp, err = net.ListenUDP("udp", udpAddr)
	if err != nil {
		return fmt.Errorf("quic: %w", err)
	}
	t.qt = &quicgo.Transport{Conn: t.udp}
	t.ln, err = t.qt.Listen(server, t.quic)
	if err != nil {
		_ = t.qt.Close()
		_ = t.udp.Close()
		return fmt.Errorf("quic: %w", err)
	}
	t.engine.Store(e)
	e.Go(func() { t.accept(e) })
	e.Start()
	return nil
}

// Addr returns the listening address. Nil before Start.
func (t *Transport) Addr() net.Addr {
	if t.udp == nil {
		return nil
	}
	return t.udp.LocalAddr()
}

// Send queues m for m.To; see raftlite.Transport.
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
		// Closing the quic.Transport also aborts handshakes in flight. It
		// does not close a socket it was given, so we do.
		_ = t.qt.Close()
		_ = t.udp.Close()
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
		return e.TransportMetrics("quic")
	}
	return raftlite.TransportMetrics{Name: "quic"}
}

// Stats returns a snapshot of the counters.
func (t *Transport) Stats() Stats {
	if e := t.engine.Load(); e != nil {
		return e.Stats()
	}
	return Stats{}
}

func (t *Transport) timeout() time.Duration {
	if t.cfg.DialTimeout > 0 {
		return t.cfg.DialTimeout
	}
	return link.DefaultDialTimeout
}

func (t *Transport) idleTimeout() time.Duration {
	if t.cfg.IdleTimeout > 0 {
		return t.cfg.IdleTimeout
	}
	return DefaultIdleTimeout
}

func (t *Transport) quicConfig() *quicgo.Config {
	idle := t.idleTimeout()
	maxFrame := t.cfg.MaxFrameBytes
	if maxFrame <= 0 {
		maxFrame = wire.DefaultMaxFrameBytes
	}
	// The stream window must hold a whole frame plus the next one's start,
	// or a maximal frame could only trickle through; the connection window
	// must hold the stream window (the handshake stream is tiny).
	window := max(uint64(maxFrame)+64<<10, 6<<20)
	return &quicgo.Config{
		HandshakeIdleTimeout: t.timeout(),
		// Our own keep-alives tell a dialer that its connection is dead;
		// QUIC's idle timeout and PINGs do the same for the acceptor.
		MaxIdleTimeout:             idle,
		KeepAlivePeriod:            idle / 4,
		MaxStreamReceiveWindow:     window,
		MaxConnectionReceiveWindow: window + 1<<20,
		// One stream per connection: a peer has no reason to open more.
		MaxIncomingStreams:    1,
		MaxIncomingUniStreams: -1,
		Allow0RTT:             false, // replayable early data has no place in Raft
	}
}

// tlsConfigs returns the server and client configs. QUIC needs TLS 1.3 and
// ALPN whatever the caller supplied.
func (t *Transport) tlsConfigs(e *link.Engine, self raftlite.NodeID) (server, client *tls.Config, err error) {
	if t.cfg.TLS == nil {
		e.Logger().Warn("quic: no TLS config: using a throwaway self-signed certificate; peers are NOT authenticated")
		ca, err := tlsutil.NewCA("raftlite unauthenticated")
		if err != nil {
			return nil, nil, err
		}
		ident, err := ca.Issue(self)
		if err != nil {
			return nil, nil, err
		}
		cert, err := tls.X509KeyPair(ident.CertPEM, ident.KeyPEM)
		if err != nil {
			return nil, nil, fmt.Errorf("quic: %w", err)
		}
		server = &tls.Config{Certificates: []tls.Certificate{cert}}
		client = &tls.Config{InsecureSkipVerify: true} // documented: unauthenticated
	} else {
		server, client = t.cfg.TLS.Clone(), t.cfg.TLS.Clone()
		roots := t.cfg.TLS.ClientCAs
		userVerify := server.VerifyConnection
		// Verify client certificates ourselves rather than let crypto/tls
		// do it, only so that strangers are counted as refused: crypto/tls
		// would reject them inside quic-go, out of our sight.
		server.ClientAuth = tls.RequireAnyClientCert
		server.VerifyConnection = func(cs tls.ConnectionState) error {
			err := tlsutil.VerifyChain(cs, roots)
			if err == nil && userVerify != nil {
				err = userVerify(cs)
			}
			if err != nil {
				e.CountRefused()
				e.WarnFromNetwork("quic: refusing connection: TLS verification failed", "err", err)
			}
			return err
		}
	}
	for _, c := range []*tls.Config{server, client} {
		c.NextProtos = []string{ALPN}
		c.MinVersion = tls.VersionTLS13
	}
	return server, client, nil
}

func (t *Transport) accept(e *link.Engine) {
	for {
		qc, err := t.ln.Accept(e.Context())
		if err != nil {
			return // closed: Accept fails only on shutdown
		}
		if !e.Go(func() { t.serve(e, qc) }) {
			_ = qc.CloseWithError(0, "shutting down")
			return
		}
	}
}

func (t *Transport) serve(e *link.Engine, qc *quicgo.Conn) {
	ctx, cancel := context.WithTimeout(e.Context(), t.timeout())
	st, err := qc.AcceptStream(ctx)
	cancel()
	if err != nil {
		_ = qc.CloseWithError(0, "no stream")
		return
	}
	e.Serve(newConn(qc, st), qc.RemoteAddr().String())
}

func (t *Transport) dial(ctx context.Context, addr string) (link.Conn, error) {
	udpAddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("quic: %w", err)
	}
	cfg := t.client
	if cfg.ServerName == "" && !cfg.InsecureSkipVerify {
		cfg = cfg.Clone()
		cfg.ServerName = udpAddr.IP.String()
	}
	qc, err := t.qt.Dial(ctx, udpAddr, cfg, t.quic)
	if err != nil {
		return nil, fmt.Errorf("quic: dialing %s: %w", addr, err)
	}
	if t.cfg.TLS != nil {
		if err := tlsutil.VerifyChain(qc.ConnectionState().TLS, cfg.RootCAs); err != nil {
			_ = qc.CloseWithError(0, "certificate")
			return nil, fmt.Errorf("quic: %s: %w", addr, err)
		}
	}
	st, err := qc.OpenStreamSync(ctx)
	if err != nil {
		_ = qc.CloseWithError(0, "no stream")
		return nil, fmt.Errorf("quic: opening stream to %s: %w", addr, err)
	}
	return newConn(qc, st), nil
}

// conn is the one stream of a QUIC connection, owning the connection:
// closing it closes both, so the peer learns at once.
type conn struct {
	*quicgo.Stream
	qc    *quicgo.Conn
	certs []*x509.Certificate
	once  sync.Once
}

func newConn(qc *quicgo.Conn, st *quicgo.Stream) *conn {
	return &conn{Stream: st, qc: qc, certs: qc.ConnectionState().TLS.PeerCertificates}
}

// Close closes the stream's connection, telling the peer at once.
func (c *conn) Close() error {
	c.once.Do(func() {
		_ = c.qc.CloseWithError(0, "closed")
	})
	return nil
}

// PeerCertificates returns the certificates the peer presented in the TLS
// handshake, leaf first; nil without TLS.
func (c *conn) PeerCertificates() []*x509.Certificate { return c.certs }
