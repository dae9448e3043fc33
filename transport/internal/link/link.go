// Package link is what the tcp and quic transports share: per-peer send
// queues and writer goroutines, the handshake, inbound readers and the
// counters. A transport supplies only a way to dial a peer and hands over
// the streams it accepts.
package link

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/transport/wire"
)

// Conn is one ordered byte stream to or from a peer, with its TLS peer
// certificates (nil when TLS is off). It must be comparable (a pointer).
type Conn interface {
	io.ReadWriteCloser
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
	PeerCertificates() []*x509.Certificate
}

// Defaults for Config fields left zero.
const (
	DefaultSendQueue    = 1024
	DefaultDialTimeout  = 2 * time.Second
	DefaultWriteTimeout = 10 * time.Second
	DefaultIdleTimeout  = time.Second
	DefaultMaxBackoff   = time.Second
)

// Config is the part of a transport's configuration that link uses.
type Config struct {
	// ClusterID goes into every handshake; a peer whose handshake names
	// another cluster is refused, both ways.
	ClusterID string
	// MaxFrameBytes bounds one encoded message, both ways: an outbound
	// message that encodes larger is dropped and counted, an inbound frame
	// larger than it closes the connection. Zero means
	// wire.DefaultMaxFrameBytes.
	MaxFrameBytes int
	// SendQueue is how many messages may wait for one peer's writer; Send
	// drops and counts a message that finds the queue full. Zero means
	// DefaultSendQueue.
	SendQueue int
	// DialTimeout bounds one attempt at connecting to a peer (dial, TLS and
	// handshake) and, on the accepting side, the wait for the dialer's
	// handshake. Zero means DefaultDialTimeout.
	DialTimeout time.Duration
	// WriteTimeout bounds each write to a connection; a peer that stops
	// reading for longer is disconnected. Zero means DefaultWriteTimeout.
	WriteTimeout time.Duration
	// IdleTimeout: an outbound connection on which the peer's keep-alives
	// stop for this long is given up and redialed. Zero means
	// DefaultIdleTimeout.
	IdleTimeout time.Duration
	// MaxBackoff caps the delay between attempts while the peer refuses
	// our handshake. Zero means DefaultMaxBackoff.
	MaxBackoff time.Duration
	// Logger receives connection events, tagged with the node id; nil
	// means slog.Default().
	Logger *slog.Logger
	// CheckCerts: TLS is on, so a peer's certificate must name its node id.
	CheckCerts bool
	// Dial opens a stream to the node at addr, TLS handshake included. ctx
	// carries the dial timeout and is cancelled by Close.
	Dial func(ctx context.Context, addr string) (Conn, error)
}

func (c *Config) setDefaults() {
	if c.MaxFrameBytes <= 0 {
		c.MaxFrameBytes = wire.DefaultMaxFrameBytes
	}
	if c.SendQueue <= 0 {
		c.SendQueue = DefaultSendQueue
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// keepAlive is how often a dialer asks its peer for a keep-alive: four
// chances per IdleTimeout, so that one late one does not kill a healthy
// connection.
func (c *Config) keepAlive() time.Duration { return c.IdleTimeout / 4 }

// Engine moves messages for one started transport.
type Engine struct {
	cfg  Config
	self raftlite.NodeID
	// peers is replaced whole by SetPeers, never modified, so that Send
	// reads it without a lock.
	peers    atomic.Pointer[map[raftlite.NodeID]*peer]
	deliver  func(raftlite.Message)
	instance uint64
	log      *slog.Logger
	stats    counters
	// netWarn limits the warnings that anyone who reaches the port can
	// cause: bad handshakes, refused connections, bad frames.
	netWarn *warnLimiter

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	conns   map[Conn]struct{}
	inbound map[raftlite.NodeID]*inbound

	// setMu orders SetPeers calls, and Start with them.
	setMu   sync.Mutex
	started bool
}

// peer is one node we talk to, at one address. SetPeers replaces it when
// its address changes, and cancels it when the node is removed.
type peer struct {
	id   raftlite.NodeID
	addr string
	// ctx ends when the peer is removed (or the engine shuts down): its
	// writer and dial attempts stop and its connections close.
	ctx    context.Context
	cancel context.CancelFunc
	// queue is nil when the peer has no address to dial: Send drops what
	// is sent to it.
	queue chan raftlite.Message
	// instance is the peer's latest start as seen by our acceptor; a change
	// is signalled on restarted so the writer drops its stale connection
	// (or dials at once) rather than wait for a failed write.
	instance  uint64
	restarted chan struct{}
	// sent gets a value when Send queues a message, so that a writer
	// without a connection dials when there is something to send.
	sent chan struct{}
	// traffic is kept when the peer's address changes.
	*traffic
}

type inbound struct {
	c    Conn
	done chan struct{}
}

// New returns an Engine for node self, with the peers in addrs. It starts
// nothing.
func New(cfg Config, self raftlite.NodeID, addrs map[raftlite.NodeID]string, deliver func(raftlite.Message)) *Engine {
	cfg.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	e := &Engine{
		cfg: cfg, self: self, deliver: deliver, instance: rand.Uint64() | 1,
		log: cfg.Logger.With("node", uint64(self)), ctx: ctx, cancel: cancel,
		conns: make(map[Conn]struct{}), inbound: make(map[raftlite.NodeID]*inbound), netWarn: newWarnLimiter(),
	}
	peers := make(map[raftlite.NodeID]*peer, len(addrs))
	for id, addr := range addrs {
		if id != self {
			peers[id] = e.newPeer(id, addr, &traffic{})
		}
	}
	e.peers.Store(&peers)
	return e
}

func (e *Engine) newPeer(id raftlite.NodeID, addr string, t *traffic) *peer {
	ctx, cancel := context.WithCancel(e.ctx)
	p := &peer{id: id, addr: addr, ctx: ctx, cancel: cancel,
		restarted: make(chan struct{}, 1), sent: make(chan struct{}, 1), traffic: t}
	if addr != "" {
		p.queue = make(chan raftlite.Message, e.cfg.SendQueue)
	}
	return p
}

// peer returns the peer id, or nil if it is not one.
func (e *Engine) peer(id raftlite.NodeID) *peer { return (*e.peers.Load())[id] }

// Start launches one writer per peer. Writers dial eagerly, so that links
// are up before Raft needs them and a restarted node announces itself.
func (e *Engine) Start() {
	e.setMu.Lock()
	defer e.setMu.Unlock()
	e.started = true
	for _, p := range *e.peers.Load() {
		e.startWriter(p)
	}
}

func (e *Engine) startWriter(p *peer) {
	if p.queue != nil {
		e.Go(func() { e.runWriter(p) })
	}
}

// SetPeers makes addrs (self included, or not) the peers, as
// raftlite.PeerUpdater describes: a new peer gets a writer, which dials it
// at once; a peer whose address changed is replaced, keeping its counters;
// a peer no longer listed is cancelled, which ends its writer, closes its
// connections both ways and drops its queue. Connections from nodes not
// listed are refused (see admit). It returns without waiting for any of
// that.
func (e *Engine) SetPeers(addrs map[raftlite.NodeID]string) {
	e.setMu.Lock()
	defer e.setMu.Unlock()
	if e.ctx.Err() != nil {
		return // shut down
	}
	old := *e.peers.Load()
	next := make(map[raftlite.NodeID]*peer, len(addrs))
	var added []*peer
	for id, addr := range addrs {
		switch p := old[id]; {
		case id == e.self:
		case p != nil && p.addr == addr:
			next[id] = p
		case p != nil:
			next[id] = e.newPeer(id, addr, p.traffic)
			added = append(added, next[id])
			e.log.Info("peer moved", "peer", uint64(id), "from", p.addr, "addr", addr)
		default:
			next[id] = e.newPeer(id, addr, &traffic{})
			added = append(added, next[id])
			e.log.Info("peer added", "peer", uint64(id), "addr", addr)
		}
	}
	e.peers.Store(&next)
	for id, p := range old {
		if next[id] != p {
			p.cancel()
			if next[id] == nil {
				e.log.Info("peer removed: closing its connections", "peer", uint64(id), "addr", p.addr)
			}
		}
	}
	if e.started {
		for _, p := range added {
			e.startWriter(p)
		}
	}
}

// Go runs f on a goroutine that Wait waits for; it reports false, running
// nothing, once Shutdown has begun.
func (e *Engine) Go(f func()) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		f()
	}()
	return true
}

// Context is cancelled when Shutdown begins.
func (e *Engine) Context() context.Context { return e.ctx }

// Done is closed when Shutdown begins.
func (e *Engine) Done() <-chan struct{} { return e.ctx.Done() }

// Logger returns the engine's logger, tagged with the node id.
func (e *Engine) Logger() *slog.Logger { return e.log }

// WarnFromNetwork logs a warning that anyone who reaches the port can
// cause, such as a failed TLS handshake, at most once a second (see
// warnEvery); the caller counts every occurrence.
func (e *Engine) WarnFromNetwork(msg string, args ...any) { e.netWarn.warn(e.log, msg, args...) }

// Shutdown stops all work and closes every connection, so that blocked
// reads and writes return. Call Wait after closing listeners.
func (e *Engine) Shutdown() {
	e.mu.Lock()
	e.closed = true
	conns := make([]Conn, 0, len(e.conns))
	for c := range e.conns {
		conns = append(conns, c)
	}
	e.mu.Unlock()
	e.cancel()
	for _, c := range conns {
		_ = c.Close()
	}
}

// Wait returns when every goroutine started by Go has returned, including
// any deliver call in progress.
func (e *Engine) Wait() { e.wg.Wait() }

// Stats returns a snapshot of the counters.
func (e *Engine) Stats() Stats { return e.stats.snapshot() }

// CountRefused counts a connection refused before it reached the engine
// (failed TLS handshake, for instance).
func (e *Engine) CountRefused() { e.stats.refused.Add(1) }

// Send queues m for its destination, dropping it if the queue is full:
// Raft retransmits whatever matters, so a drop costs a little latency while
// blocking would stall the node on its slowest peer.
func (e *Engine) Send(m raftlite.Message) {
	p := e.peer(m.To)
	if p == nil || p.queue == nil || e.ctx.Err() != nil {
		e.stats.unroutable.Add(1)
		return
	}
	select {
	case p.queue <- m:
	default:
		e.stats.queueFull.Add(1)
	}
	select {
	case p.sent <- struct{}{}:
	default:
	}
}

// track registers c so that Shutdown closes it; if shutdown has begun it
// closes c and reports false.
func (e *Engine) track(c Conn) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		_ = c.Close()
		return false
	}
	e.conns[c] = struct{}{}
	return true
}

func (e *Engine) drop(c Conn) {
	_ = c.Close()
	e.mu.Lock()
	delete(e.conns, c)
	e.mu.Unlock()
}

// hello returns our handshake, without a keep-alive interval.
func (e *Engine) hello() *wire.Handshake {
	return &wire.Handshake{Version: wire.Version, ClusterID: e.cfg.ClusterID, Node: e.self, Instance: e.instance}
}

var errClosed = errors.New("transport closed")
