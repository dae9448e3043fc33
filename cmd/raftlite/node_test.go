package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/internal/loopback"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNodeDeliversStdinInOrder pipes 200 lines into one node of a
// three-node cluster and checks that every node prints them in exactly
// stdin order, as "index<TAB>line" with increasing indices. When each line
// was broadcast from its own goroutine, 20 lines came out with the 20th
// second.
func TestNodeDeliversStdinInOrder(t *testing.T) {
	const count = 200
	var input strings.Builder
	for k := range count {
		fmt.Fprintf(&input, "line-%03d\n", k)
	}
	nodes := startInProcess(t, 3, map[int]io.Reader{1: strings.NewReader(input.String())})
	want := strings.Split(strings.TrimSuffix(input.String(), "\n"), "\n")
	for i, n := range nodes {
		got := n.stdout.waitFor(t, count, 30*time.Second)
		var msgs []string
		var last uint64
		for _, line := range got {
			idx, msg, ok := strings.Cut(line, "\t")
			index, err := strconv.ParseUint(idx, 10, 64)
			require.True(t, ok && err == nil, "node %d printed %q, not index<TAB>message", i+1, line)
			require.Greater(t, index, last, "node %d: indices must increase", i+1)
			last = index
			msgs = append(msgs, msg)
		}
		assert.Equal(t, want, msgs, "node %d must print stdin's lines in stdin order", i+1)
	}
}

// inProcessNode is `raftlite node` run by serveNode inside the test.
type inProcessNode struct {
	stdout, stderr *lineWriter
}

// startInProcess starts n nodes as `raftlite node` would, on tcp over
// 127.0.0.1, with node i reading stdin[i] (nothing if nil), and stops them
// at the end of the test, requiring a clean stop.
func startInProcess(t *testing.T, n int, stdin map[int]io.Reader) []*inProcessNode {
	var nodes []*raftlite.Node
	var opts []nodeOptions
	outs := make([]*inProcessNode, n)
	require.NoError(t, loopback.Retry(func() error {
		nodes, opts = nil, nil
		peers := peersFlag(loopback.Candidates(n))
		for i := range n {
			o, err := parseNodeFlags([]string{"--id", strconv.Itoa(i + 1), "--peers", peers,
				"--data", t.TempDir(), "--log-format", "json"}, io.Discard)
			require.NoError(t, err)
			outs[i] = &inProcessNode{stdout: newLineWriter(), stderr: newLineWriter()}
			node, err := o.start(o.logger(outs[i].stderr))
			if err != nil {
				for _, started := range nodes {
					assert.NoError(t, started.Close())
				}
				return err
			}
			nodes, opts = append(nodes, node), append(opts, o)
		}
		return nil
	}))
	ctx, cancel := context.WithCancel(context.Background())
	var serving sync.WaitGroup
	for i, node := range nodes {
		in := stdin[i]
		if in == nil {
			in = strings.NewReader("")
		}
		serving.Go(func() {
			err := serveNode(ctx, node, in, outs[i].stdout, opts[i].concurrency, opts[i].logger(outs[i].stderr))
			assert.NoError(t, err, "node %d stopping", i+1)
		})
	}
	t.Cleanup(func() {
		cancel()
		serving.Wait()
	})
	return outs
}

// peersFlag writes a --peers value giving node i+1 addrs[i].
func peersFlag(addrs []string) string {
	parts := make([]string, len(addrs))
	for i, a := range addrs {
		parts[i] = fmt.Sprintf("%d=%s", i+1, a)
	}
	return strings.Join(parts, ",")
}

// lineWriter collects what is written to it as lines, and lets a test wait
// for them.
type lineWriter struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
	changed chan struct{} // a token after each write that ends a line
}

func newLineWriter() *lineWriter { return &lineWriter{changed: make(chan struct{}, 1)} }

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		i := strings.IndexByte(string(w.partial), '\n')
		if i < 0 {
			break
		}
		w.lines = append(w.lines, string(w.partial[:i]))
		w.partial = w.partial[i+1:]
		select {
		case w.changed <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

func (w *lineWriter) snapshot() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.lines...)
}

func (w *lineWriter) String() string { return strings.Join(w.snapshot(), "\n") }

// waitFor waits until n lines were written, or fails the test after limit,
// and returns the lines written so far.
func (w *lineWriter) waitFor(t *testing.T, n int, limit time.Duration) []string {
	t.Helper()
	timeout := time.After(limit)
	for {
		if got := w.snapshot(); len(got) >= n {
			return got
		}
		select {
		case <-w.changed:
		case <-timeout:
			got := w.snapshot()
			t.Fatalf("%d of %d lines after %v; last: %q", len(got), n, limit, got[max(len(got)-3, 0):])
		}
	}
}

// TestNodeExitsWithStatus3WhenItsPortIsTaken: a driver that picked the
// port can tell this failure from the others, and pick another port.
func TestNodeExitsWithStatus3WhenItsPortIsTaken(t *testing.T) {
	for _, transport := range []string{"tcp", "quic"} {
		t.Run(transport, func(t *testing.T) {
			var addr string
			if transport == "tcp" {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				require.NoError(t, err)
				defer ln.Close()
				addr = ln.Addr().String()
			} else {
				pc, err := net.ListenPacket("udp", "127.0.0.1:0")
				require.NoError(t, err)
				defer pc.Close()
				addr = pc.LocalAddr().String()
			}
			cmd := exec.Command(binary(t), "node", "--id", "1", "--peers", "1="+addr,
				"--data", t.TempDir(), "--transport", transport)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit, "%s", out)
			assert.Equal(t, exitAddrInUse, exit.ExitCode(), "%s", out)
			assert.Contains(t, string(out), "address already in use")
		})
	}
}

// TestNodeStopsCleanlyOnSIGTERMAsSoonAsItStarted: a driver may stop a node
// the moment it logs "started" (the kill -9 test stops a node it just
// restarted once its removal completes). The node must then stop as on any
// other SIGTERM, with status 0, not die of the signal: it used to install
// its handler only after starting its admin endpoint.
func TestNodeStopsCleanlyOnSIGTERMAsSoonAsItStarted(t *testing.T) {
	bin := binary(t)
	for try := range 5 {
		require.NoError(t, loopback.Retry(func() error {
			ports := loopback.Candidates(2)
			cmd := exec.Command(bin, "node", "--id", "1", "--peers", "1="+ports[0], "--admin", ports[1],
				"--data", t.TempDir(), "--log-format", "json")
			stderr, err := cmd.StderrPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			var logs []string
			lines := bufio.NewScanner(stderr)
			for lines.Scan() {
				logs = append(logs, lines.Text())
				if strings.Contains(lines.Text(), `"msg":"started"`) {
					require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
					break
				}
			}
			for lines.Scan() {
				logs = append(logs, lines.Text())
			}
			err = cmd.Wait()
			var exit *exec.ExitError
			if errors.As(err, &exit) && exit.ExitCode() == exitAddrInUse {
				return fmt.Errorf("%w: %s", syscall.EADDRINUSE, strings.Join(logs, "\n"))
			}
			require.NoError(t, err, "try %d: the node must stop cleanly\n%s", try+1, strings.Join(logs, "\n"))
			return nil
		}))
	}
}
