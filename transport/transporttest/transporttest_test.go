package transporttest_test

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/transport/transporttest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The suite runs against a minimal in-memory transport whose addresses are
// names, not sockets, as transport/mem's are.
func TestSuiteRunsWithoutRealAddresses(t *testing.T) {
	transporttest.Run(t, makeFakeNet(nil), fakeOptions)
}

// fakeOptions keep the suite quick on a transport that delivers at once.
var fakeOptions = transporttest.Options{Timeout: time.Second, ReconnectWithin: 200 * time.Millisecond}

// makeFakeNet returns a MakeNet of fakes, each passed through wrap (if not
// nil) on its way to the suite.
func makeFakeNet(wrap func(*fake) raftlite.Transport) transporttest.MakeNet {
	return func(t *testing.T, ids []raftlite.NodeID) transporttest.Net {
		n := &fakeNet{nodes: map[string]*fake{}}
		peers := map[raftlite.NodeID]string{}
		for _, id := range ids {
			peers[id] = fmt.Sprintf("node-%d", id)
		}
		return transporttest.Net{
			Peers: peers,
			New: func(raftlite.NodeID) raftlite.Transport {
				f := &fake{net: n}
				if wrap == nil {
					return f
				}
				return wrap(f)
			},
			Partition: n.partition,
		}
	}
}

// fakeNet connects fakes by address. While cut, it loses every message.
type fakeNet struct {
	mu    sync.Mutex
	nodes map[string]*fake
	cut   bool
}

func (n *fakeNet) partition() (heal func()) {
	n.mu.Lock()
	n.cut = true
	n.mu.Unlock()
	return func() {
		n.mu.Lock()
		n.cut = false
		n.mu.Unlock()
	}
}

// route returns the fake listening at addr, or nil if there is none or the
// network is cut.
func (n *fakeNet) route(addr string) *fake {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cut {
		return nil
	}
	return n.nodes[addr]
}

// fake delivers through one inbox per node and one goroutine, which keeps
// FIFO per sender. It finds peers by address, as tcp does, so it must be
// told of new ones (SetPeers).
type fake struct {
	net   *fakeNet
	inbox chan raftlite.Message
	done  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once

	mu             sync.Mutex
	peers          map[raftlite.NodeID]string
	sent, received map[raftlite.NodeID]uint64
}

// addr returns the address of peer id, or "" if it is not one.
func (f *fake) addr(id raftlite.NodeID) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.peers[id]
}

// SetPeers makes peers the nodes f sends to.
func (f *fake) SetPeers(peers map[raftlite.NodeID]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.peers = peers
}

// TransportMetrics counts messages per peer, as a reporting transport must.
func (f *fake) TransportMetrics() raftlite.TransportMetrics {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := raftlite.TransportMetrics{Name: "fake"}
	for _, id := range slices.Sorted(maps.Keys(f.peers)) {
		m.Peers = append(m.Peers, raftlite.PeerTraffic{ID: id, MessagesSent: f.sent[id], MessagesReceived: f.received[id]})
	}
	return m
}

func (f *fake) count(m map[raftlite.NodeID]uint64, id raftlite.NodeID) {
	f.mu.Lock()
	m[id]++
	f.mu.Unlock()
}

func (f *fake) Start(self raftlite.NodeID, peers map[raftlite.NodeID]string, deliver func(raftlite.Message)) error {
	f.inbox, f.done = make(chan raftlite.Message, 4096), make(chan struct{})
	f.mu.Lock()
	f.peers, f.sent, f.received = peers, map[raftlite.NodeID]uint64{}, map[raftlite.NodeID]uint64{}
	f.mu.Unlock()
	f.net.mu.Lock()
	f.net.nodes[peers[self]] = f
	f.net.mu.Unlock()
	f.wg.Go(func() {
		for {
			select {
			case <-f.done:
				return
			case m := <-f.inbox:
				select {
				case <-f.done:
					return
				default:
					f.count(f.received, m.From)
					deliver(m)
				}
			}
		}
	})
	return nil
}

func (f *fake) Send(m raftlite.Message) {
	to := f.net.route(f.addr(m.To))
	if to == nil {
		return
	}
	select {
	case to.inbox <- m:
		f.count(f.sent, m.To)
	default:
	}
}

func (f *fake) Close() error {
	f.once.Do(func() {
		f.net.mu.Lock()
		for addr, n := range f.net.nodes {
			if n == f {
				delete(f.net.nodes, addr)
			}
		}
		f.net.mu.Unlock()
		close(f.done)
	})
	f.wg.Wait()
	return nil
}
