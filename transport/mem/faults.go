package mem

import (
	"slices"

	"github.com/raftlite/raftlite"
)

// The link-level fault model: which directed links are cut and which nodes
// are down. Everything here runs under Network.mu.

// link is the one-way path from one node to another.
type link struct{ from, to raftlite.NodeID }

// Cut makes the messages from node from to node to lost: those sent from
// now on, and those on their way that arrive while the link is cut. Node to
// can still reach node from.
func (n *Network) Cut(from, to raftlite.NodeID) { n.setLinks(false, link{from, to}) }

// Restore undoes Cut: messages from node from reach node to again (unless
// either is down).
func (n *Network) Restore(from, to raftlite.NodeID) { n.setLinks(true, link{from, to}) }

// CutBoth cuts the links between a and b in both directions.
func (n *Network) CutBoth(a, b raftlite.NodeID) { n.setLinks(false, link{a, b}, link{b, a}) }

// RestoreBoth restores the links between a and b in both directions.
func (n *Network) RestoreBoth(a, b raftlite.NodeID) { n.setLinks(true, link{a, b}, link{b, a}) }

// setLinks sets each of links up, or cut, all at once.
func (n *Network) setLinks(up bool, links ...link) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, l := range links {
		n.learn(l.from, l.to)
		if up {
			delete(n.cut, l)
		} else {
			n.cut[l] = true
		}
	}
}

// Isolate cuts every link to and from node id, keeping the other links as
// they are. Unlike Down, a single link of an isolated node can be restored.
func (n *Network) Isolate(id raftlite.NodeID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.learn(id)
	for other := range n.known {
		if other != id {
			n.cut[link{id, other}] = true
			n.cut[link{other, id}] = true
		}
	}
}

// Partition sets every link: two nodes reach each other, both ways, if some
// group names both, and not otherwise. Groups may overlap (Bridge and Ring
// are partitions with overlapping groups); a node named in no group is cut
// off from everyone, and Partition() with no groups cuts every link.
func (n *Network) Partition(groups ...[]raftlite.NodeID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, g := range groups {
		n.learn(g...)
	}
	together := map[link]bool{}
	for _, g := range groups {
		for _, a := range g {
			for _, b := range g {
				together[link{a, b}] = true
			}
		}
	}
	clear(n.cut)
	for a := range n.known {
		for b := range n.known {
			if a != b && !together[link{a, b}] {
				n.cut[link{a, b}] = true
			}
		}
	}
}

// Bridge sets every link so that the nodes of halfA reach each other, those
// of halfB reach each other, and the two halves meet only through bridge,
// which reaches everyone in both. Nodes named nowhere are cut off.
func (n *Network) Bridge(bridge raftlite.NodeID, halfA, halfB []raftlite.NodeID) {
	n.Partition(append(slices.Clone(halfA), bridge), append(slices.Clone(halfB), bridge))
}

// Ring sets every link so that each of ids reaches only its two neighbours
// in the ring, ids[i-1] and ids[i+1], the last one's neighbour being the
// first. Nodes named nowhere are cut off.
func (n *Network) Ring(ids ...raftlite.NodeID) {
	var pairs [][]raftlite.NodeID
	for i, id := range ids {
		pairs = append(pairs, []raftlite.NodeID{id, ids[(i+1)%len(ids)]})
	}
	n.Partition(pairs...)
}

// Down takes node id off the network: it neither sends nor receives, and
// messages on their way to or from it that arrive while it is down are
// lost. Its links keep their state for when it comes back Up.
func (n *Network) Down(id raftlite.NodeID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.learn(id)
	n.down[id] = true
}

// Up puts node id back on the network, with the links it had.
func (n *Network) Up(id raftlite.NodeID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.down, id)
}

// Heal restores every link and brings every node up. Loss, delay and
// reordering stay as set.
func (n *Network) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.cut)
	clear(n.down)
}

// Linked reports whether a message sent now from node from to node to
// would get through the link faults: the link is not cut and neither node
// is down. Random loss is not counted.
func (n *Network) Linked(from, to raftlite.NodeID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.linked(from, to)
}

func (n *Network) linked(from, to raftlite.NodeID) bool {
	return !n.down[from] && !n.down[to] && !n.cut[link{from, to}]
}

// learn records ids as nodes of the network, so that shapes set their links.
func (n *Network) learn(ids ...raftlite.NodeID) {
	for _, id := range ids {
		n.known[id] = true
	}
}
