package bench

// Matrix is every setup the benchmarks and `raftlite bench` run: each
// transport and persister, for one sequential client with 128-byte
// messages, 64 clients with 128 bytes and 64 clients with 1 KiB, each
// broadcasting on the leader and on a follower.
func Matrix() []Setup {
	var out []Setup
	for _, t := range []string{"mem", "tcp", "quic"} {
		for _, p := range []string{"memory", "wal"} {
			for _, w := range []struct{ clients, size int }{{1, 128}, {64, 128}, {64, 1024}} {
				for _, via := range []bool{false, true} {
					out = append(out, Setup{Transport: t, Persister: p, Clients: w.clients, Size: w.size, ViaFollower: via})
				}
			}
		}
	}
	return out
}

// Available reports whether this build knows s's transport and persister.
func Available(s Setup) bool {
	_, t := transports[s.Transport]
	_, p := persisters[s.Persister]
	return t && p
}
