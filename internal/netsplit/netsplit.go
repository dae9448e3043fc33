// Package netsplit puts a proxy in front of a node's address that can cut
// it off from the network, as a partition does, for the transports'
// conformance tests (transporttest's Net.Partition) and the benchmarks
// that partition a cluster (bench).
//
// A cut loses bytes and datagrams silently: no connection is closed or
// reset, so a transport learns of it only from silence, as it would from a
// pulled cable. A TCP connection that was open when the cut came, or was
// opened during it, stays cut after Heal: its lost bytes cannot be
// replayed, and a real TCP connection would by then be waiting out a
// retransmission backoff of seconds. Only connections made after Heal
// carry data. UDP datagrams simply flow again after Heal.
package netsplit

import (
	"errors"
	"io"
	"net"
	"sync"
)

// Proxy is a TCP or UDP proxy that can be cut.
type Proxy interface {
	// Addr is the address to advertise to peers in place of the target's.
	Addr() string
	// Cut starts losing everything that passes through the proxy.
	Cut()
	// Heal ends the cut.
	Heal()
	// Close stops the proxy and closes every connection through it.
	Close() error
}

// Partition cuts every proxy and returns a function that heals them, as
// transporttest's Net.Partition expects.
func Partition(proxies ...Proxy) (heal func()) {
	for _, p := range proxies {
		p.Cut()
	}
	return func() {
		for _, p := range proxies {
			p.Heal()
		}
	}
}

// TCP forwards every connection made to its address to a target address.
type TCP struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
	cut    bool
	epoch  int // counts cuts; a connection made in an earlier epoch is lost
	conns  map[net.Conn]struct{}
}

// NewTCP returns a proxy listening on a free loopback port and forwarding
// to target.
func NewTCP(target string) (*TCP, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &TCP{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	return p, nil
}

// Addr returns the address the proxy listens on.
func (p *TCP) Addr() string { return p.ln.Addr().String() }

// Cut loses every byte of every connection open now, for good, and of
// every connection made before Heal.
func (p *TCP) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	p.epoch++
}

// Heal lets connections made from now on through.
func (p *TCP) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

// Close stops the proxy, closes every connection through it and waits for
// its goroutines.
func (p *TCP) Close() error {
	err := p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *TCP) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Go(func() { p.forward(c) })
	}
}

// track registers c for Close and returns the epoch it belongs to; it
// reports false, closing c, if the proxy is closed.
func (p *TCP) track(c net.Conn) (epoch int, cut, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = c.Close()
		return 0, false, false
	}
	p.conns[c] = struct{}{}
	return p.epoch, p.cut, true
}

// lost reports whether a connection of epoch has been cut.
func (p *TCP) lost(epoch int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.epoch != epoch
}

func (p *TCP) forward(client net.Conn) {
	epoch, cut, ok := p.track(client)
	if !ok {
		return
	}
	if cut {
		// Made during the cut: nothing it sends arrives, ever.
		discard(client)
		return
	}
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = client.Close() // as the target itself would refuse
		return
	}
	if _, _, ok := p.track(server); !ok {
		_ = client.Close()
		return
	}
	p.wg.Go(func() { p.pipe(server, client, epoch) })
	p.pipe(client, server, epoch)
}

// pipe copies from src to dst until src ends, losing what it reads once
// its connection's epoch is cut. An end passes on to dst only while the
// connection is not cut: a partition loses the FIN too.
func (p *TCP) pipe(src, dst net.Conn, epoch int) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.lost(epoch) {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				_ = src.Close()
				return
			}
		}
		if err != nil {
			_ = src.Close()
			if !p.lost(epoch) {
				_ = dst.Close()
			}
			return
		}
	}
}

// discard reads c until it ends.
func discard(c net.Conn) {
	_, _ = io.Copy(io.Discard, c)
	_ = c.Close()
}

// UDP forwards datagrams sent to its address to a target address, and the
// target's answers back, with one upstream socket per client address.
type UDP struct {
	conn   *net.UDPConn
	target *net.UDPAddr
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
	cut    bool
	flows  map[string]*net.UDPConn // by client address
}

// NewUDP returns a proxy listening on a free loopback port and forwarding
// to target.
func NewUDP(target string) (*UDP, error) {
	t, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		return nil, err
	}
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	p := &UDP{conn: conn, target: t, flows: map[string]*net.UDPConn{}}
	p.wg.Go(p.serve)
	return p, nil
}

// Addr returns the address the proxy listens on.
func (p *UDP) Addr() string { return p.conn.LocalAddr().String() }

// Cut loses every datagram, both ways, until Heal.
func (p *UDP) Cut() { p.setCut(true) }

// Heal lets datagrams through again.
func (p *UDP) Heal() { p.setCut(false) }

func (p *UDP) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
}

func (p *UDP) isCut() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cut
}

// Close stops the proxy and waits for its goroutines.
func (p *UDP) Close() error {
	p.mu.Lock()
	p.closed = true
	for _, f := range p.flows {
		_ = f.Close()
	}
	p.mu.Unlock()
	err := p.conn.Close()
	p.wg.Wait()
	return err
}

func (p *UDP) serve() {
	buf := make([]byte, 64<<10)
	for {
		n, from, err := p.conn.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if p.isCut() {
			continue
		}
		if up := p.flow(from); up != nil {
			_, _ = up.Write(buf[:n])
		}
	}
}

// flow returns the upstream socket for client, opening it (and its
// goroutine carrying answers back) on first use; nil once closed.
func (p *UDP) flow(client *net.UDPAddr) *net.UDPConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	if up := p.flows[client.String()]; up != nil {
		return up
	}
	up, err := net.DialUDP("udp", nil, p.target)
	if err != nil {
		return nil
	}
	p.flows[client.String()] = up
	p.wg.Go(func() { p.answer(up, client) })
	return up
}

// answer carries the target's datagrams on up back to client.
func (p *UDP) answer(up *net.UDPConn, client *net.UDPAddr) {
	buf := make([]byte, 64<<10)
	for {
		n, err := up.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // e.g. ICMP port unreachable while the target restarts
		}
		if !p.isCut() {
			_, _ = p.conn.WriteToUDP(buf[:n], client)
		}
	}
}
