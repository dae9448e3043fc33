package link

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/transport/tlsutil"
	"github.com/raftlite/raftlite/transport/wire"
)

// Serve runs the acceptor's side of connection c until it ends: handshake,
// then deliver every message read, in order, while sending the keep-alives
// the dialer asked for. It closes c if the peer is removed meanwhile. Call
// it on a goroutine started with Go.
func (e *Engine) Serve(c Conn, remote string) {
	if !e.track(c) {
		return
	}
	defer e.drop(c)
	metered := newMeter(c, nil) // the peer is known after the handshake
	bw := bufio.NewWriterSize(metered, 512)
	ic := &inConn{c: c, r: wire.NewReader(metered, e.cfg.MaxFrameBytes), bw: bw,
		w: wire.NewWriter(bw, wire.MaxHandshakeBytes), log: e.log.With("remote", remote)}
	h, p, keepAlive := e.answer(ic)
	if p == nil {
		return
	}
	metered.countFor(p.traffic)
	defer context.AfterFunc(p.ctx, func() { _ = c.Close() })()
	e.noteInstance(p, h.Instance)
	if keepAlive > 0 {
		stop := make(chan struct{})
		defer close(stop)
		if !e.Go(func() { e.sendKeepAlives(ic, keepAlive, stop) }) {
			return
		}
	}
	e.read(ic, p)
}

// inConn is an accepted connection: the dialer's messages come in on r,
// our handshake and keep-alives go out on w.
type inConn struct {
	c   Conn
	r   *wire.Reader
	bw  *bufio.Writer
	w   *wire.Writer
	log *slog.Logger
}

// Keep-alive intervals a dialer may ask for are held within these bounds.
const (
	minKeepAlive = 10 * time.Millisecond
	maxKeepAlive = time.Minute
)

// answer runs the acceptor's half of the handshake: it reads the dialer's,
// admits or refuses it, and replies. It returns the dialer's handshake,
// the peer it proved to be and the keep-alive interval granted (zero if
// none was asked for); a nil peer if the connection is not to be served.
func (e *Engine) answer(ic *inConn) (*wire.Handshake, *peer, time.Duration) {
	deadline := time.Now().Add(e.cfg.DialTimeout)
	_ = ic.c.SetReadDeadline(deadline)
	_ = ic.c.SetWriteDeadline(deadline)
	var h wire.Handshake
	if err := ic.r.ReadHandshake(&h); err != nil {
		if errors.Is(err, wire.ErrMalformed) || errors.Is(err, wire.ErrFrameTooLarge) {
			e.stats.malformed.Add(1)
			e.netWarn.warn(ic.log, "closing connection: bad handshake", "err", err)
		} else {
			ic.log.Debug("connection ended before handshake", "err", err)
		}
		return nil, nil, 0
	}
	p, err := e.admit(&h, ic.c)
	if err != nil {
		e.refuse(ic, &h, err)
		return nil, nil, 0
	}
	reply := e.hello()
	if h.KeepAlive > 0 {
		reply.KeepAlive = min(max(h.KeepAlive, minKeepAlive), maxKeepAlive)
	}
	if err := ic.w.WriteHandshake(reply); err != nil {
		return nil, nil, 0
	}
	if err := ic.bw.Flush(); err != nil {
		ic.log.Debug("connection ended during handshake", "err", err)
		return nil, nil, 0
	}
	_ = ic.c.SetReadDeadline(time.Time{})
	_ = ic.c.SetWriteDeadline(time.Time{})
	return &h, p, reply.KeepAlive
}

// refuse tells the dialer why we will not talk to it.
func (e *Engine) refuse(ic *inConn, h *wire.Handshake, err error) {
	e.stats.refused.Add(1)
	e.netWarn.warn(ic.log, "refusing connection", "claims", uint64(h.Node), "err", err)
	reply := e.hello()
	// The reason quotes the peer's cluster id, which the peer chose; keep
	// the reply well inside the handshake limit.
	reason := err.Error()
	if len(reason) > 1024 {
		reason = reason[:1024]
	}
	reply.Refusal, reply.Reason = wire.RefusalFor(err), reason
	if ic.w.WriteHandshake(reply) == nil {
		_ = ic.bw.Flush()
	}
}

// sendKeepAlives writes an empty frame every interval until stop is closed
// or a write fails; a failed write closes the connection, which ends its
// reader too.
func (e *Engine) sendKeepAlives(ic *inConn, every time.Duration, stop <-chan struct{}) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-e.ctx.Done():
			return
		case <-tick.C:
		}
		_ = ic.c.SetWriteDeadline(time.Now().Add(e.cfg.WriteTimeout))
		err := ic.w.WriteKeepAlive()
		if err == nil {
			err = ic.bw.Flush()
		}
		if err != nil {
			_ = ic.c.Close()
			return
		}
	}
}

// admit decides whether to talk to the node that sent h over c, and
// returns it. A node that is not a peer is refused: one about to be added
// is retried by its dialer, at once when we connect to it (noteInstance),
// and one removed must not go on delivering. The handshake's node id is
// proven only with TLS (CheckCerts); without it anyone can claim any id.
func (e *Engine) admit(h *wire.Handshake, c Conn) (*peer, error) {
	if err := h.Check(e.cfg.ClusterID); err != nil {
		return nil, err
	}
	p := e.peer(h.Node)
	if p == nil {
		return nil, fmt.Errorf("%w: node %d is not a member of this cluster", wire.ErrUnknownPeer, h.Node)
	}
	if e.cfg.CheckCerts {
		if err := tlsutil.CheckIdentity(c.PeerCertificates(), h.Node); err != nil {
			return nil, fmt.Errorf("%w: %w", wire.ErrIdentity, err)
		}
	}
	return p, nil
}

// noteInstance records the instance a peer's handshake announced. A new
// one means the peer restarted: its writer is told at once, so that it
// drops the connection it holds to the old instance (or dials at once)
// rather than wait for the connection to fail.
func (e *Engine) noteInstance(p *peer, instance uint64) {
	e.mu.Lock()
	restarted := p.instance != instance
	p.instance = instance
	e.mu.Unlock()
	if restarted {
		select {
		case p.restarted <- struct{}{}:
		default:
		}
	}
}

// claim makes c the one inbound connection from node id. Any older one is
// closed and its reader waited for, so that two connections from one peer
// never deliver concurrently: that is what keeps FIFO order across a
// reconnect. It returns nil on shutdown.
func (e *Engine) claim(id raftlite.NodeID, c Conn) *inbound {
	cur := &inbound{c: c, done: make(chan struct{})}
	e.mu.Lock()
	prev := e.inbound[id]
	e.inbound[id] = cur
	e.mu.Unlock()
	if prev != nil {
		_ = prev.c.Close()
		select {
		case <-prev.done:
		case <-e.ctx.Done():
			close(cur.done)
			return nil
		}
	}
	return cur
}

func (e *Engine) release(id raftlite.NodeID, cur *inbound) {
	close(cur.done)
	e.mu.Lock()
	if e.inbound[id] == cur {
		delete(e.inbound, id)
	}
	e.mu.Unlock()
}

// read delivers messages from the node the handshake proved, until the
// connection fails. The connection claims the node's inbound slot only with
// its first message: a dialer that raced two attempts uses one and closes
// the other, and the other must not displace the one in use.
func (e *Engine) read(ic *inConn, p *peer) {
	from := p.id
	var slot *inbound
	defer func() {
		if slot != nil {
			e.release(from, slot)
		}
	}()
	for {
		var m raftlite.Message
		err := ic.r.ReadMessage(&m)
		switch {
		case errors.Is(err, wire.ErrMalformed) || errors.Is(err, wire.ErrFrameTooLarge):
			e.stats.malformed.Add(1)
			e.netWarn.warn(ic.log, "closing connection: bad frame", "peer", uint64(from), "err", err)
			return
		case err != nil:
			if !errors.Is(err, io.EOF) && e.ctx.Err() == nil {
				ic.log.Debug("inbound connection ended", "peer", uint64(from), "err", err)
			}
			return
		case m.From != from || m.To != e.self:
			e.stats.spoofed.Add(1)
			continue
		case e.ctx.Err() != nil:
			return
		}
		if slot == nil {
			if slot = e.claim(from, ic.c); slot == nil {
				return
			}
		}
		p.msgsReceived.Add(1) // before deliver: a receiver that sees m sees it counted
		e.deliver(m)
		e.stats.delivered.Add(1)
	}
}
