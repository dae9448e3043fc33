//go:build unix

package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/raftlite/raftlite/internal/loopback"
	"github.com/stretchr/testify/require"
)

// crashCluster is three `raftlite node` processes and what the test wrote
// to them and read from them.
type crashCluster struct {
	t         *testing.T
	bin       string
	transport string
	addrs     []string
	dirs      []string
	procs     []*proc
	progress  chan struct{} // a token whenever a node prints or acknowledges a line
	failed    chan struct{} // closed when a process exits on its own
	failOnce  sync.Once

	mu      sync.Mutex
	written map[string]writtenLine
	acked   map[string]uint64 // line -> index acknowledged

	kills, pauses, restarts int
	snapshots, restores     int // as the nodes logged them
}

// writtenLine is where a line was written: to which node, in which of its
// lives, as the how-manieth line of that life.
type writtenLine struct{ node, life, seq int }

// proc is one life of a node: its process from start to exit.
type proc struct {
	node, life int
	cmd        *exec.Cmd
	stdin      io.WriteCloser
	sent       int           // lines written to stdin
	started    chan struct{} // closed when the node logs "started"
	done       chan struct{} // closed once the process was waited for
	waitErr    error         // cmd.Wait's, set before done closes
	expectExit atomic.Bool   // the test signalled it to die or stop

	mu        sync.Mutex
	delivered []string // stdout: "index\tmessage"
	logs      []string // stderr
}

// newCrashCluster starts three nodes on candidate ports, starting them all
// again on new ones if a node finds its port taken (exit status 3), and
// kills whatever is left at the end of the test.
func newCrashCluster(t *testing.T, bin, transport string) *crashCluster {
	c := &crashCluster{t: t, bin: bin, transport: transport, procs: make([]*proc, 3),
		progress: make(chan struct{}, 1), failed: make(chan struct{}),
		written: map[string]writtenLine{}, acked: map[string]uint64{}}
	t.Cleanup(func() {
		for _, p := range c.procs {
			if p != nil && !p.exited() {
				c.kill(p.node - 1)
			}
		}
	})
	require.NoError(t, loopback.Retry(func() error {
		c.addrs = loopback.Candidates(3)
		c.dirs = []string{t.TempDir(), t.TempDir(), t.TempDir()}
		for i := range 3 {
			if err := c.start(i); err != nil {
				for j := range i {
					c.kill(j)
				}
				return err
			}
		}
		return nil
	}))
	return c
}

// start starts node i on its address and data directory and waits until
// it logs "started". If the port is taken it returns an error wrapping
// syscall.EADDRINUSE; any other early exit fails the test.
func (c *crashCluster) start(i int) error {
	life := 1
	if old := c.procs[i]; old != nil {
		life = old.life + 1
	}
	cmd := exec.Command(c.bin, "node", "--id", strconv.Itoa(i+1), "--listen", c.addrs[i], "--peers", peersFlag(c.addrs),
		"--data", c.dirs[i], "--transport", c.transport, "--log-format", "json",
		// Snapshots every few rounds, and followers that come back are
		// often sent one: taking, installing and restoring them is under
		// the kills too.
		"--snapshot-every", "37", "--trailing-entries", "5")
	stdin, err := cmd.StdinPipe()
	require.NoError(c.t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(c.t, err)
	stderr, err := cmd.StderrPipe()
	require.NoError(c.t, err)
	require.NoError(c.t, cmd.Start())
	p := &proc{node: i + 1, life: life, cmd: cmd, stdin: stdin, started: make(chan struct{}), done: make(chan struct{})}
	c.procs[i] = p
	var readers sync.WaitGroup
	readers.Go(func() { c.readStdout(p, stdout) })
	readers.Go(func() { c.readStderr(p, stderr) })
	go func() {
		readers.Wait()
		p.waitErr = cmd.Wait()
		close(p.done)
		if !p.expectExit.Load() && p.hasStarted() {
			c.t.Errorf("%s: node %d (life %d) exited on its own: %v\n%s", c.transport, p.node, p.life, p.waitErr, p.tail())
			c.failOnce.Do(func() { close(c.failed) })
		}
	}()
	select {
	case <-p.started:
		return nil
	case <-p.done:
	case <-time.After(30 * time.Second):
		c.t.Fatalf("%s: node %d (life %d) did not start in 30s\n%s", c.transport, p.node, p.life, p.tail())
	}
	var exit *exec.ExitError
	if errors.As(p.waitErr, &exit) && exit.ExitCode() == exitAddrInUse {
		return fmt.Errorf("node %d: %s: %w", p.node, c.addrs[i], syscall.EADDRINUSE)
	}
	c.t.Fatalf("%s: node %d (life %d) exited while starting: %v\n%s", c.transport, p.node, p.life, p.waitErr, p.tail())
	return nil
}

// readStdout keeps the lines the node printed. An unterminated last line
// is a write that SIGKILL cut short, and is dropped.
func (c *crashCluster) readStdout(p *proc, stdout io.Reader) {
	r := bufio.NewReader(stdout)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		p.mu.Lock()
		p.delivered = append(p.delivered, strings.TrimSuffix(line, "\n"))
		p.mu.Unlock()
		c.notify()
	}
}

// readStderr keeps the node's logs, notes when it has started and records
// each line it acknowledged.
func (c *crashCluster) readStderr(p *proc, stderr io.Reader) {
	lines := bufio.NewScanner(stderr)
	for lines.Scan() {
		p.mu.Lock()
		p.logs = append(p.logs, lines.Text())
		p.mu.Unlock()
		var rec struct {
			Msg   string `json:"msg"`
			Index uint64 `json:"index"`
			Data  string `json:"data"`
		}
		if json.Unmarshal(lines.Bytes(), &rec) != nil {
			continue
		}
		switch rec.Msg {
		case "started":
			close(p.started)
		case "snapshot stored, log compacted behind it":
			c.mu.Lock()
			c.snapshots++
			c.mu.Unlock()
		case "the application restores a snapshot":
			c.mu.Lock()
			c.restores++
			c.mu.Unlock()
		case "committed":
			c.mu.Lock()
			if old, ok := c.acked[rec.Data]; ok && old != rec.Index {
				c.t.Errorf("%q acknowledged at %d and at %d", rec.Data, old, rec.Index)
			}
			c.acked[rec.Data] = rec.Index
			c.mu.Unlock()
			c.notify()
		}
	}
}

func (c *crashCluster) notify() {
	select {
	case c.progress <- struct{}{}:
	default:
	}
}

// write writes line to node i's stdin, recording it first so that its
// delivery can be traced to this life of the node.
func (c *crashCluster) write(i int, line string) {
	p := c.procs[i]
	p.sent++
	c.mu.Lock()
	c.written[line] = writtenLine{node: p.node, life: p.life, seq: p.sent}
	c.mu.Unlock()
	_, err := io.WriteString(p.stdin, line+"\n")
	require.NoError(c.t, err, "writing to node %d's stdin\n%s", p.node, p.tail())
}

// kill sends node i SIGKILL and requires that it died of it.
func (c *crashCluster) kill(i int) {
	p := c.procs[i]
	p.expectExit.Store(true)
	err := p.cmd.Process.Kill()
	require.NoError(c.t, err, "SIGKILL to node %d (life %d)\n%s", p.node, p.life, p.tail())
	<-p.done
	var exit *exec.ExitError
	require.ErrorAs(c.t, p.waitErr, &exit, "node %d (life %d)\n%s", p.node, p.life, p.tail())
	status, ok := exit.Sys().(syscall.WaitStatus)
	require.True(c.t, ok && status.Signaled() && status.Signal() == syscall.SIGKILL,
		"node %d (life %d) must die of our SIGKILL, not %v\n%s", p.node, p.life, p.waitErr, p.tail())
}

func (c *crashCluster) pause(i int) {
	p := c.procs[i]
	require.NoError(c.t, p.cmd.Process.Signal(syscall.SIGSTOP), "SIGSTOP to node %d\n%s", p.node, p.tail())
	c.pauses++
}

func (c *crashCluster) resume(i int) {
	p := c.procs[i]
	require.NoError(c.t, p.cmd.Process.Signal(syscall.SIGCONT), "SIGCONT to node %d\n%s", p.node, p.tail())
}

// stopAll sends every node SIGTERM and requires that each stops cleanly.
func (c *crashCluster) stopAll() {
	for _, p := range c.procs {
		p.expectExit.Store(true)
		require.NoError(c.t, p.cmd.Process.Signal(syscall.SIGTERM), "SIGTERM to node %d\n%s", p.node, p.tail())
	}
	for _, p := range c.procs {
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			c.t.Fatalf("node %d did not stop within 30s of SIGTERM\n%s", p.node, p.tail())
		}
		require.NoError(c.t, p.waitErr, "node %d must stop cleanly on SIGTERM\n%s", p.node, p.tail())
	}
}

func (p *proc) hasStarted() bool {
	select {
	case <-p.started:
		return true
	default:
		return false
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// tail returns the last lines the node logged, for failure messages.
func (p *proc) tail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return "stderr of node " + strconv.Itoa(p.node) + ":\n" + strings.Join(p.logs[max(len(p.logs)-20, 0):], "\n")
}
