// Package wal is a durable raftlite.Persister: a write-ahead log of
// checksummed records in segment files in one directory.
//
// Open the log and hand it to a Node, which closes it:
//
//	l, err := wal.Open(dir, wal.Options{})
//	if err != nil {
//		return err // errors.Is(err, raftlite.ErrCorrupt), errors.Is(err, wal.ErrLocked), ...
//	}
//	node, err := raftlite.New(raftlite.Config{ID: id, Peers: peers, Transport: transport, Persister: l})
//	if err != nil {
//		return err // New has closed l
//	}
//	defer node.Close()
//
// Each Save is one record holding the HardState, the entries and, when the
// entries start inside the log, the cut of the old suffix; it costs one
// write and one fdatasync (plus a directory fsync when a segment is
// started), and after a crash it is either wholly there or wholly absent.
// Entries stay on disk: the Log keeps 16 bytes of position per entry in
// memory and reads entries back in Load and Entries. See FORMAT.md for the
// file format and the recovery rules.
//
// Snapshots are files beside the segments, written through a sink to a
// temporary file and renamed into place once synced; Compact removes whole
// segments up to the latest snapshot, and DiscardLog restarts the log after
// an index. Memory stays a few buffers whatever a snapshot's size.
//
// A write or sync error makes Save fail with raftlite.ErrStorage, and so
// every later Save until the Log is reopened: the Node stops rather than
// acknowledge what may not be on disk.
package wal
