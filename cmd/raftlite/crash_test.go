package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/raftlite/raftlite/internal/loopback"
	"github.com/stretchr/testify/require"
)

// TestKillNineCluster runs three `raftlite node` processes on 127.0.0.1 and,
// while a client broadcasts through them, kills nodes with SIGKILL, pauses
// them with SIGSTOP/SIGCONT and restarts them on their data directories.
// At the end every broadcast a client saw acknowledged must be delivered
// exactly once, at its acknowledged index, by every node, and all nodes
// must have delivered the same sequence.
func TestKillNineCluster(t *testing.T) {
	rounds := 8
	if testing.Short() {
		rounds = 3
	}
	bin := filepath.Join(t.TempDir(), "raftlite")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, transport := range []string{"tcp", "quic"} {
		t.Run(transport, func(t *testing.T) {
			n := rounds
			if transport == "quic" {
				n = (rounds + 1) / 2
			}
			runKillNine(t, bin, transport, n)
		})
	}
}

type proc struct {
	cmd       *exec.Cmd
	stdin     io.WriteCloser
	mu        sync.Mutex
	delivered []string // "index\tmessage", this life
	done      chan struct{}
	stopped   bool
}

type crashCluster struct {
	t         *testing.T
	bin       string
	transport string
	peers     string
	addrs     []string
	dirs      []string
	procs     []*proc
	mu        sync.Mutex
	acked     map[string]uint64 // message -> index acknowledged
	kills     int
	pauses    int
	restarts  int
}

func runKillNine(t *testing.T, bin, transport string, rounds int) {
	c := &crashCluster{t: t, bin: bin, transport: transport, acked: map[string]uint64{}}
	for i := range 3 {
		c.addrs = append(c.addrs, freePort(t, transport))
		c.dirs = append(c.dirs, filepath.Join(t.TempDir(), fmt.Sprint("node-", i+1)))
	}
	var parts []string
	for i, a := range c.addrs {
		parts = append(parts, fmt.Sprintf("%d=%s", i+1, a))
	}
	c.peers = strings.Join(parts, ",")
	c.procs = make([]*proc, 3)
	for i := range 3 {
		c.start(i)
	}
	t.Cleanup(func() {
		for _, p := range c.procs {
			c.kill(p)
		}
	})
	rng := rand.New(rand.NewPCG(1, uint64(len(transport))))
	deadline := time.Now().Add(90 * time.Second)
	sent := 0
	for round := range rounds {
		require.True(t, time.Now().Before(deadline), "the test ran out of time")
		for k := range 40 {
			i := rng.IntN(3)
			if p := c.procs[i]; !p.stopped {
				fmt.Fprintf(p.stdin, "r%d-m%d-via%d\n", round, k, i+1)
				sent++
			}
			time.Sleep(5 * time.Millisecond) // pacing the client, not waiting for a condition
		}
		victim := rng.IntN(3)
		if round%3 == 2 {
			p := c.procs[victim]
			p.cmd.Process.Signal(syscall.SIGSTOP)
			c.pauses++
			time.Sleep(time.Duration(200+rng.IntN(800)) * time.Millisecond)
			p.cmd.Process.Signal(syscall.SIGCONT)
		} else {
			c.kill(c.procs[victim])
			c.kills++
			time.Sleep(time.Duration(rng.IntN(500)) * time.Millisecond)
			c.start(victim)
			c.restarts++
		}
	}
	// Let the cluster settle: everything acknowledged must reach everyone.
	c.waitConverged(30 * time.Second)
	c.mu.Lock()
	acked := len(c.acked)
	c.mu.Unlock()
	t.Logf("%s: %d rounds, %d kills, %d restarts, %d pauses, %d lines sent, %d acknowledged and checked",
		c.transport, rounds, c.kills, c.restarts, c.pauses, sent, acked)
	require.Positive(t, acked, "some broadcasts must have been acknowledged")
}

func (c *crashCluster) start(i int) {
	cmd := exec.Command(c.bin, "node", "--id", strconv.Itoa(i+1), "--listen", c.addrs[i], "--peers", c.peers,
		"--data", c.dirs[i], "--transport", c.transport, "--log-format", "json")
	stdin, err := cmd.StdinPipe()
	require.NoError(c.t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(c.t, err)
	stderr, err := cmd.StderrPipe()
	require.NoError(c.t, err)
	require.NoError(c.t, cmd.Start())
	p := &proc{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	c.procs[i] = p
	var readers sync.WaitGroup
	readers.Go(func() {
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			p.mu.Lock()
			p.delivered = append(p.delivered, lines.Text())
			p.mu.Unlock()
		}
	})
	readers.Go(func() {
		lines := bufio.NewScanner(stderr)
		for lines.Scan() {
			var rec struct {
				Msg   string `json:"msg"`
				Index uint64 `json:"index"`
				Data  string `json:"data"`
			}
			if json.Unmarshal(lines.Bytes(), &rec) == nil && rec.Msg == "committed" {
				c.mu.Lock()
				if old, ok := c.acked[rec.Data]; ok && old != rec.Index {
					c.t.Errorf("%q acknowledged at %d and at %d", rec.Data, old, rec.Index)
				}
				c.acked[rec.Data] = rec.Index
				c.mu.Unlock()
			}
		}
	})
	go func() {
		readers.Wait()
		cmd.Wait()
		close(p.done)
	}()
}

func (c *crashCluster) kill(p *proc) {
	if p == nil || p.stopped {
		return
	}
	p.stopped = true
	p.cmd.Process.Signal(syscall.SIGCONT)
	p.cmd.Process.Kill()
	<-p.done
}

// waitConverged polls until every node has delivered every acknowledged
// broadcast, then checks the sequences.
func (c *crashCluster) waitConverged(limit time.Duration) {
	deadline := time.Now().Add(limit)
	for {
		err := c.check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: no convergence: %v", c.transport, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *crashCluster) check() error {
	c.mu.Lock()
	acked := make(map[string]uint64, len(c.acked))
	for k, v := range c.acked {
		acked[k] = v
	}
	c.mu.Unlock()
	var ref []string
	for i, p := range c.procs {
		p.mu.Lock()
		got := append([]string(nil), p.delivered...)
		p.mu.Unlock()
		seen := map[string]uint64{}
		for _, line := range got {
			idxText, msg, _ := strings.Cut(line, "\t")
			idx, _ := strconv.ParseUint(idxText, 10, 64)
			if _, dup := seen[msg]; dup {
				c.t.Fatalf("node %d delivered %q twice", i+1, msg)
			}
			seen[msg] = idx
		}
		for msg, idx := range acked {
			if at, ok := seen[msg]; !ok {
				return fmt.Errorf("node %d has not delivered acknowledged %q", i+1, msg)
			} else if at != idx {
				c.t.Fatalf("node %d delivered %q at %d, acknowledged at %d", i+1, msg, at, idx)
			}
		}
		if ref == nil || len(got) > len(ref) {
			ref, got = got, ref
		}
		for k := range min(len(got), len(ref)) {
			if got[k] != ref[k] {
				c.t.Fatalf("nodes disagree at delivery %d: %q vs %q", k+1, got[k], ref[k])
			}
		}
	}
	for _, p := range c.procs {
		p.mu.Lock()
		n := len(p.delivered)
		p.mu.Unlock()
		if n != len(ref) {
			return fmt.Errorf("a node delivered %d of %d", n, len(ref))
		}
	}
	return nil
}

func freePort(t *testing.T, transport string) string {
	network := "tcp"
	if transport == "quic" {
		network = "udp"
	}
	addr, err := loopback.Addr(network)
	require.NoError(t, err)
	return addr
}
