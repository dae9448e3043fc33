// Package loopback finds addresses on 127.0.0.1 for tests and benchmarks
// that run a cluster on a real network inside one machine, where every
// node must know every other node's address before any of them listens.
//
// Asking the kernel for a free port (listen on port 0, close, listen again
// on that port) races with every other process on the machine: the port
// comes from the ephemeral range, which the kernel hands out again to the
// next listener on port 0 and to the next outgoing connection. Instead,
// Candidates picks random ports below the ephemeral ranges, which only a
// process asking for that very port can take, and Retry starts the whole
// cluster again on new candidates when a bind still finds one taken:
//
//	var nodes []*raftlite.Node
//	err := loopback.Retry(func() error {
//		nodes = nil
//		addrs := loopback.Candidates(3)
//		for i := range addrs {
//			n, err := startNode(i, addrs) // binds addrs[i]
//			if err != nil {
//				closeAll(nodes)
//				return err // Retry tries again if InUse(err)
//			}
//			nodes = append(nodes, n)
//		}
//		return nil
//	})
//
// ExampleRetry runs this for three nodes over TCP, with startNode and
// closeAll written out.
package loopback

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"syscall"
)

// Candidate ports are drawn from [firstPort, lastPort]: below the
// ephemeral range of Linux (32768–60999 by default) and that of macOS and
// Windows (49152–65535), and above the ports of common services.
const (
	firstPort = 20000
	lastPort  = 32767
)

// Attempts is how many times Retry starts a cluster before it gives up.
const Attempts = 5

// Candidates returns n distinct addresses "127.0.0.1:port" on random ports
// outside the ephemeral range. Nothing is bound: a port may be in use, in
// which case listening on it fails with an error that InUse recognizes.
// The same address serves tcp and udp (quic).
func Candidates(n int) []string {
	seen := map[int]bool{}
	addrs := make([]string, 0, n)
	for len(addrs) < n {
		port := firstPort + rand.IntN(lastPort-firstPort+1)
		if !seen[port] {
			seen[port] = true
			addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", port))
		}
	}
	return addrs
}

// InUse reports whether err says an address was already in use.
func InUse(err error) bool { return errors.Is(err, syscall.EADDRINUSE) }

// Retry calls start until it returns nil or an error that InUse does not
// recognize, at most Attempts times. start should draw new Candidates each
// time and, when it fails, release whatever it started.
func Retry(start func() error) error {
	var err error
	for range Attempts {
		if err = start(); !InUse(err) {
			return err
		}
	}
	return fmt.Errorf("loopback: %d attempts found an address in use: %w", Attempts, err)
}
