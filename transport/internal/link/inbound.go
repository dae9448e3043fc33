package link

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/transport/tlsutil"
	"github.com/raftlite/raftlite/transport/wire"
)

// Serve runs the acceptor's side of connection c until it ends: handshake,
// then deliver every message read, in order. Call it on a goroutine started
// with Go.
func (e *Engine) Serve(c Conn, remote string) {
	if !e.track(c) {
		return
	}
	defer e.drop(c)
	log := e.log.With("remote", remote)
	deadline := time.Now().Add(e.cfg.DialTimeout)
	_ = c.SetReadDeadline(deadline)
	_ = c.SetWriteDeadline(deadline)

	r := wire.NewReader(c, e.cfg.MaxFrameBytes)
	var h wire.Handshake
	if err := r.ReadHandshake(&h); err != nil {
		if errors.Is(err, wire.ErrMalformed) || errors.Is(err, wire.ErrFrameTooLarge) {
			e.stats.malformed.Add(1)
			log.Warn("closing connection: bad handshake", "err", err)
		} else {
			log.Debug("connection ended before handshake", "err", err)
		}
		return
	}
	bw := bufio.NewWriterSize(c, 512)
	w := wire.NewWriter(bw, wire.MaxHandshakeBytes)
	if err := e.admit(&h, c); err != nil {
		e.stats.refused.Add(1)
		log.Warn("refusing connection", "claims", uint64(h.Node), "err", err)
		reply := e.hello()
		// The reason quotes the peer's cluster id, which the peer chose;
		// keep the reply well inside the handshake limit.
		reason := err.Error()
		if len(reason) > 1024 {
			reason = reason[:1024]
		}
		reply.Refusal, reply.Reason = wire.RefusalFor(err), reason
		if w.WriteHandshake(reply) == nil {
			_ = bw.Flush()
		}
		return
	}
	if err := w.WriteHandshake(e.hello()); err != nil {
		return
	}
	if err := bw.Flush(); err != nil {
		log.Debug("connection ended during handshake", "err", err)
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	_ = c.SetWriteDeadline(time.Time{})

	slot := e.claim(h.Node, c, h.Instance)
	if slot == nil {
		return
	}
	defer e.release(h.Node, slot)
	e.read(r, h.Node, log)
}

// admit decides whether to talk to the node that sent h over c.
func (e *Engine) admit(h *wire.Handshake, c Conn) error {
	if err := h.Check(e.cfg.ClusterID); err != nil {
		return err
	}
	if _, ok := e.peers[h.Node]; !ok {
		return fmt.Errorf("%w: node %d is not a member of this cluster", wire.ErrUnknownPeer, h.Node)
	}
	if e.cfg.CheckCerts {
		if err := tlsutil.CheckIdentity(c.PeerCertificates(), h.Node); err != nil {
			return fmt.Errorf("%w: %w", wire.ErrIdentity, err)
		}
	}
	return nil
}

// claim makes c the one inbound connection from node id. Any older one is
// closed and its reader waited for, so that two connections from one peer
// never deliver concurrently: that is what keeps FIFO order across a
// reconnect. It also notices a restarted peer. It returns nil on shutdown.
func (e *Engine) claim(id raftlite.NodeID, c Conn, instance uint64) *inbound {
	cur := &inbound{c: c, done: make(chan struct{})}
	p := e.peers[id]
	e.mu.Lock()
	prev := e.inbound[id]
	e.inbound[id] = cur
	restarted := p.instance != instance
	p.instance = instance
	e.mu.Unlock()
	if restarted {
		select {
		case p.restarted <- struct{}{}:
		default:
		}
	}
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
// connection fails.
func (e *Engine) read(r *wire.Reader, from raftlite.NodeID, log interface {
	Warn(string, ...any)
	Debug(string, ...any)
}) {
	for {
		var m raftlite.Message
		err := r.ReadMessage(&m)
		switch {
		case errors.Is(err, wire.ErrMalformed) || errors.Is(err, wire.ErrFrameTooLarge):
			e.stats.malformed.Add(1)
			log.Warn("closing connection: bad frame", "peer", uint64(from), "err", err)
			return
		case err != nil:
			if !errors.Is(err, io.EOF) && e.ctx.Err() == nil {
				log.Debug("inbound connection ended", "peer", uint64(from), "err", err)
			}
			return
		case m.From != from || m.To != e.self:
			e.stats.spoofed.Add(1)
			continue
		case e.ctx.Err() != nil:
			return
		}
		e.deliver(m)
		e.stats.delivered.Add(1)
	}
}
