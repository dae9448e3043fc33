package transporttest

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/internal/loopback"
)

// cluster is the nodes of one subtest.
type cluster struct {
	t     tb
	s     *suite
	net   Net
	nodes map[raftlite.NodeID]*node
	// known names the peers each node is started with; nil: all of them.
	known func(id raftlite.NodeID) []raftlite.NodeID
}

// cluster makes the Net of a subtest, with nodes 1 to n, and starts nodes
// 1 to running, each with the whole of Net.Peers. MakeNet need not reserve
// the addresses it hands out: if a start finds its address in use, the
// nodes already started are closed and the whole cluster is made again on
// a fresh Net (see package loopback).
func (s *suite) cluster(t tb, n, running int) *cluster {
	t.Helper()
	return s.clusterKnowing(t, n, running, nil)
}

// clusterKnowing is cluster with each node started knowing only the peers
// that known names (nil: all of them).
func (s *suite) clusterKnowing(t tb, n, running int, known func(id raftlite.NodeID) []raftlite.NodeID) *cluster {
	t.Helper()
	ids := make([]raftlite.NodeID, n)
	for i := range ids {
		ids[i] = raftlite.NodeID(i + 1)
	}
	var c *cluster
	err := loopback.Retry(func() error {
		c = &cluster{t: t, s: s, net: s.makeNet(t.testingT(), ids), nodes: map[raftlite.NodeID]*node{}, known: known}
		require.Len(t, c.net.Peers, n, "MakeNet must return an address for every id")
		for _, id := range ids[:running] {
			if _, err := c.tryStart(id); err != nil {
				for _, nd := range c.nodes {
					nd.close()
				}
				return err
			}
		}
		return nil
	})
	require.NoError(t, err)
	return c
}

// start starts (or restarts) node id.
func (c *cluster) start(id raftlite.NodeID) *node {
	c.t.Helper()
	nd, err := c.tryStart(id)
	require.NoError(c.t, err)
	return nd
}

// tryStart starts (or restarts) node id, and closes it when the subtest
// ends.
func (c *cluster) tryStart(id raftlite.NodeID) (*node, error) {
	nd := &node{id: id, tr: c.net.New(id), inbox: newInbox()}
	peers := c.net.Peers
	if c.known != nil {
		peers = c.peers(c.known(id)...)
	}
	if err := nd.tr.Start(id, peers, nd.inbox.deliver); err != nil {
		return nil, fmt.Errorf("Start node %d on %s: %w", id, c.net.Peers[id], err)
	}
	c.nodes[id] = nd
	c.t.Cleanup(nd.close)
	return nd, nil
}

// peers returns the addresses of ids, from Net.Peers.
func (c *cluster) peers(ids ...raftlite.NodeID) map[raftlite.NodeID]string {
	peers := make(map[raftlite.NodeID]string, len(ids))
	for _, id := range ids {
		peers[id] = c.net.Peers[id]
	}
	return peers
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
func (in *inbox) wait(t tb, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !in.waitOK(timeout, cond) {
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}

// waitOK reports whether cond (called under the inbox lock) holds within
// timeout.
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

// from returns the messages delivered from node id, in delivery order.
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

// stream returns the sequence numbers delivered on one numbered stream from
// node id, in delivery order.
func (in *inbox) stream(id raftlite.NodeID, stream uint64) []uint64 {
	var seqs []uint64
	for _, m := range in.from(id) {
		if m.Commit == stream {
			seqs = append(seqs, m.Term)
		}
	}
	return seqs
}

func (in *inbox) count() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.msgs)
}

func (in *inbox) checkNoneAfterClose(t tb, id raftlite.NodeID) {
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
		Snapshot: &raftlite.SnapshotMeta{Index: 18, Term: 19,
			Sessions: []raftlite.BroadcastID{{Origin: from, Incarnation: 20, Seq: 21}, {Origin: to, Incarnation: 1 << 50, Seq: 1}}},
		Offset: 1<<33 + 22, Data: []byte(fmt.Sprintf("snapshot chunk from %d to %d", from, to)), Done: true, Checksum: 0xdeadbeef,
		Success: true, Match: 16, HintTerm: 17,
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

// normalize treats nil and empty slices as equal; transports need not
// preserve the difference.
func normalize(m raftlite.Message) raftlite.Message {
	if len(m.Data) == 0 {
		m.Data = nil
	}
	if m.Snapshot != nil && len(m.Snapshot.Sessions) == 0 {
		meta := *m.Snapshot
		meta.Sessions = nil
		m.Snapshot = &meta
	}
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
	m.Data = bytes.Clone(m.Data)
	if m.Snapshot != nil {
		meta := *m.Snapshot
		meta.Sessions = slices.Clone(meta.Sessions)
		m.Snapshot = &meta
	}
	es := make([]raftlite.Entry, len(m.Entries))
	for i, e := range m.Entries {
		e.Data = bytes.Clone(e.Data)
		es[i] = e
	}
	m.Entries = es
	return m
}
