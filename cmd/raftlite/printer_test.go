package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/transport/mem"
)

// A node restored from a snapshot in the middle of its life prints, once,
// the snapshot's lines it had not printed, and nothing it had.
func TestPrinterPrintsTheLinesOfASnapshotItHadNotPrinted(t *testing.T) {
	var out bytes.Buffer
	p, err := newPrinter(nil, &out, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer func() { require.NoError(t, p.close()) }()
	require.NoError(t, p.deliver(context.Background(), raftlite.Delivery{Index: 2, Data: []byte("a")}))
	require.NoError(t, p.deliver(context.Background(), raftlite.Delivery{Index: 3, Data: []byte("b\twith a tab")}))
	snapshot := "2\ta\n3\tb\twith a tab\n5\tc\n8\td\n"
	require.NoError(t, p.restore(strings.NewReader(snapshot)))
	require.NoError(t, p.deliver(context.Background(), raftlite.Delivery{Index: 9, Data: []byte("e")}))
	require.NoError(t, p.out.Flush())
	assert.Equal(t, "2\ta\n3\tb\twith a tab\n5\tc\n8\td\n9\te\n", out.String())
	require.NoError(t, p.buf.Flush())
	state, err := io.ReadAll(io.NewSectionReader(p.state, 0, 1<<20))
	require.NoError(t, err)
	assert.Equal(t, snapshot+"9\te\n", string(state), "the state is what the snapshot held, and what followed")
}

// `raftlite node` snapshots what it printed when the node asks, and the
// log is compacted behind it; a new life that starts from the snapshot
// prints every line again, once, in order.
func TestNodeSnapshotsWhatItPrintedAndANewLifePrintsItAll(t *testing.T) {
	disk := raftlite.NewMemoryPersister()
	start := func() *raftlite.Node {
		n, err := raftlite.New(raftlite.Config{ID: 1, Peers: map[raftlite.NodeID]string{1: ""},
			Transport: mem.NewNetwork(1).Transport(1), Persister: disk, SnapshotEvery: 10, TrailingEntries: 2,
			ElectionTimeout: 50 * time.Millisecond, HeartbeatInterval: 10 * time.Millisecond,
			Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		return n
	}
	var input strings.Builder
	for k := range 50 {
		fmt.Fprintf(&input, "line-%02d\n", k)
	}
	run := func(stdin io.Reader, want int) []string {
		node := start()
		out := newLineWriter()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- serveNode(ctx, node, stdin, out, 8, slog.New(slog.DiscardHandler)) }()
		lines := out.waitFor(t, want, 30*time.Second)
		cancel()
		require.NoError(t, <-done)
		return lines
	}
	first := run(strings.NewReader(input.String()), 50)
	_, entries, err := disk.Load()
	require.NoError(t, err)
	assert.Less(t, len(entries), 10+2+5, "the log was compacted behind the snapshots")

	second := run(strings.NewReader(""), 50)
	assert.Equal(t, first, second, "the new life prints the same lines, from its snapshot and the log after it")
	for k, line := range second {
		_, msg, _ := strings.Cut(line, "\t")
		assert.Equal(t, fmt.Sprintf("line-%02d", k), msg)
	}
}
