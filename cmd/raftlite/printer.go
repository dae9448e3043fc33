package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/raftlite/raftlite"
)

// printer is the application of `raftlite node`: it prints each delivered
// message as "index<TAB>message", and its state is what it printed in this
// life. It keeps that in a scratch file, which is what it snapshots when
// the node asks, so that memory stays flat however long the node runs; a
// snapshot it is handed replaces the file, and it prints, once, the lines
// of the snapshot it had not printed.
type printer struct {
	node    *raftlite.Node
	out     *bufio.Writer
	state   *os.File
	buf     *bufio.Writer // in front of state
	printed uint64        // the index of the last line printed
	logger  *slog.Logger
}

func newPrinter(node *raftlite.Node, stdout io.Writer, logger *slog.Logger) (*printer, error) {
	state, err := os.CreateTemp("", "raftlite-node-*.lines")
	if err != nil {
		return nil, fmt.Errorf("node: a scratch file for the delivered lines: %w", err)
	}
	return &printer{node: node, out: bufio.NewWriter(stdout), state: state, buf: bufio.NewWriter(state), logger: logger}, nil
}

// close removes the scratch file: a new life prints everything again.
func (p *printer) close() error {
	return errors.Join(p.state.Close(), os.Remove(p.state.Name()))
}

// deliver prints d, or what d's snapshot holds that was not printed, and
// takes a snapshot if the node asks for one.
func (p *printer) deliver(ctx context.Context, d raftlite.Delivery) error {
	if d.Snapshot != nil {
		if err := p.restore(d.Snapshot); err != nil {
			return err
		}
	} else if err := p.print(fmt.Sprintf("%d\t%s\n", d.Index, d.Data), d.Index); err != nil {
		return err
	}
	if d.SnapshotDue {
		if err := p.buf.Flush(); err != nil {
			return fmt.Errorf("node: writing the scratch file: %w", err)
		}
		size, err := p.state.Seek(0, io.SeekCurrent)
		if err != nil {
			return fmt.Errorf("node: the scratch file: %w", err)
		}
		err = p.node.Snapshot(ctx, d.Index, func(w io.Writer) error {
			_, err := io.Copy(w, io.NewSectionReader(p.state, 0, size))
			return err
		})
		if err != nil && ctx.Err() == nil && !errors.Is(err, raftlite.ErrClosed) {
			p.logger.Warn("snapshot failed; the log keeps growing until the next one", "index", d.Index, "err", err)
		}
	}
	return nil
}

// print writes line, the message at index, to stdout and the scratch file.
func (p *printer) print(line string, index uint64) error {
	if _, err := p.buf.WriteString(line); err != nil {
		return fmt.Errorf("node: writing the scratch file: %w", err)
	}
	if _, err := p.out.WriteString(line); err != nil {
		return fmt.Errorf("node: writing deliveries: %w", err)
	}
	p.printed = index
	return nil
}

// restore replaces the state with a snapshot's lines, printing those after
// the last one printed.
func (p *printer) restore(snap io.Reader) error {
	if err := p.buf.Flush(); err != nil {
		return fmt.Errorf("node: writing the scratch file: %w", err)
	}
	if err := p.state.Truncate(0); err != nil {
		return fmt.Errorf("node: the scratch file: %w", err)
	}
	if _, err := p.state.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("node: the scratch file: %w", err)
	}
	lines := bufio.NewReader(snap)
	for {
		line, err := lines.ReadString('\n')
		if err == io.EOF && line == "" {
			return nil
		}
		if err != nil {
			return fmt.Errorf("node: reading a snapshot: %w", err)
		}
		idxText, _, _ := strings.Cut(line, "\t")
		index, perr := strconv.ParseUint(idxText, 10, 64)
		if perr != nil {
			return fmt.Errorf("node: a snapshot line %q has no index", line)
		}
		if _, err := p.buf.WriteString(line); err != nil {
			return fmt.Errorf("node: writing the scratch file: %w", err)
		}
		if index > p.printed {
			if _, err := p.out.WriteString(line); err != nil {
				return fmt.Errorf("node: writing deliveries: %w", err)
			}
			p.printed = index
		}
	}
}
