package link

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/raftlite/raftlite/transport/wire"
)

// dialer opens the connections of one peer's writer.
//
// It dials at once when the writer starts and when a connection is lost.
// After a failure it dials again as soon as a message is sent (and at least
// minRedial after the last attempt began): a link that Raft uses is retried
// at the pace of its heartbeats, not of a backoff grown long while the peer
// was away, and an idle link to a dead peer costs nothing. It also dials at
// once when the peer connects to us from a new instance: it is back.
//
// An attempt may hang for up to DialTimeout where a partition swallowed its
// packets; it does not hold the link down after the partition heals: while
// messages are sent, another attempt starts beside it every retryAfter, and
// the first to succeed wins. Only refusals (another cluster, a wrong
// identity) back off exponentially, since retrying does not fix them.
type dialer struct {
	e *Engine
	p *peer

	// The attempts of one call of connect.
	results  chan dialResult
	inFlight int
	started  time.Time        // when the newest attempt began
	retry    <-chan time.Time // after a refusal: when to try again

	backoff backoff
	lastErr string
}

// minRedial spaces attempts when none is under way, so that a peer that
// refuses TCP connections at once is not dialed in a loop.
const minRedial = 20 * time.Millisecond

type dialResult struct {
	oc  *outConn
	err error
}

// connect returns a connection to the peer, or nil once the peer is
// removed or the engine shuts down.
func (d *dialer) connect() *outConn {
	ctx, cancel := context.WithCancel(d.p.ctx)
	defer cancel() // abandons the attempts still under way
	d.results, d.inFlight, d.retry = make(chan dialResult), 0, nil
	d.start(ctx)
	for {
		var sent <-chan struct{}
		var ready <-chan time.Time
		switch wait := time.Until(d.started.Add(d.gap())); {
		case d.retry != nil: // refused: wait out the backoff
		case wait > 0:
			ready = time.After(wait)
		default:
			sent = d.p.sent
		}
		select {
		case <-ctx.Done():
			return nil
		case r := <-d.results:
			d.inFlight--
			if r.err == nil {
				d.backoff.reset()
				d.lastErr = ""
				return r.oc
			}
			d.failed(r.err)
		case <-d.p.restarted:
			d.backoff.reset()
			d.start(ctx)
		case <-d.retry:
			d.start(ctx)
		case <-sent:
			d.start(ctx)
		case <-ready:
		}
	}
}

// gap is how long after an attempt began the next may begin.
func (d *dialer) gap() time.Duration {
	if d.inFlight == 0 {
		return minRedial
	}
	// Bounded below by a share of DialTimeout, so that at most eight
	// attempts are ever under way.
	return max(d.e.cfg.keepAlive(), d.e.cfg.DialTimeout/8)
}

// start begins an attempt. A message sent before it does not call for
// another.
func (d *dialer) start(ctx context.Context) {
	select {
	case <-d.p.sent:
	default:
	}
	d.started, d.retry = time.Now(), nil
	results := d.results
	if d.e.Go(func() { d.attempt(ctx, results) }) {
		d.inFlight++
	}
}

// attempt dials once and reports to results, unless the attempt has been
// abandoned, in which case it closes what it opened.
func (d *dialer) attempt(ctx context.Context, results chan<- dialResult) {
	oc, err := d.e.connect(ctx, d.p)
	select {
	case results <- dialResult{oc, err}:
	case <-ctx.Done():
		if oc != nil {
			d.e.drop(oc.c)
		}
	}
}

// failed counts and logs a failed attempt. A peer that is down fails every
// attempt: say so once, not at every retry. Refusals are configuration
// errors: always warn, and back off.
func (d *dialer) failed(err error) {
	if d.p.ctx.Err() != nil {
		return
	}
	d.e.stats.dialFailures.Add(1)
	level := slog.LevelDebug
	if isRefusal(err) {
		level = slog.LevelWarn
		d.retry = time.After(d.backoff.next(d.e.cfg.MaxBackoff))
	} else if err.Error() != d.lastErr {
		level = slog.LevelInfo
	}
	d.lastErr = err.Error()
	d.e.log.Log(d.e.ctx, level, "cannot connect to peer", "peer", uint64(d.p.id), "addr", d.p.addr, "err", err)
}

func isRefusal(err error) bool {
	return errors.Is(err, wire.ErrRefused) || errors.Is(err, wire.ErrIdentity) ||
		errors.Is(err, wire.ErrVersion) || errors.Is(err, wire.ErrCluster)
}

// backoff is exponential with jitter, so that a cluster refusing a
// misconfigured node does not hear from it in lockstep.
type backoff struct{ cur time.Duration }

const minBackoff = 20 * time.Millisecond

// next returns the next interval, at most limit.
func (b *backoff) next(limit time.Duration) time.Duration {
	b.cur = min(max(2*b.cur, minBackoff), limit)
	return b.cur/2 + rand.N(b.cur/2+1)
}

func (b *backoff) reset() { b.cur = 0 }
