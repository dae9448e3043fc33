package sim

import "time"

// Network decides the fate of each message between numbered nodes: lost,
// delayed, duplicated, reordered, or cut off by a partition. Messages
// between a pair arrive in the order sent unless Reorder says otherwise.
type Network struct {
	s *Scheduler
	// Drop, Dup and Reorder are per-message probabilities.
	Drop, Dup, Reorder float64
	// MinDelay and MaxDelay bound a message's time in flight.
	MinDelay, MaxDelay time.Duration

	group       map[int]int // nil: fully connected
	cut         map[[2]int]bool
	lastArrival map[[2]int]time.Duration
	Sent        uint64 // messages handed to Send
	Lost        uint64 // messages dropped or cut off
}

// NewNetwork returns a reliable network on s with the given delays.
func NewNetwork(s *Scheduler, minDelay, maxDelay time.Duration) *Network {
	return &Network{s: s, MinDelay: minDelay, MaxDelay: maxDelay, lastArrival: map[[2]int]time.Duration{}}
}

// Partition splits the nodes into groups that cannot reach each other;
// nodes in no group reach nobody.
func (n *Network) Partition(groups ...[]int) {
	n.group = map[int]int{}
	for g, ids := range groups {
		for _, id := range ids {
			n.group[id] = g + 1
		}
	}
	n.cut = nil
}

// Cut removes the links between the given pairs only, leaving every other
// link as it is; with Partition it can build any topology (a ring, a bridge).
func (n *Network) Cut(pairs ...[2]int) {
	if n.cut == nil {
		n.cut = map[[2]int]bool{}
	}
	for _, p := range pairs {
		n.cut[p] = true
		n.cut[[2]int{p[1], p[0]}] = true
	}
}

// Heal reconnects everyone.
func (n *Network) Heal() { n.group, n.cut = nil, nil }

// Linked reports whether a can currently reach b.
func (n *Network) Linked(a, b int) bool {
	if n.cut[[2]int{a, b}] {
		return false
	}
	return n.group == nil || (n.group[a] != 0 && n.group[a] == n.group[b])
}

// Send schedules deliver to run when a message from a reaches b, if it does;
// a partition in place at arrival time also stops it.
func (n *Network) Send(a, b int, deliver func()) {
	n.Sent++
	if !n.Linked(a, b) || n.s.Chance(n.Drop) {
		n.Lost++
		return
	}
	copies := 1
	if n.s.Chance(n.Dup) {
		copies = 2
	}
	for range copies {
		at := n.s.Now() + n.s.Between(n.MinDelay, n.MaxDelay)
		pair := [2]int{a, b}
		if !n.s.Chance(n.Reorder) {
			at = max(at, n.lastArrival[pair])
			n.lastArrival[pair] = at
		}
		n.s.At(at, func() {
			if n.Linked(a, b) {
				deliver()
			} else {
				n.Lost++
			}
		})
	}
}
