package transporttest_test

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/transport/transporttest"
)

// Each transport below has one bug, and the suite must catch it in the
// subtest that exists for that bug, saying what went wrong: a check that
// has never been seen to fail has not been shown to check anything. The
// correct fake is the control: under the same recorder, nothing fails.
func TestSuiteCatchesBrokenTransports(t *testing.T) {
	for _, tc := range []struct {
		name  string
		wrap  func(*fake) raftlite.Transport
		catch map[string]string // subtest that must fail -> what it must say
	}{
		{"correct", nil, nil},
		{"drops", func(f *fake) raftlite.Transport { return &drops{fake: f} },
			map[string]string{"FIFO": "lost"}},
		{"duplicates", func(f *fake) raftlite.Transport { return &duplicates{fake: f} },
			map[string]string{"FIFO": "duplicated"}},
		{"reorders", func(f *fake) raftlite.Transport {
			return &reorders{fake: f, held: map[raftlite.NodeID]*raftlite.Message{}}
		},
			map[string]string{"FIFO": "out of order"}},
		{"corrupts a field", func(f *fake) raftlite.Transport { return &corrupts{fake: f} },
			map[string]string{"Delivery": "Incarnation"}},
		{"loses a snapshot's sessions", func(f *fake) raftlite.Transport { return &losesSessions{fake: f} },
			map[string]string{"Delivery": "Sessions"}},
		{"delivers after Close", func(f *fake) raftlite.Transport { return &deliversAfterClose{fake: f} },
			map[string]string{"CloseDuringTraffic": "after Close returned"}},
		{"never reconnects", func(f *fake) raftlite.Transport {
			return &neverReconnects{fake: f, routes: map[raftlite.NodeID]*fake{}}
		},
			map[string]string{"Restart": "no message from 1 reached 2"}},
		{"reconnects slowly", func(f *fake) raftlite.Transport {
			return &reconnectsSlowly{fake: f, links: map[raftlite.NodeID]*slowLink{}}
		},
			map[string]string{"ReconnectAfterRestart": "want within", "ReconnectAfterPartition": "want within",
				"ReconnectAfterCrash": "want within"}},
		{"counts what it received after handing it over", func(f *fake) raftlite.Transport { return &countsLate{fake: f} },
			map[string]string{"Metrics": "count a message before handing it over"}},
		{"ignores new peers", func(f *fake) raftlite.Transport { return &ignoresNewPeers{fake: f} },
			map[string]string{"PeersAtRunTime": "no message from 1 reached 3"}},
		{"keeps removed peers", func(f *fake) raftlite.Transport { return &keepsRemovedPeers{fake: f} },
			map[string]string{"PeersAtRunTime": "sent after SetPeers removed it"}},
		{"leaves a removed peer's link running", func(f *fake) raftlite.Transport {
			return &leaksLinks{fake: f, links: map[raftlite.NodeID]bool{}, stop: make(chan struct{})}
		},
			map[string]string{"PeersAtRunTime": "outlived its removal"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			results := transporttest.RunRecorded(t, makeFakeNet(tc.wrap), fakeOptions)
			strays.Wait()
			for name, r := range results {
				if _, expected := tc.catch[name]; r.Failed && !expected {
					t.Logf("%s also failed: %s", name, strings.Join(r.Log, "; "))
				}
			}
			if tc.catch == nil {
				for name, r := range results {
					assert.False(t, r.Failed, "%s failed on a correct transport: %s", name, strings.Join(r.Log, "; "))
				}
			}
			for name, says := range tc.catch {
				r := results[name]
				require.NotNil(t, r, "no subtest %s", name)
				require.True(t, r.Failed, "%s passed", name)
				assert.True(t, slices.ContainsFunc(r.Log, func(s string) bool { return strings.Contains(s, says) }),
					"%s failed without saying %q: %s", name, says, strings.Join(r.Log, "; "))
			}
		})
	}
}

// drops loses every hundredth message.
type drops struct {
	*fake
	sent atomic.Int64
}

func (d *drops) Send(m raftlite.Message) {
	if d.sent.Add(1)%100 != 0 {
		d.fake.Send(m)
	}
}

// duplicates sends every hundredth message twice.
type duplicates struct {
	*fake
	sent atomic.Int64
}

func (d *duplicates) Send(m raftlite.Message) {
	d.fake.Send(m)
	if d.sent.Add(1)%100 == 0 {
		d.fake.Send(m)
	}
}

// reorders holds every hundredth message back until the next one to the
// same node has gone.
type reorders struct {
	*fake
	mu   sync.Mutex
	sent int
	held map[raftlite.NodeID]*raftlite.Message
}

func (r *reorders) Send(m raftlite.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent++
	if r.sent%100 == 0 && r.held[m.To] == nil {
		r.held[m.To] = &m
		return
	}
	r.fake.Send(m)
	if h := r.held[m.To]; h != nil {
		r.fake.Send(*h)
		delete(r.held, m.To)
	}
}

// corrupts changes the Incarnation of every entry it carries (on a copy:
// Send must not modify its argument).
type corrupts struct{ *fake }

func (c *corrupts) Send(m raftlite.Message) {
	m.Entries = slices.Clone(m.Entries)
	for i := range m.Entries {
		m.Entries[i].Incarnation++
	}
	c.fake.Send(m)
}

// losesSessions drops the exactly-once table of the snapshots it carries,
// as a codec that forgot a nested field would.
type losesSessions struct{ *fake }

func (l *losesSessions) Send(m raftlite.Message) {
	if m.Snapshot != nil {
		meta := *m.Snapshot
		meta.Sessions = nil
		m.Snapshot = &meta
	}
	l.fake.Send(m)
}

// strays counts the goroutines that deliversAfterClose leaves behind, so
// that a test can wait for them before goleak looks.
var strays sync.WaitGroup

// deliversAfterClose calls deliver from a goroutine that Close does not
// wait for: a deliver in progress outlives Close, and a few more follow.
type deliversAfterClose struct {
	*fake
	queue  chan raftlite.Message
	closed atomic.Bool
	once   sync.Once
}

func (d *deliversAfterClose) Start(self raftlite.NodeID, peers map[raftlite.NodeID]string, deliver func(raftlite.Message)) error {
	d.queue = make(chan raftlite.Message, 4096)
	strays.Go(func() {
		late := 0
		for m := range d.queue {
			deliver(m)
			if d.closed.Load() {
				if late++; late == 3 {
					return
				}
			}
		}
	})
	return d.fake.Start(self, peers, func(m raftlite.Message) { d.queue <- m })
}

func (d *deliversAfterClose) Close() error {
	err := d.fake.Close()
	d.once.Do(func() {
		d.closed.Store(true)
		close(d.queue)
	})
	return err
}

// slowReconnect is how long reconnectsSlowly takes to resume.
const slowReconnect = 600 * time.Millisecond

// reconnectsSlowly stops sending to a node it cannot reach, as a transport
// whose connection broke does, and resumes only slowReconnect after the
// node is reachable again (restarted, or the partition healed): a dialer
// with a long backoff.
type reconnectsSlowly struct {
	*fake
	mu    sync.Mutex
	links map[raftlite.NodeID]*slowLink
}

type slowLink struct {
	peer *fake // the instance last reached
	down bool
	upAt time.Time
}

func (r *reconnectsSlowly) Send(m raftlite.Message) {
	to := r.net.route(r.addr(m.To))
	r.mu.Lock()
	l := r.links[m.To]
	if l == nil {
		l = &slowLink{}
		r.links[m.To] = l
	}
	switch {
	case to == nil:
		l.down = true
	case l.down || (l.peer != nil && l.peer != to):
		l.down, l.upAt = false, time.Now().Add(slowReconnect)
	}
	if to != nil {
		l.peer = to
	}
	up := to != nil && !time.Now().Before(l.upAt)
	r.mu.Unlock()
	if up {
		r.fake.Send(m)
	}
}

// neverReconnects keeps sending to the instance it first reached, as a
// transport that never notices a restart keeps writing to a dead
// connection.
type neverReconnects struct {
	*fake
	mu     sync.Mutex
	routes map[raftlite.NodeID]*fake
}

func (n *neverReconnects) Send(m raftlite.Message) {
	n.mu.Lock()
	to := n.routes[m.To]
	if to == nil {
		to = n.net.route(n.addr(m.To))
		n.routes[m.To] = to
	}
	n.mu.Unlock()
	if to != nil {
		select {
		case to.inbox <- m:
		default:
		}
	}
}

// countsLate reports one message fewer received from each peer than it
// handed over, as a transport that counts after deliver returns can.
type countsLate struct{ *fake }

func (c *countsLate) TransportMetrics() raftlite.TransportMetrics {
	m := c.fake.TransportMetrics()
	for i := range m.Peers {
		m.Peers[i].MessagesReceived = max(m.Peers[i].MessagesReceived, 1) - 1
	}
	return m
}

// ignoresNewPeers takes SetPeers for a no-op, as a transport that knows
// only the addresses it was started with.
type ignoresNewPeers struct{ *fake }

func (*ignoresNewPeers) SetPeers(map[raftlite.NodeID]string) {}

// keepsRemovedPeers adds the peers SetPeers lists and never forgets one,
// so that a removed node goes on receiving.
type keepsRemovedPeers struct{ *fake }

func (k *keepsRemovedPeers) SetPeers(peers map[raftlite.NodeID]string) {
	k.mu.Lock()
	merged := maps.Clone(k.peers)
	k.mu.Unlock()
	maps.Copy(merged, peers)
	k.fake.SetPeers(merged)
}

// leaksLinks runs a goroutine per peer, as a writer per link, and stops
// them at Close but not when SetPeers removes their peer.
type leaksLinks struct {
	*fake
	mu    sync.Mutex
	links map[raftlite.NodeID]bool
	stop  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup
}

func (l *leaksLinks) Start(self raftlite.NodeID, peers map[raftlite.NodeID]string, deliver func(raftlite.Message)) error {
	l.link(peers)
	return l.fake.Start(self, peers, deliver)
}

func (l *leaksLinks) SetPeers(peers map[raftlite.NodeID]string) {
	l.link(peers)
	l.fake.SetPeers(peers)
}

// link starts a goroutine for each peer that has none.
func (l *leaksLinks) link(peers map[raftlite.NodeID]string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id := range peers {
		if !l.links[id] {
			l.links[id] = true
			l.wg.Go(func() { <-l.stop })
		}
	}
}

func (l *leaksLinks) Close() error {
	err := l.fake.Close()
	l.once.Do(func() { close(l.stop) })
	l.wg.Wait()
	return err
}
