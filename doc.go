// Package raftlite is total-order broadcast on the Raft consensus
// algorithm: any node accepts a []byte, and every node delivers the same
// messages in the same order, each exactly once, through crashes,
// partitions and restarts.
//
// A Node runs one member of a cluster. It talks to the others through a
// Transport (transport/mem in one process, transport/tcp or transport/quic
// between processes) and keeps its state in a Persister (MemoryPersister,
// or the write-ahead log in package wal). The smallest program is one node
// that is a cluster by itself:
//
//	node, err := raftlite.New(raftlite.Config{
//		ID:        1,
//		Peers:     map[raftlite.NodeID]string{1: ""},
//		Transport: mem.NewNetwork(1).Transport(1),
//		Persister: raftlite.NewMemoryPersister(),
//	})
//	if err != nil {
//		log.Fatal(err)
//	}
//	defer node.Close()
//	index, err := node.Broadcast(context.Background(), []byte("hello")) // returns once committed
//	if err != nil {
//		log.Fatal(err)
//	}
//	d := <-node.Deliveries() // every node delivers it
//	fmt.Printf("%q committed at index %d\n", d.Data, index)
//
// ExampleNew runs this program; the package Example runs three nodes.
//
// The algorithm itself is a pure state machine, one short handler per event
// (events.go), after Martin Kleppmann's formulation of Raft; the Node
// carries out what it asks: messages, saves, timers and deliveries.
package raftlite
