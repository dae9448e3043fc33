package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/raftlite/raftlite"
)

// submitted is a line of stdin accepted for broadcast.
type submitted struct {
	line string
	p    *raftlite.Pending
}

// submitLines broadcasts each line of r through node, in order: it submits
// them one after another, so that every node delivers them in the order
// they were read (Node.Submit's FIFO promise), with at most window of them
// in flight (submitted, outcome not yet known). Another goroutine waits for
// the outcomes, in the same order, and logs each, so that a driver reading
// stderr knows what was acknowledged. A line that cannot be submitted is
// logged and skipped; the lines after it keep their order.
func submitLines(ctx context.Context, node *raftlite.Node, r io.Reader, window int, logger *slog.Logger) {
	slots := make(chan struct{}, max(window, 1))
	inFlight := make(chan submitted, cap(slots))
	defer close(inFlight)
	go reportOutcomes(ctx, inFlight, slots, logger)
	lines := bufio.NewScanner(r)
	lines.Buffer(make([]byte, 64<<10), 1<<20)
	for lines.Scan() {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		line := lines.Text()
		p, err := node.Submit(ctx, []byte(line))
		if err != nil {
			<-slots
			logger.Warn("broadcast failed", "data", line, "err", err)
			if errors.Is(err, raftlite.ErrTooLarge) {
				continue
			}
			return // ctx ended or the node stopped
		}
		inFlight <- submitted{line, p}
	}
	if err := lines.Err(); err != nil {
		logger.Error("reading stdin failed; no more lines will be broadcast", "err", err)
	}
}

// reportOutcomes logs the outcome of each submitted line, in submission
// order, and frees its slot in the window.
func reportOutcomes(ctx context.Context, inFlight <-chan submitted, slots <-chan struct{}, logger *slog.Logger) {
	for s := range inFlight {
		index, err := s.p.Wait(ctx)
		id := formatID(s.p.ID())
		switch {
		case err == nil:
			logger.Info("committed", "index", index, "data", s.line, "id", id)
		case errors.Is(err, raftlite.ErrOutcomeUnknown):
			logger.Warn("broadcast outcome unknown", "data", s.line, "id", id, "err", err)
		default:
			logger.Warn("broadcast failed", "data", s.line, "id", id, "err", err)
		}
		<-slots
	}
}

// formatID writes a broadcast id as origin/incarnation/seq.
func formatID(id raftlite.BroadcastID) string {
	return fmt.Sprintf("%d/%d/%d", id.Origin, id.Incarnation, id.Seq)
}
