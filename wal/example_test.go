package wal_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/transport/mem"
	"github.com/raftlite/raftlite/wal"
)

// A Log saves a HardState and entries and gives them back after a restart.
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "wal-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	l, err := wal.Open(dir, wal.Options{})
	if err != nil {
		log.Fatal(err)
	}
	hs := raftlite.HardState{Term: 2, VotedFor: 1, Incarnation: 1, Commit: 1}
	entries := []raftlite.Entry{
		{Index: 1, Term: 1, Kind: raftlite.EntryNoop},
		{Index: 2, Term: 2, Origin: 1, Incarnation: 1, Seq: 1, Data: []byte("hello")},
	}
	if err := l.Save(&hs, entries); err != nil { // durable when Save returns
		log.Fatal(err)
	}
	l.Close()

	l, err = wal.Open(dir, wal.Options{}) // as a restarted process would
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	hs, entries, err = l.Load()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("term %d, voted for %d, commit %d\n", hs.Term, hs.VotedFor, hs.Commit)
	for _, e := range entries {
		fmt.Printf("entry %d of term %d: %q\n", e.Index, e.Term, e.Data)
	}
	// Output:
	// term 2, voted for 1, commit 1
	// entry 1 of term 1: ""
	// entry 2 of term 2: "hello"
}

// A node whose log is a Log delivers, after a restart, what was committed
// before it, then carries on. It is a cluster of one, so it elects itself.
func Example() {
	dir, err := os.MkdirTemp("", "wal-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	peers := map[raftlite.NodeID]string{1: "n1"}

	for life, msg := range []string{"hello", "again"} {
		fmt.Printf("life %d:", life+1)
		transport := mem.NewNetwork(1).Transport(1)
		if err := live(dir, 1, peers, transport, msg); err != nil {
			log.Fatal(err)
		}
		fmt.Println()
	}
	// Output:
	// life 1: "hello"
	// life 2: "hello" "again"
}

// live runs a node on the log in dir until it has broadcast msg and
// delivered it, printing what it delivers.
func live(dir string, id raftlite.NodeID, peers map[raftlite.NodeID]string, transport raftlite.Transport, msg string) error {
	l, err := wal.Open(dir, wal.Options{})
	if err != nil {
		return err // errors.Is(err, raftlite.ErrCorrupt), errors.Is(err, wal.ErrLocked), ...
	}
	node, err := raftlite.New(raftlite.Config{ID: id, Peers: peers, Transport: transport, Persister: l})
	if err != nil {
		return err // New has closed l
	}
	defer node.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	index, err := node.Broadcast(ctx, []byte(msg))
	if err != nil {
		return err
	}
	for d := range node.Deliveries() {
		fmt.Printf(" %q", d.Data)
		if d.Index == index {
			break
		}
	}
	return nil
}
