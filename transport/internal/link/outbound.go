package link

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/transport/tlsutil"
	"github.com/raftlite/raftlite/transport/wire"
)

// outConn is an established, handshaken connection to a peer.
type outConn struct {
	c        Conn
	bw       *bufio.Writer
	w        *wire.Writer
	r        *wire.Reader
	instance uint64 // the peer's, from its handshake
	// keepAlive is the interval the peer promised; zero from a peer of an
	// earlier release, which sends nothing.
	keepAlive time.Duration
}

// runWriter keeps a connection to p up while there is something to send,
// and drains p's queue into it, until p is removed or the engine shuts
// down.
func (e *Engine) runWriter(p *peer) {
	defer e.dropQueued(p)
	d := &dialer{e: e, p: p}
	for {
		oc := d.connect()
		if oc == nil {
			return // removed, or shut down
		}
		e.stats.connects.Add(1)
		e.log.Info("connected to peer", "peer", uint64(p.id), "addr", p.addr)
		err := e.pump(p, oc)
		e.drop(oc.c)
		if p.ctx.Err() != nil {
			return
		}
		e.log.Info("connection to peer lost", "peer", uint64(p.id), "err", err)
	}
}

// dropQueued counts what is left in the queue of a removed peer as
// unroutable: it was sent to a node we no longer know.
func (e *Engine) dropQueued(p *peer) {
	if e.ctx.Err() != nil {
		return // shut down: nothing counts after Close
	}
	for {
		select {
		case <-p.queue:
			e.stats.unroutable.Add(1)
		default:
			return
		}
	}
}

// connect dials p and runs the dialer's half of the handshake, within
// DialTimeout; cancelling ctx abandons it.
func (e *Engine) connect(ctx context.Context, p *peer) (*outConn, error) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.DialTimeout)
	defer cancel()
	c, err := e.cfg.Dial(ctx, p.addr)
	if err != nil {
		return nil, err
	}
	if !e.track(c) {
		return nil, errClosed
	}
	// The handshake runs on deadlines, not on ctx: closing c is what
	// interrupts it.
	interrupt := context.AfterFunc(ctx, func() { _ = c.Close() })
	oc, err := e.handshake(p, c)
	if !interrupt() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		e.drop(c)
		return nil, err
	}
	return oc, nil
}

func (e *Engine) handshake(p *peer, c Conn) (*outConn, error) {
	if e.cfg.CheckCerts {
		if err := tlsutil.CheckIdentity(c.PeerCertificates(), p.id); err != nil {
			return nil, fmt.Errorf("%w: the node at %s: %w", wire.ErrIdentity, p.addr, err)
		}
	}
	deadline := time.Now().Add(e.cfg.DialTimeout)
	_ = c.SetWriteDeadline(deadline)
	_ = c.SetReadDeadline(deadline)
	metered := newMeter(c, p.traffic)
	bw := bufio.NewWriterSize(metered, 64<<10)
	oc := &outConn{c: c, bw: bw, w: wire.NewWriter(bw, e.cfg.MaxFrameBytes), r: wire.NewReader(metered, wire.MaxHandshakeBytes)}
	hello := e.hello()
	hello.KeepAlive = e.cfg.keepAlive()
	if err := oc.w.WriteHandshake(hello); err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("sending handshake: %w", err)
	}
	var h wire.Handshake
	if err := oc.r.ReadHandshake(&h); err != nil {
		return nil, fmt.Errorf("reading handshake reply: %w", err)
	}
	if err := h.Err(); err != nil {
		return nil, err
	}
	if err := h.Check(e.cfg.ClusterID); err != nil {
		return nil, err
	}
	if h.Node != p.id {
		return nil, fmt.Errorf("%w: the node at %s is node %d, expected node %d", wire.ErrIdentity, p.addr, h.Node, p.id)
	}
	oc.instance, oc.keepAlive = h.Instance, h.KeepAlive
	_ = c.SetWriteDeadline(time.Time{})
	_ = c.SetReadDeadline(time.Time{})
	return oc, nil
}

// pump writes queued messages to oc until it fails, falls silent or the
// peer restarts. Whatever is queued when it wakes goes out in one flush,
// so a burst costs one write, and a lone heartbeat is not held back
// waiting for company.
func (e *Engine) pump(p *peer, oc *outConn) error {
	dead := make(chan error, 1)
	if !e.Go(func() { dead <- e.watch(oc) }) {
		return errClosed
	}
	for {
		var m raftlite.Message
		select {
		case <-p.ctx.Done():
			return errClosed
		case err := <-dead:
			return err
		case <-p.restarted:
			if e.peerInstance(p) != oc.instance {
				return errors.New("peer restarted")
			}
			continue
		case m = <-p.queue:
		}
		if err := e.writeQueued(p, oc, &m); err != nil {
			return err
		}
	}
}

// writeQueued writes m and whatever else is queued for p, then flushes.
func (e *Engine) writeQueued(p *peer, oc *outConn, m *raftlite.Message) error {
	for {
		if err := e.write(p, oc, m); err != nil {
			return err
		}
		select {
		case *m = <-p.queue:
			continue
		default:
		}
		break
	}
	_ = oc.c.SetWriteDeadline(time.Now().Add(e.cfg.WriteTimeout))
	if err := oc.bw.Flush(); err != nil {
		return fmt.Errorf("writing: %w", err)
	}
	return nil
}

// watch reads what the peer sends on oc, which is only keep-alives, until
// they stop for IdleTimeout or the connection fails, and then closes oc so
// that a write blocked on it returns. A connection is thus given up within
// IdleTimeout however it died: the peer crashed, the network cut it, or
// its FIN was lost. A peer of an earlier release sends nothing, and a read
// from it returns only when the connection fails.
func (e *Engine) watch(oc *outConn) error {
	defer oc.c.Close()
	if oc.keepAlive == 0 {
		var one [1]byte
		_, _ = oc.c.Read(one[:])
		return errors.New("connection closed by peer")
	}
	// A peer may have granted a slower rate than we asked for.
	idle := max(e.cfg.IdleTimeout, 3*oc.keepAlive)
	for {
		_ = oc.c.SetReadDeadline(time.Now().Add(idle))
		if err := oc.r.ReadKeepAlive(); err != nil {
			if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
				return fmt.Errorf("no keep-alive from the peer for %v", idle)
			}
			return fmt.Errorf("connection closed by peer: %w", err)
		}
	}
}

func (e *Engine) write(p *peer, oc *outConn, m *raftlite.Message) error {
	// bufio writes through to the socket whenever its buffer fills, so the
	// deadline must be armed before every frame, not just the flush.
	_ = oc.c.SetWriteDeadline(time.Now().Add(e.cfg.WriteTimeout))
	err := oc.w.WriteMessage(m)
	switch {
	case errors.Is(err, wire.ErrFrameTooLarge):
		e.stats.oversize.Add(1)
		e.log.Warn("dropping message larger than MaxFrameBytes", "peer", uint64(m.To), "kind", m.Kind.String(), "err", err)
		return nil
	case err != nil:
		return fmt.Errorf("writing: %w", err)
	}
	e.stats.sent.Add(1)
	p.msgsSent.Add(1)
	return nil
}

func (e *Engine) peerInstance(p *peer) uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return p.instance
}
