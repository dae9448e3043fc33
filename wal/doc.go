// Package wal is a durable raftlite.Persister: a write-ahead log of
// checksummed records in segment files in one directory.
//
// Each Save is one record holding the HardState, the entries and, when the
// entries start inside the log, the cut of the old suffix; it costs one
// write and one fdatasync (plus a directory fsync when a segment is
// started), and after a crash it is either wholly there or wholly absent.
// Entries stay on disk: the Log keeps 16 bytes of position per entry in
// memory and reads entries back in Load and Entries. See FORMAT.md for the
// file format and the recovery rules.
//
//	l, err := wal.Open("/var/lib/node1", wal.Options{})
//	if err != nil {
//		return err // errors.Is(err, raftlite.ErrCorrupt), wal.ErrLocked, ...
//	}
//	defer l.Close()
//	node, err := raftlite.New(cfg, transport, l) // l is a raftlite.Persister
//	...
//	// Once a snapshot covers everything before index i:
//	err = l.CompactBefore(i)
//
// A write or sync error makes Save fail with raftlite.ErrStorage, and so
// every later Save until the Log is reopened: the Node stops rather than
// acknowledge what may not be on disk.
package wal
