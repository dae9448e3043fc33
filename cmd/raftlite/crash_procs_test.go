//go:build unix

package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os/exec"
	"slices"
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

// crashCluster is `raftlite node` processes, three to begin with and more
// as nodes join, and what the test wrote to them and read from them. Node
// i (from 0) has id i+1; the slices are by node.
type crashCluster struct {
	t         *testing.T
	bin       string
	transport string
	addrs     []string // transport addresses
	admins    []string // admin endpoints (--admin)
	dirs      []string
	procs     []*proc // the current (or last) life of each node started
	// joining marks a node started with --join whose addition has not
	// completed; removing, a member whose removal is under way; removed,
	// one removed and stopped, whose last life's output is checked as a
	// prefix of the others'. The test writes only to nodes in none of them.
	joining, removing, removed []bool
	progress                   chan struct{} // a token whenever a node prints or acknowledges a line
	failed                     chan struct{} // closed when a process exits on its own
	failOnce                   sync.Once

	mu      sync.Mutex
	written map[string]writtenLine
	acked   map[string]uint64 // line -> index acknowledged

	kills, pauses, restarts int
	snapshots, restores     int // as the nodes logged them
	// changes is the membership changes made; struck, those that a kill
	// or pause struck before they had completed.
	changes, struck int
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
	c := &crashCluster{t: t, bin: bin, transport: transport,
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
		ports := loopback.Candidates(6)
		c.addrs, c.admins = ports[:3:3], ports[3:] // full slices: join appends to both
		c.dirs = []string{t.TempDir(), t.TempDir(), t.TempDir()}
		c.procs = make([]*proc, 3)
		c.joining, c.removing, c.removed = make([]bool, 3), make([]bool, 3), make([]bool, 3)
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
// it logs "started". If a port is taken it returns an error wrapping
// syscall.EADDRINUSE; any other early exit fails the test.
//
// The first three nodes bootstrap the cluster, and always start with the
// --peers they first started with: a node whose log holds no configuration
// yet takes its --peers for the first one. A node after them joins
// (--join), given the addresses of the nodes not removed to reach; on a
// restart it follows the configuration in its log.
func (c *crashCluster) start(i int) error {
	life := 1
	if old := c.procs[i]; old != nil {
		life = old.life + 1
	}
	peers := map[int]string{0: c.addrs[0], 1: c.addrs[1], 2: c.addrs[2]}
	var join []string
	if i >= 3 {
		peers, join = map[int]string{i: c.addrs[i]}, []string{"--join"}
		for k := range c.procs {
			if !c.removed[k] && c.procs[k] != nil {
				peers[k] = c.addrs[k]
			}
		}
	}
	args := append([]string{"node", "--id", strconv.Itoa(i + 1), "--listen", c.addrs[i], "--peers", peersOf(peers),
		"--data", c.dirs[i], "--transport", c.transport, "--log-format", "json", "--admin", c.admins[i],
		// Snapshots every few rounds, and followers that come back are
		// often sent one: taking, installing and restoring them is under
		// the kills too, and a node that joins is sent one.
		"--snapshot-every", "37", "--trailing-entries", "5"}, join...)
	cmd := exec.Command(c.bin, args...)
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

// stopAll sends every node still running SIGTERM and requires that each
// stops cleanly.
func (c *crashCluster) stopAll() {
	var running []int
	for i, p := range c.procs {
		if !p.exited() {
			running = append(running, i)
		}
	}
	c.stop(running...)
}

// stop sends nodes SIGTERM and requires that each stops cleanly.
func (c *crashCluster) stop(nodes ...int) {
	for _, i := range nodes {
		p := c.procs[i]
		p.expectExit.Store(true)
		require.NoError(c.t, p.cmd.Process.Signal(syscall.SIGTERM), "SIGTERM to node %d\n%s", p.node, p.tail())
	}
	for _, i := range nodes {
		p := c.procs[i]
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			c.t.Fatalf("node %d did not stop within 30s of SIGTERM\n%s", p.node, p.tail())
		}
		require.NoError(c.t, p.waitErr, "node %d must stop cleanly on SIGTERM\n%s", p.node, p.tail())
	}
}

// peersOf writes a --peers value giving node i+1 the address peers[i].
func peersOf(peers map[int]string) string {
	var parts []string
	for _, i := range slices.Sorted(maps.Keys(peers)) {
		parts = append(parts, fmt.Sprintf("%d=%s", i+1, peers[i]))
	}
	return strings.Join(parts, ",")
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
