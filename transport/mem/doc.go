// Package mem is an in-process network for raftlite: fast, deterministic
// when seeded, and able to misbehave on demand. It is what raftlite's own
// tests run on, and it serves users' tests the same way.
//
//	network := mem.NewNetwork(1)
//	peers := map[raftlite.NodeID]string{1: "", 2: "", 3: ""}
//	nodes := map[raftlite.NodeID]*raftlite.Node{}
//	for id := range peers {
//		node, err := raftlite.New(raftlite.Config{ID: id, Peers: peers,
//			Transport: network.Transport(id), Persister: raftlite.NewMemoryPersister()})
//		if err != nil {
//			log.Fatal(err)
//		}
//		defer node.Close()
//		nodes[id] = node
//	}
//	network.Isolate(1) // node 1 neither sends nor hears
//	network.Cut(2, 3)  // 2 no longer reaches 3; 3 still reaches 2
//	network.Heal()     // every link up again
//
// ExampleNetwork runs this, and the package Example shows a leader
// isolated and replaced.
//
// Nodes are found by id: addresses in Peers are ignored. A Transport sends
// only to the ids it was started with, or last given by SetPeers (which a
// Node calls as its membership changes), and drops what it is asked to send
// to any other, as tcp drops what is sent to a node whose address it does
// not know; so a test on mem fails, as a cluster on tcp would, if a node
// is not told of a member.
//
// # The fault model
//
// The network is a set of directed links, one for every ordered pair of
// nodes, and every link starts up. A message from a to b is lost if the link
// a→b is cut, or if a or b is down; otherwise random faults may still drop,
// delay, duplicate or reorder it (SetLoss, SetDelay, SetReorder). Links and
// down nodes are checked twice: as a message is sent and again as it
// arrives, so a message in flight across a link that is cut by the time it
// arrives is lost (one that finds the link restored gets through).
//
// Links are changed one at a time (Cut, Restore and their two-way forms
// CutBoth, RestoreBoth; Isolate cuts all of one node's links) or all at once
// by a shape: Partition, Bridge and Ring set every link among the nodes the
// network knows (those it made a Transport for, and those ever named to it),
// cutting off the nodes a shape does not name (a node the network first
// hears of later starts with its links up). A shape replaces the links that
// were there; it does not change which nodes are down.
//
// Down and Up concern a node rather than its links: a down node neither
// sends nor receives, as if unplugged from the network; its Node keeps
// running (its timers fire, it may stand for election). Links keep their state while a node is
// down, and a node restarted while down (a new Transport for its id) stays
// down. Heal restores every link and brings every node up; the random fault
// rates stay as they are.
//
// Messages between a pair of nodes arrive in the order sent unless
// SetReorder says otherwise.
package mem
