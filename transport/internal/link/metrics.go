package link

import (
	"io"
	"maps"
	"slices"
	"sync/atomic"

	"github.com/raftlite/raftlite"
)

// traffic is what one peer's connections moved, both ways.
type traffic struct {
	msgsSent, msgsReceived, bytesSent, bytesReceived atomic.Uint64
}

// meter counts the bytes read and written through rw. An accepted
// connection's meter counts into scratch counters until the handshake
// names the peer: see Engine.meterFor.
type meter struct {
	rw       io.ReadWriter
	in, out  *atomic.Uint64
	scratchR atomic.Uint64
	scratchW atomic.Uint64
}

func newMeter(rw io.ReadWriter, t *traffic) *meter {
	m := &meter{rw: rw}
	m.in, m.out = &m.scratchR, &m.scratchW
	if t != nil {
		m.in, m.out = &t.bytesReceived, &t.bytesSent
	}
	return m
}

// countFor moves what m counted so far to t, and counts into t from now
// on. Only the goroutine that reads and writes through m may call it, and
// before any other goroutine uses m.
func (m *meter) countFor(t *traffic) {
	t.bytesReceived.Add(m.in.Load())
	t.bytesSent.Add(m.out.Load())
	m.in, m.out = &t.bytesReceived, &t.bytesSent
}

func (m *meter) Read(p []byte) (int, error) {
	n, err := m.rw.Read(p)
	m.in.Add(uint64(n))
	return n, err
}

func (m *meter) Write(p []byte) (int, error) {
	n, err := m.rw.Write(p)
	m.out.Add(uint64(n))
	return n, err
}

// TransportMetrics returns the counters as raftlite.Node.Metrics reports
// them, the transport named name.
func (e *Engine) TransportMetrics(name string) raftlite.TransportMetrics {
	s := e.Stats()
	m := raftlite.TransportMetrics{
		Name: name,
		Drops: map[string]uint64{
			"queue_full": s.DroppedQueueFull, "unroutable": s.DroppedUnroutable, "oversize": s.DroppedOversize,
			"spoofed": s.DroppedSpoofed, "malformed": s.MalformedFrames,
		},
		Connects: s.Connects, DialFailures: s.DialFailures, RefusedConnections: s.RefusedHandshakes,
	}
	peers := *e.peers.Load()
	for _, id := range slices.Sorted(maps.Keys(peers)) {
		t := peers[id].traffic
		m.Peers = append(m.Peers, raftlite.PeerTraffic{ID: id,
			MessagesSent: t.msgsSent.Load(), MessagesReceived: t.msgsReceived.Load(),
			BytesSent: t.bytesSent.Load(), BytesReceived: t.bytesReceived.Load()})
	}
	return m
}
