package transporttest

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/raftlite/raftlite"
)

// testDelivery sends one message with every field set between each ordered
// pair of three nodes, and checks that each arrives once, unchanged.
func (s *suite) testDelivery(t tb) {
	c := s.cluster(t, 3, 3)
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
			checkSame(t, want, got[0])
		}
	}
}

// testFIFO sends a thousand numbered messages along each ordered pair of
// three nodes at once, and checks that each pair's arrive all, once and in
// order.
func (s *suite) testFIFO(t tb) {
	const count = 1000
	c := s.cluster(t, 3, 3)
	var wg sync.WaitGroup
	for _, from := range c.nodes {
		for _, to := range c.nodes {
			if from != to {
				wg.Go(func() { s.sendPaced(t, from, to, 0, count, 64) })
			}
		}
	}
	wg.Wait()
	deadline := time.Now().Add(s.opts.Timeout)
	for _, to := range c.nodes {
		for _, from := range c.nodes {
			if from != to {
				to.inbox.waitOK(time.Until(deadline), func() bool { return to.inbox.latest[from.id][0] >= count })
				checkStreams(t, from.id, to, []uint64{0}, count)
			}
		}
	}
}

// testConcurrentSenders has eight goroutines of one node send numbered
// streams to two peers at once: each goroutine's messages must arrive in
// the order it sent them.
func (s *suite) testConcurrentSenders(t tb) {
	const senders, count = 8, 250
	c := s.cluster(t, 3, 3)
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
	deadline := time.Now().Add(s.opts.Timeout)
	for _, to := range []*node{c.nodes[2], c.nodes[3]} {
		to.inbox.waitOK(time.Until(deadline), func() bool {
			for _, st := range streams {
				if to.inbox.latest[1][st] < count {
					return false
				}
			}
			return true
		})
		checkStreams(t, 1, to, streams, count)
	}
}

// sendPaced sends count numbered messages on one stream, keeping at most
// window of them unacknowledged by the receiver's inbox.
func (s *suite) sendPaced(t tb, from *node, to *node, stream uint64, count, window int) {
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

// checkStreams asserts that to got exactly 1..count, in order, on every
// one of streams from node from, and nothing on any other stream.
func checkStreams(t tb, from raftlite.NodeID, to *node, streams []uint64, count int) {
	t.Helper()
	want := map[uint64]bool{}
	for _, st := range streams {
		want[st] = true
		if problems := seqProblems(to.inbox.stream(from, st), count); len(problems) > 0 {
			t.Errorf("%d->%d stream %d: %s", from, to.id, st, strings.Join(problems, "; "))
		}
	}
	for _, m := range to.inbox.from(from) {
		if !want[m.Commit] {
			t.Errorf("%d->%d: message on unknown stream %d", from, to.id, m.Commit)
			return
		}
	}
}

// seqProblems describes how seqs, one stream's sequence numbers in delivery
// order, differ from exactly 1..count: what was lost, duplicated, delivered
// out of order, or never sent.
func seqProblems(seqs []uint64, count int) []string {
	seen := map[uint64]int{}
	var dups, late, strange []uint64
	var highest uint64
	for _, s := range seqs {
		seen[s]++
		switch {
		case s < 1 || s > uint64(count):
			strange = append(strange, s)
		case seen[s] > 1:
			dups = append(dups, s)
		case s < highest:
			late = append(late, s)
		}
		highest = max(highest, s)
	}
	var lost []uint64
	for s := uint64(1); s <= uint64(count); s++ {
		if seen[s] == 0 {
			lost = append(lost, s)
		}
	}
	var problems []string
	for _, p := range []struct {
		what string
		seqs []uint64
	}{{"lost", lost}, {"duplicated", dups}, {"out of order", late}, {"never sent", strange}} {
		if len(p.seqs) > 0 {
			problems = append(problems, fmt.Sprintf("%d %s (first: message %d)", len(p.seqs), p.what, p.seqs[0]))
		}
	}
	return problems
}

// testMaxSize sends a message exactly at the limit, one just over it and a
// marker: the first and the marker must arrive, the oversize one must not
// (and must not break the stream). Without a limit, a 4 MiB message must
// arrive.
func (s *suite) testMaxSize(t tb) {
	c := s.cluster(t, 2, 2)
	n1, n2 := c.nodes[1], c.nodes[2]
	if s.opts.MaxMessageBytes == 0 {
		big := bigMessage(1, 2, 1, 4<<20)
		n1.tr.Send(big)
		n2.inbox.wait(t, s.opts.Timeout, "the large message", func() bool { return len(n2.inbox.msgs) >= 1 })
		checkSame(t, big, n2.inbox.from(1)[0])
		return
	}
	atMax, overMax := s.limitMessages(t)
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
	checkSame(t, atMax, got[0])
	assert.Equal(t, marker, got[1])
}

// limitMessages returns a message whose Size is exactly MaxMessageBytes and
// one a byte of data larger.
func (s *suite) limitMessages(t tb) (atMax, overMax raftlite.Message) {
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
	atMax = bigMessage(1, 2, 1, lo)
	overMax = bigMessage(1, 2, 2, lo+1)
	require.Equal(t, s.opts.MaxMessageBytes, s.opts.Size(&atMax), "Size cannot reach MaxMessageBytes exactly with one entry")
	require.Greater(t, s.opts.Size(&overMax), s.opts.MaxMessageBytes)
	return atMax, overMax
}

// checkSame asserts that got is want, nil and empty slices aside. Entries'
// Data is compared apart, so that a mismatch in a message of megabytes is
// reported field by field rather than as a diff of megabytes.
func checkSame(t tb, want, got raftlite.Message) {
	t.Helper()
	want, got = normalize(want), normalize(got)
	if reflect.DeepEqual(want, got) {
		return
	}
	withoutData := func(m raftlite.Message) (raftlite.Message, [][]byte) {
		data := make([][]byte, len(m.Entries))
		for i := range m.Entries {
			data[i], m.Entries[i].Data = m.Entries[i].Data, nil
		}
		return m, data
	}
	wantRest, wantData := withoutData(want)
	gotRest, gotData := withoutData(got)
	assert.Equal(t, wantRest, gotRest, "the message arrived changed")
	for i := range min(len(wantData), len(gotData)) {
		if !bytes.Equal(wantData[i], gotData[i]) {
			t.Errorf("entry %d arrived with other Data: %d bytes, want %d", i, len(gotData[i]), len(wantData[i]))
		}
	}
}
