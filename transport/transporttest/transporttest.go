package transporttest

import (
	"bytes"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/raftlite/raftlite"
)

// Net is a set of nodes under test.
type Net struct {
	// Peers maps every node id the suite asked for to its address.
	Peers map[raftlite.NodeID]string
	// New returns a new, unstarted transport for node id, which will be
	// started with Peers and must serve Peers[id]. It is called again for a
	// node the suite restarts, after the previous transport has closed.
	New func(id raftlite.NodeID) raftlite.Transport
}

// MakeNet returns a fresh Net (fresh addresses) for the given node ids.
// It may register cleanups with t.
type MakeNet func(t *testing.T, ids []raftlite.NodeID) Net

// Options describes the transport under test.
type Options struct {
	// MaxMessageBytes is the largest message the transport delivers, as
	// measured by Size; 0 means no limit, and the suite then checks only
	// that a large (4 MiB) message arrives.
	MaxMessageBytes int
	// Size measures a message for MaxMessageBytes, e.g. wire.Size for the
	// encoded size; default is the total length of the entries' Data.
	Size func(*raftlite.Message) int
	// Timeout bounds each wait for delivery; default 20s.
	Timeout time.Duration
	// Goleak options, e.g. to ignore a library's global goroutines.
	Goleak []goleak.Option
}

// Run runs the conformance suite as subtests of t.
func Run(t *testing.T, makeNet MakeNet, opts Options) {
	if opts.Size == nil {
		opts.Size = dataSize
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 20 * time.Second
	}
	s := &suite{makeNet: makeNet, opts: opts}
	for _, tc := range []struct {
		name string
		f    func(*testing.T)
	}{
		{"Delivery", s.testDelivery},
		{"FIFO", s.testFIFO},
		{"MaxSize", s.testMaxSize},
		{"ConcurrentSenders", s.testConcurrentSenders},
		{"Restart", s.testRestart},
		{"PeerDown", s.testPeerDown},
		{"CloseDuringTraffic", s.testCloseDuringTraffic},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Registered first, so it runs after every transport's Close.
			ignore := goleak.IgnoreCurrent()
			t.Cleanup(func() { goleak.VerifyNone(t, append([]goleak.Option{ignore}, opts.Goleak...)...) })
			tc.f(t)
		})
	}
}

type suite struct {
	makeNet MakeNet
	opts    Options
}

func dataSize(m *raftlite.Message) int {
	n := 0
	for _, e := range m.Entries {
		n += len(e.Data)
	}
	return n
}

// cluster is the nodes of one subtest.
type cluster struct {
	t     *testing.T
	s     *suite
	net   Net
	nodes map[raftlite.NodeID]*node
}

func (s *suite) cluster(t *testing.T, n int) *cluster {
	ids := make([]raftlite.NodeID, n)
	for i := range ids {
		ids[i] = raftlite.NodeID(i + 1)
	}
	net := s.makeNet(t, ids)
	require.Len(t, net.Peers, n, "MakeNet must return an address for every id")
	return &cluster{t: t, s: s, net: net, nodes: map[raftlite.NodeID]*node{}}
}

// start starts (or restarts) node id.
func (c *cluster) start(id raftlite.NodeID) *node {
	nd := &node{id: id, tr: c.net.New(id), inbox: newInbox()}
	require.NoError(c.t, nd.tr.Start(id, c.net.Peers, nd.inbox.deliver), "Start node %d", id)
	c.nodes[id] = nd
	c.t.Cleanup(nd.close)
	return nd
}

func (c *cluster) startAll() {
	for id := range c.net.Peers {
		c.start(id)
	}
}

type node struct {
	id        raftlite.NodeID
	tr        raftlite.Transport
	inbox     *inbox
	closeOnce sync.Once
}

// close closes the transport and, once Close has returned, makes any
// further deliver a recorded violation.
func (n *node) close() {
	n.closeOnce.Do(func() {
		_ = n.tr.Close()
		n.inbox.closed.Store(true)
	})
}

// inbox records what a node was delivered.
type inbox struct {
	mu      sync.Mutex
	msgs    []raftlite.Message
	changed chan struct{} // closed and replaced on every delivery
	// latest[from][stream] is the highest Term seen on that stream.
	latest map[raftlite.NodeID]map[uint64]uint64

	closed atomic.Bool
	// slow makes every deliver take a while, as a busy node's does, so that
	// Close is likely to find a deliver in progress and must wait for it.
	slow           atomic.Bool
	slowStarted    chan struct{} // gets a value when a slow deliver begins
	afterClose     atomic.Int64
	afterCloseDesc atomic.Value
}

func newInbox() *inbox {
	return &inbox{changed: make(chan struct{}), latest: map[raftlite.NodeID]map[uint64]uint64{},
		slowStarted: make(chan struct{}, 1)}
}

func (in *inbox) deliver(m raftlite.Message) {
	if in.closed.Load() {
		in.afterClose.Add(1)
		in.afterCloseDesc.Store(fmt.Sprintf("started after Close returned: %+v", m))
	}
	if in.slow.Load() {
		select {
		case in.slowStarted <- struct{}{}:
		default:
		}
		busy := time.NewTimer(20 * time.Millisecond)
		<-busy.C
		if in.closed.Load() {
			in.afterClose.Add(1)
			in.afterCloseDesc.Store(fmt.Sprintf("still running when Close returned: %+v", m))
		}
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.msgs = append(in.msgs, m)
	if in.latest[m.From] == nil {
		in.latest[m.From] = map[uint64]uint64{}
	}
	in.latest[m.From][m.Commit] = max(in.latest[m.From][m.Commit], m.Term)
	close(in.changed)
	in.changed = make(chan struct{})
}

// wait returns when cond (called under the inbox lock) holds, or fails the
// test after timeout. It wakes on deliveries, not on a clock.
func (in *inbox) wait(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !in.waitOK(timeout, cond) {
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}

func (in *inbox) waitOK(timeout time.Duration, cond func() bool) bool {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		in.mu.Lock()
		ok, ch := cond(), in.changed
		in.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-timer.C:
			return false
		}
	}
}

func (in *inbox) from(id raftlite.NodeID) []raftlite.Message {
	in.mu.Lock()
	defer in.mu.Unlock()
	var out []raftlite.Message
	for _, m := range in.msgs {
		if m.From == id {
			out = append(out, m)
		}
	}
	return out
}

func (in *inbox) count() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.msgs)
}

func (in *inbox) checkNoneAfterClose(t testing.TB, id raftlite.NodeID) {
	t.Helper()
	if n := in.afterClose.Load(); n > 0 {
		t.Errorf("node %d: deliver ran %d times after Close returned, e.g. %v", id, n, in.afterCloseDesc.Load())
	}
}

// seqMsg is a message of a numbered stream: Commit names the stream, Term
// counts within it.
func seqMsg(from, to raftlite.NodeID, stream, seq uint64) raftlite.Message {
	return raftlite.Message{Kind: raftlite.MsgLogResponse, From: from, To: to, Commit: stream, Term: seq}
}

// fullMessage sets every field, so a transport that loses one is caught.
func fullMessage(from, to raftlite.NodeID) raftlite.Message {
	return raftlite.Message{
		Kind: raftlite.MsgLogRequest, From: from, To: to, Term: 1<<40 + 7,
		LastIndex: 11, LastTerm: 12, PrevIndex: 13, PrevTerm: 14, Commit: 15,
		Entries: []raftlite.Entry{
			{Index: 14, Term: 3, Kind: raftlite.EntryNoop},
			{Index: 15, Term: 1<<40 + 7, Kind: raftlite.EntryData, Origin: from, Incarnation: 9, Seq: 1 << 33,
				Data: []byte(fmt.Sprintf("from %d to %d", from, to))},
			{Index: 16, Term: 1<<40 + 7, Data: []byte{}},
		},
		Success: true, Match: 16, HintTerm: 17,
	}
}

// normalize treats nil and empty slices as equal; transports need not
// preserve the difference.
func normalize(m raftlite.Message) raftlite.Message {
	if len(m.Entries) == 0 {
		m.Entries = nil
		return m
	}
	es := make([]raftlite.Entry, len(m.Entries))
	for i, e := range m.Entries {
		if len(e.Data) == 0 {
			e.Data = nil
		}
		es[i] = e
	}
	m.Entries = es
	return m
}

func clone(m raftlite.Message) raftlite.Message {
	es := make([]raftlite.Entry, len(m.Entries))
	for i, e := range m.Entries {
		e.Data = bytes.Clone(e.Data)
		es[i] = e
	}
	m.Entries = es
	return m
}

func (s *suite) testDelivery(t *testing.T) {
	c := s.cluster(t, 3)
	c.startAll()
	sent := map[raftlite.NodeID][]raftlite.Message{}
	for from, n := range c.nodes {
		for to := range c.nodes {
			if to == from {
				continue
			}
			m := fullMessage(from, to)
			before := clone(m)
			n.tr.Send(m)
			assert.True(t, reflect.DeepEqual(before, m), "Send modified the message")
			sent[to] = append(sent[to], m)
		}
	}
	for id, n := range c.nodes {
		n.inbox.wait(t, s.opts.Timeout, fmt.Sprintf("node %d to receive 2 messages", id),
			func() bool { return len(n.inbox.msgs) >= 2 })
		for _, want := range sent[id] {
			got := n.inbox.from(want.From)
			require.Len(t, got, 1, "node %d from %d", id, want.From)
			assert.Equal(t, normalize(want), normalize(got[0]))
		}
	}
}

// sendPaced sends count numbered messages on one stream, keeping at most
// window of them unacknowledged by the receiver's inbox.
func (s *suite) sendPaced(t testing.TB, from *node, to *node, stream uint64, count, window int) {
	for seq := 1; seq <= count; seq++ {
		if seq > window {
			low := uint64(seq - window)
			if !to.inbox.waitOK(s.opts.Timeout, func() bool { return to.inbox.latest[from.id][stream] >= low }) {
				t.Errorf("stream %d from %d to %d: message %d not delivered within %v", stream, from.id, to.id, low, s.opts.Timeout)
				return
			}
		}
		from.tr.Send(seqMsg(from.id, to.id, stream, uint64(seq)))
	}
}

// checkStreams asserts that to got exactly 1..count on every stream from from.
func checkStreams(t testing.TB, from, to raftlite.NodeID, msgs []raftlite.Message, streams []uint64, count int) {
	t.Helper()
	next := map[uint64]uint64{}
	for _, st := range streams {
		next[st] = 1
	}
	for _, m := range msgs {
		want, ok := next[m.Commit]
		if !ok {
			t.Errorf("%d->%d: message on unknown stream %d", from, to, m.Commit)
			return
		}
		if m.Term != want {
			t.Errorf("%d->%d stream %d: got message %d, want %d (out of order, lost or duplicated)", from, to, m.Commit, m.Term, want)
			return
		}
		next[m.Commit]++
	}
	for st, n := range next {
		if n != uint64(count)+1 {
			t.Errorf("%d->%d stream %d: got %d messages, want %d", from, to, st, n-1, count)
		}
	}
}

func (s *suite) testFIFO(t *testing.T) {
	const count = 1000
	c := s.cluster(t, 3)
	c.startAll()
	var wg sync.WaitGroup
	for _, from := range c.nodes {
		for _, to := range c.nodes {
			if from != to {
				wg.Go(func() { s.sendPaced(t, from, to, 0, count, 64) })
			}
		}
	}
	wg.Wait()
	for _, to := range c.nodes {
		for _, from := range c.nodes {
			if from == to {
				continue
			}
			to.inbox.wait(t, s.opts.Timeout, fmt.Sprintf("%d messages from %d at %d", count, from.id, to.id),
				func() bool { return to.inbox.latest[from.id][0] >= count })
			checkStreams(t, from.id, to.id, to.inbox.from(from.id), []uint64{0}, count)
		}
	}
}

func (s *suite) testConcurrentSenders(t *testing.T) {
	const senders, count = 8, 250
	c := s.cluster(t, 3)
	c.startAll()
	n1 := c.nodes[1]
	var wg sync.WaitGroup
	for g := range senders {
		for _, to := range []*node{c.nodes[2], c.nodes[3]} {
			wg.Go(func() { s.sendPaced(t, n1, to, uint64(g), count, 32) })
		}
	}
	wg.Wait()
	streams := make([]uint64, senders)
	for g := range streams {
		streams[g] = uint64(g)
	}
	for _, to := range []*node{c.nodes[2], c.nodes[3]} {
		to.inbox.wait(t, s.opts.Timeout, fmt.Sprintf("all streams complete at node %d", to.id), func() bool {
			for _, st := range streams {
				if to.inbox.latest[1][st] < count {
					return false
				}
			}
			return true
		})
		checkStreams(t, 1, to.id, to.inbox.from(1), streams, count)
	}
}

// bigMessage is a log request carrying one entry of n bytes of data.
func bigMessage(from, to raftlite.NodeID, seq uint64, n int) raftlite.Message {
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(i * 7)
	}
	return raftlite.Message{Kind: raftlite.MsgLogRequest, From: from, To: to, Term: seq, Commit: 1,
		Entries: []raftlite.Entry{{Index: 1, Term: 1, Data: data}}}
}

func (s *suite) testMaxSize(t *testing.T) {
	c := s.cluster(t, 2)
	c.startAll()
	n1, n2 := c.nodes[1], c.nodes[2]
	if s.opts.MaxMessageBytes == 0 {
		big := bigMessage(1, 2, 1, 4<<20)
		n1.tr.Send(big)
		n2.inbox.wait(t, s.opts.Timeout, "the large message", func() bool { return len(n2.inbox.msgs) >= 1 })
		assert.Equal(t, normalize(big), normalize(n2.inbox.from(1)[0]))
		return
	}
	// The largest data length whose message fits; Size grows with it.
	lo, hi := 0, s.opts.MaxMessageBytes
	for lo < hi {
		mid := (lo + hi + 1) / 2
		m := bigMessage(1, 2, 1, mid)
		if s.opts.Size(&m) <= s.opts.MaxMessageBytes {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	atMax := bigMessage(1, 2, 1, lo)
	overMax := bigMessage(1, 2, 2, lo+1)
	require.Equal(t, s.opts.MaxMessageBytes, s.opts.Size(&atMax), "Size cannot reach MaxMessageBytes exactly with one entry")
	require.Greater(t, s.opts.Size(&overMax), s.opts.MaxMessageBytes)

	n1.tr.Send(atMax)
	n1.tr.Send(overMax)
	marker := seqMsg(1, 2, 1, 3)
	n1.tr.Send(marker)
	// FIFO: once the marker is in, anything sent before it that will ever
	// arrive has arrived.
	n2.inbox.wait(t, s.opts.Timeout, "the marker sent after the oversize message",
		func() bool { return n2.inbox.latest[1][1] >= 3 })
	got := n2.inbox.from(1)
	require.Len(t, got, 2, "want the message at the limit and the marker, not the one over it")
	assert.Equal(t, normalize(atMax), normalize(got[0]))
	assert.Equal(t, marker, got[1])
}

func (s *suite) testRestart(t *testing.T) {
	c := s.cluster(t, 2)
	c.startAll()
	n1 := c.nodes[1]
	s.sendUntilDelivered(t, n1, c.nodes[2], 1)
	s.sendUntilDelivered(t, c.nodes[2], n1, 1)

	c.nodes[2].close()
	n2 := c.start(2)
	last := s.sendUntilDelivered(t, n1, n2, 100)
	s.sendUntilDelivered(t, n2, n1, 100)
	// And the resumed stream is in order.
	s.sendPaced(t, n1, n2, 7, 200, 32)
	n2.inbox.wait(t, s.opts.Timeout, "the resumed stream", func() bool { return n2.inbox.latest[1][7] >= 200 })
	var resumed []raftlite.Message
	for _, m := range n2.inbox.from(1) {
		if m.Commit == 7 {
			resumed = append(resumed, m)
		}
	}
	checkStreams(t, 1, 2, resumed, []uint64{7}, 200)
	assert.GreaterOrEqual(t, last, uint64(100))
}

// sendUntilDelivered resends numbered messages on stream 99, starting at
// seq, until one arrives: across a restart, the first few may be lost.
// It returns the seq that arrived.
func (s *suite) sendUntilDelivered(t *testing.T, from, to *node, seq uint64) uint64 {
	t.Helper()
	deadline := time.Now().Add(s.opts.Timeout)
	const stream = 99
	for ; time.Now().Before(deadline); seq++ {
		from.tr.Send(seqMsg(from.id, to.id, stream, seq))
		if to.inbox.waitOK(20*time.Millisecond, func() bool { return to.inbox.latest[from.id][stream] > 0 }) {
			to.inbox.mu.Lock()
			defer to.inbox.mu.Unlock()
			return to.inbox.latest[from.id][stream]
		}
	}
	t.Fatalf("no message from %d reached %d within %v", from.id, to.id, s.opts.Timeout)
	return 0
}

func (s *suite) testPeerDown(t *testing.T) {
	c := s.cluster(t, 3)
	n1 := c.start(1) // 2 and 3 never start
	begin := time.Now()
	for i := range 5000 {
		n1.tr.Send(seqMsg(1, raftlite.NodeID(2+i%2), 0, uint64(i)))
	}
	n1.tr.Send(seqMsg(1, 99, 0, 1)) // not a member: dropped, not a panic
	elapsed := time.Since(begin)
	assert.Less(t, elapsed, 2*time.Second, "Send must not block while peers are down")

	begin = time.Now()
	n1.close()
	assert.Less(t, time.Since(begin), 5*time.Second, "Close must not wait for down peers")
	n1.tr.Send(seqMsg(1, 2, 0, 1)) // after Close: dropped, not a panic
}

func (s *suite) testCloseDuringTraffic(t *testing.T) {
	c := s.cluster(t, 3)
	c.startAll()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, from := range c.nodes {
		wg.Go(func() {
			for seq := uint64(1); ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				for _, to := range c.nodes {
					if to != from {
						from.tr.Send(seqMsg(from.id, to.id, 0, seq))
					}
				}
				if seq%64 == 0 {
					// Stay paced so the test measures Close, not queue drops.
					to := c.nodes[from.id%3+1]
					if !to.inbox.closed.Load() {
						to.inbox.waitOK(50*time.Millisecond, func() bool { return to.inbox.latest[from.id][0] >= seq-32 })
					}
				}
			}
		})
	}
	n1, n2, n3 := c.nodes[1], c.nodes[2], c.nodes[3]
	n2.inbox.wait(t, s.opts.Timeout, "traffic to node 2", func() bool { return len(n2.inbox.msgs) >= 200 })
	// Close while a deliver is certainly in progress: Close must wait for it.
	n2.inbox.slow.Store(true)
	select {
	case <-n2.inbox.slowStarted:
	case <-time.After(s.opts.Timeout):
		t.Fatal("no delivery to node 2 began")
	}
	n2.close()
	// Let traffic run on against the closed node for a while, measured in
	// messages delivered elsewhere rather than in time.
	seen := n1.inbox.count()
	n1.inbox.wait(t, s.opts.Timeout, "traffic to continue after a Close", func() bool { return len(n1.inbox.msgs) >= seen+200 })
	close(stop)
	wg.Wait()
	n1.close()
	n3.close()
	for _, n := range c.nodes {
		n.inbox.checkNoneAfterClose(t, n.id)
	}
}
