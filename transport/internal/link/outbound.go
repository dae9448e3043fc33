package link

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
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
}

// runWriter keeps one connection to p up and drains p's queue into it.
func (e *Engine) runWriter(p *peer) {
	b := backoff{cur: minBackoff, max: e.cfg.MaxBackoff}
	var lastErr string
	for e.ctx.Err() == nil {
		oc, err := e.connect(p)
		if err != nil {
			if e.ctx.Err() != nil {
				return
			}
			e.stats.dialFailures.Add(1)
			// A peer that is down fails every attempt; say so once, not at
			// every retry. Refusals are configuration errors: always warn.
			level := slog.LevelDebug
			if isRefusal(err) || err.Error() != lastErr {
				level = slog.LevelInfo
				if isRefusal(err) {
					level = slog.LevelWarn
				}
			}
			lastErr = err.Error()
			e.log.Log(e.ctx, level, "cannot connect to peer", "peer", uint64(p.id), "addr", p.addr, "err", err)
			if !b.wait(e.ctx, p.restarted) {
				return
			}
			continue
		}
		b.cur = minBackoff
		lastErr = ""
		e.stats.connects.Add(1)
		e.log.Debug("connected to peer", "peer", uint64(p.id), "addr", p.addr)
		err = e.pump(p, oc)
		e.drop(oc.c)
		if e.ctx.Err() == nil {
			e.log.Info("connection to peer lost", "peer", uint64(p.id), "err", err)
		}
	}
}

func isRefusal(err error) bool {
	return errors.Is(err, wire.ErrRefused) || errors.Is(err, wire.ErrIdentity) ||
		errors.Is(err, wire.ErrVersion) || errors.Is(err, wire.ErrCluster)
}

// connect dials p and runs the dialer's half of the handshake.
func (e *Engine) connect(p *peer) (*outConn, error) {
	ctx, cancel := context.WithTimeout(e.ctx, e.cfg.DialTimeout)
	defer cancel()
	c, err := e.cfg.Dial(ctx, p.addr)
	if err != nil {
		return nil, err
	}
	if !e.track(c) {
		return nil, errClosed
	}
	oc, err := e.handshake(p, c)
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
	bw := bufio.NewWriterSize(c, 64<<10)
	oc := &outConn{c: c, bw: bw, w: wire.NewWriter(bw, e.cfg.MaxFrameBytes), r: wire.NewReader(c, wire.MaxHandshakeBytes)}
	if err := oc.w.WriteHandshake(e.hello()); err != nil {
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
	oc.instance = h.Instance
	_ = c.SetWriteDeadline(time.Time{})
	_ = c.SetReadDeadline(time.Time{})
	return oc, nil
}

// pump writes queued messages to oc until it fails or the peer restarts.
// Whatever is queued when it wakes goes out in one flush, so a burst costs
// one write, and a lone heartbeat is not held back waiting for company.
func (e *Engine) pump(p *peer, oc *outConn) error {
	// The acceptor sends nothing after its handshake, so a read returns
	// only when the connection dies; watching for that lets us reconnect
	// before the next message is lost to a dead socket.
	dead := make(chan struct{})
	if !e.Go(func() {
		defer close(dead)
		var one [1]byte
		_, _ = oc.c.Read(one[:])
		_ = oc.c.Close()
	}) {
		return errClosed
	}
	for {
		var m raftlite.Message
		select {
		case <-e.ctx.Done():
			return errClosed
		case <-dead:
			return errors.New("connection closed by peer")
		case <-p.restarted:
			if e.peerInstance(p) != oc.instance {
				return errors.New("peer restarted")
			}
			continue
		case m = <-p.queue:
		}
		for {
			if err := e.write(oc, &m); err != nil {
				return err
			}
			select {
			case m = <-p.queue:
				continue
			default:
			}
			break
		}
		_ = oc.c.SetWriteDeadline(time.Now().Add(e.cfg.WriteTimeout))
		if err := oc.bw.Flush(); err != nil {
			return fmt.Errorf("writing: %w", err)
		}
	}
}

func (e *Engine) write(oc *outConn, m *raftlite.Message) error {
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
	return nil
}

func (e *Engine) peerInstance(p *peer) uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return p.instance
}

// backoff is exponential with jitter, so that a cluster restarting
// together does not redial in lockstep.
type backoff struct{ cur, max time.Duration }

// wait sleeps for the next backoff interval; a restart signal cuts it
// short, since the peer is evidently back. It reports false on shutdown.
func (b *backoff) wait(ctx context.Context, restarted <-chan struct{}) bool {
	d := b.cur/2 + rand.N(b.cur/2+1)
	b.cur = min(2*b.cur, b.max)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-restarted:
		b.cur = minBackoff
		return true
	case <-t.C:
		return true
	}
}
