// Package loopback reserves addresses on 127.0.0.1 for tests and benchmarks
// that run nodes on a real network inside one machine.
package loopback

import (
	"fmt"
	"net"
)

// Addr returns a free "127.0.0.1:port" for network "tcp" or "udp" (quic),
// found by listening on port 0 and letting go. Another process could take
// the port in between; on a test machine that is rare enough to accept.
func Addr(network string) (string, error) {
	switch network {
	case "tcp":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		defer ln.Close()
		return ln.Addr().String(), nil
	case "udp":
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		defer pc.Close()
		return pc.LocalAddr().String(), nil
	}
	return "", fmt.Errorf("loopback: network %q is neither tcp nor udp", network)
}
