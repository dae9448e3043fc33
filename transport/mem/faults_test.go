package mem_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/transport/mem"
)

// five is a network of five started transports, 1 to 5, that records what
// each receives. Tests use it inside a synctest bubble, so that
// synctest.Wait means "everything sent has arrived or been lost".
type five struct {
	net *mem.Network
	ids []raftlite.NodeID
	trs map[raftlite.NodeID]*mem.Transport

	mu  sync.Mutex
	got map[raftlite.NodeID][]raftlite.Message
}

func newFive(t *testing.T, seed uint64) *five {
	f := &five{net: mem.NewNetwork(seed), ids: []raftlite.NodeID{1, 2, 3, 4, 5},
		trs: map[raftlite.NodeID]*mem.Transport{}, got: map[raftlite.NodeID][]raftlite.Message{}}
	for _, id := range f.ids {
		f.start(t, id)
	}
	return f
}

// start gives node id a new transport, replacing any earlier one.
func (f *five) start(t *testing.T, id raftlite.NodeID) {
	tr := f.net.Transport(id)
	peers := map[raftlite.NodeID]string{}
	for _, id := range f.ids {
		peers[id] = ""
	}
	require.NoError(t, tr.Start(id, peers, func(m raftlite.Message) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.got[id] = append(f.got[id], m)
	}))
	f.trs[id] = tr
}

func (f *five) close() {
	for _, tr := range f.trs {
		tr.Close()
	}
}

func (f *five) send(from, to raftlite.NodeID, seq uint64) {
	f.trs[from].Send(raftlite.Message{Kind: raftlite.MsgLogRequest, From: from, To: to, Term: seq})
}

// received returns the sequence numbers node to received from node from,
// and forgets them.
func (f *five) received(from, to raftlite.NodeID) []uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var seqs []uint64
	f.got[to] = slices.DeleteFunc(f.got[to], func(m raftlite.Message) bool {
		if m.From == from {
			seqs = append(seqs, m.Term)
			return true
		}
		return false
	})
	return seqs
}

// reach sends one message along every directed link and reports, as
// "from→to" strings, the links that delivered it.
func (f *five) reach() []string {
	for _, a := range f.ids {
		for _, b := range f.ids {
			if a != b {
				f.send(a, b, 1)
			}
		}
	}
	synctest.Wait()
	var links []string
	for _, a := range f.ids {
		for _, b := range f.ids {
			if a != b && len(f.received(a, b)) > 0 {
				links = append(links, fmt.Sprintf("%d→%d", a, b))
			}
		}
	}
	return links
}

// linksWhere lists, as reach does, the directed links among 1..5 for which
// up holds.
func linksWhere(up func(a, b int) bool) []string {
	var links []string
	for a := 1; a <= 5; a++ {
		for b := 1; b <= 5; b++ {
			if a != b && up(a, b) {
				links = append(links, fmt.Sprintf("%d→%d", a, b))
			}
		}
	}
	return links
}

func in(x int, set ...int) bool { return slices.Contains(set, x) }

// Each fault shape lets through exactly the links it promises, and Linked
// agrees with what the network actually delivers.
func TestFaultShapes(t *testing.T) {
	ids := func(xs ...raftlite.NodeID) []raftlite.NodeID { return xs }
	for _, tc := range []struct {
		name  string
		apply func(n *mem.Network)
		up    func(a, b int) bool
	}{
		{"healthy network links everyone",
			func(n *mem.Network) {},
			func(a, b int) bool { return true }},
		{"a directed cut is one-way",
			func(n *mem.Network) { n.Cut(1, 2) },
			func(a, b int) bool { return !(a == 1 && b == 2) }},
		{"CutBoth cuts both ways",
			func(n *mem.Network) { n.CutBoth(1, 2) },
			func(a, b int) bool { return !(in(a, 1, 2) && in(b, 1, 2)) }},
		{"Restore undoes one direction only",
			func(n *mem.Network) { n.CutBoth(1, 2); n.Restore(2, 1) },
			func(a, b int) bool { return !(a == 1 && b == 2) }},
		{"an isolated node neither sends nor hears",
			func(n *mem.Network) { n.Isolate(3) },
			func(a, b int) bool { return a != 3 && b != 3 }},
		{"one link of an isolated node can be restored",
			func(n *mem.Network) { n.Isolate(3); n.Restore(3, 4) },
			func(a, b int) bool { return (a != 3 && b != 3) || (a == 3 && b == 4) }},
		{"partition links within groups and cuts off the unnamed",
			func(n *mem.Network) { n.Partition(ids(1, 2), ids(3, 4)) },
			func(a, b int) bool { return (in(a, 1, 2) && in(b, 1, 2)) || (in(a, 3, 4) && in(b, 3, 4)) }},
		{"partition with no groups cuts everything",
			func(n *mem.Network) { n.Partition() },
			func(a, b int) bool { return false }},
		{"a partition replaces earlier cuts",
			func(n *mem.Network) { n.Isolate(1); n.Partition(ids(1, 2, 3, 4, 5)) },
			func(a, b int) bool { return true }},
		{"the bridge talks to both halves, which cannot talk to each other",
			func(n *mem.Network) { n.Bridge(3, ids(1, 2), ids(4, 5)) },
			func(a, b int) bool { return in(a, 1, 2, 3) && in(b, 1, 2, 3) || in(a, 3, 4, 5) && in(b, 3, 4, 5) }},
		{"a ring links neighbours only",
			func(n *mem.Network) { n.Ring(1, 2, 3, 4, 5) },
			func(a, b int) bool { return (a-b+5)%5 == 1 || (b-a+5)%5 == 1 }},
		{"a ring of some nodes cuts off the others",
			func(n *mem.Network) { n.Ring(1, 3, 5) },
			func(a, b int) bool { return in(a, 1, 3, 5) && in(b, 1, 3, 5) }},
		{"a down node neither sends nor receives",
			func(n *mem.Network) { n.Down(2) },
			func(a, b int) bool { return a != 2 && b != 2 }},
		{"a node stays down through a new shape",
			func(n *mem.Network) { n.Down(2); n.Partition(ids(1, 2, 3), ids(4, 5)) },
			func(a, b int) bool { return in(a, 1, 3) && in(b, 1, 3) || in(a, 4, 5) && in(b, 4, 5) }},
		{"Up brings a node back with the links it had",
			func(n *mem.Network) { n.Cut(2, 1); n.Down(2); n.Up(2) },
			func(a, b int) bool { return !(a == 2 && b == 1) }},
		{"Heal restores every link and every node",
			func(n *mem.Network) { n.Ring(1, 2, 3, 4, 5); n.Cut(1, 2); n.Down(4); n.Heal() },
			func(a, b int) bool { return true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFive(t, 1)
				defer f.close()
				tc.apply(f.net)
				want := linksWhere(tc.up)
				assert.Equal(t, want, f.reach(), "delivered")
				var linked []string
				for _, a := range f.ids {
					for _, b := range f.ids {
						if a != b && f.net.Linked(a, b) {
							linked = append(linked, fmt.Sprintf("%d→%d", a, b))
						}
					}
				}
				assert.Equal(t, want, linked, "Linked")
			})
		})
	}
}

// A message already on its way when its link is cut, or when its receiver
// goes down, is lost if the fault is still there when it arrives; one that
// finds the link restored, or its receiver up again, gets through.
func TestFaultsApplyToMessagesInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFive(t, 1)
		defer f.close()
		f.net.SetDelay(10*time.Millisecond, 10*time.Millisecond)

		f.send(1, 2, 1)
		f.send(3, 4, 1)
		f.net.Cut(1, 2)
		f.net.Down(4)
		time.Sleep(20 * time.Millisecond)
		synctest.Wait()
		assert.Empty(t, f.received(1, 2), "arrived across a cut link")
		assert.Empty(t, f.received(3, 4), "arrived at a down node")

		f.net.Restore(1, 2)
		f.net.Up(4)
		f.send(1, 2, 2)
		f.send(3, 4, 2)
		f.net.Cut(1, 2)
		f.net.Down(4)
		time.Sleep(5 * time.Millisecond)
		f.net.Restore(1, 2)
		f.net.Up(4)
		time.Sleep(10 * time.Millisecond)
		synctest.Wait()
		assert.Equal(t, []uint64{2}, f.received(1, 2), "repaired before arrival")
		assert.Equal(t, []uint64{2}, f.received(3, 4), "up again before arrival")
		s := f.net.Stats()
		assert.Equal(t, uint64(4), s.Sent)
		assert.Equal(t, uint64(2), s.Dropped)
	})
}

// Down concerns the node, not one Transport: a node restarted while down
// stays down until Up.
func TestRestartedNodeStaysDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFive(t, 1)
		defer f.close()
		f.net.Down(2)
		require.NoError(t, f.trs[2].Close())
		f.start(t, 2)
		f.send(1, 2, 1)
		f.send(2, 1, 1)
		synctest.Wait()
		assert.Empty(t, f.received(1, 2))
		assert.Empty(t, f.received(2, 1))

		f.net.Up(2)
		f.send(1, 2, 2)
		f.send(2, 1, 2)
		synctest.Wait()
		assert.Equal(t, []uint64{2}, f.received(1, 2))
		assert.Equal(t, []uint64{2}, f.received(2, 1))
	})
}

// With the same seed the random faults are the same: a test that fails
// under loss, duplication and reordering fails again when rerun.
func TestRandomFaultsAreDeterministicWithASeed(t *testing.T) {
	run := func(seed uint64) []uint64 {
		var got []uint64
		synctest.Test(t, func(t *testing.T) {
			f := newFive(t, seed)
			defer f.close()
			f.net.SetLoss(0.3, 0.2)
			f.net.SetReorder(0.3)
			f.net.SetDelay(0, 5*time.Millisecond)
			for seq := range uint64(200) {
				f.send(1, 2, seq)
			}
			time.Sleep(10 * time.Millisecond)
			synctest.Wait()
			got = f.received(1, 2)
		})
		return got
	}
	first := run(7)
	assert.Equal(t, first, run(7), "same seed, same faults")
	assert.NotEqual(t, first, run(8), "another seed, other faults")
	assert.Less(t, len(slices.Compact(slices.Sorted(slices.Values(first)))), 200, "some messages were lost")
	assert.False(t, slices.IsSorted(first), "some messages were reordered")
}
