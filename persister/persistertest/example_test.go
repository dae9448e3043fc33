package persistertest_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/persister/persistertest"
	"github.com/raftlite/raftlite/wal"
)

// TestConformance is the example of the package documentation, run on
// package wal. (wal's own tests run the suite with its crash hook too.)
func TestConformance(t *testing.T) {
	persistertest.Run(t, persistertest.Harness{
		Open: func(t *testing.T) (raftlite.Persister, func() raftlite.Persister) {
			dir := t.TempDir()
			p := mustOpen(t, dir)
			return p, func() raftlite.Persister { p.Close(); p = mustOpen(t, dir); return p }
		},
	})
}

func mustOpen(t *testing.T, dir string) raftlite.Persister {
	l, err := wal.Open(dir, wal.Options{})
	require.NoError(t, err)
	return l
}

// Entries makes a log for a persister's own tests, with every field set and
// a no-op every fourth index, so that encodings are exercised.
func ExampleEntries() {
	for _, e := range persistertest.Entries(3, 5, 2) {
		fmt.Printf("index %d term %d kind %d origin %d seq %d data %q\n", e.Index, e.Term, e.Kind, e.Origin, e.Seq, e.Data)
	}
	// Output:
	// index 3 term 2 kind 0 origin 1 seq 21 data "entry 3 of term 2"
	// index 4 term 2 kind 1 origin 0 seq 0 data ""
	// index 5 term 2 kind 0 origin 3 seq 35 data "entry 5 of term 2"
}
