package bench

import (
	"context"
	"errors"
	"os"
	"runtime/debug"
	"time"
)

// ScaleMatrix is the table of issue 13, "How cost grows": 3, 5 and 7
// nodes, by 1, 64 and 1,024 clients, by 128-byte, 4 KiB and 64 KiB
// messages, durable (the WAL) on tcp, broadcasting on the leader. One axis
// at a time, its figures say whether cost grows linearly in it.
func ScaleMatrix() []Setup {
	var out []Setup
	for _, nodes := range []int{3, 5, 7} {
		for _, clients := range []int{1, 64, 1024} {
			for _, size := range []int{128, 4 << 10, 64 << 10} {
				out = append(out, Setup{Nodes: nodes, Transport: "tcp", Persister: "wal", Clients: clients, Size: size})
			}
		}
	}
	return out
}

// LargestMessage is the largest broadcast the default Config accepts: its
// MaxEntryBytes, 1 MiB (a byte more is ErrTooLarge; a test holds this to
// the Config). A message between nodes that carries one is 264 bytes more
// (an entry's and a message's overhead), well within tcp's and quic's
// default frame limit of 16 MiB; New refuses a Config where it is not.
const LargestMessage = 1 << 20

// Largest is the setup that broadcasts messages of LargestMessage bytes,
// durable on tcp, from a few clients: with the default MaxInflightBytes
// (8 MiB) a follower has at most eight of them under way.
func Largest() Setup {
	return Setup{Nodes: 3, Transport: "tcp", Persister: "wal", Clients: 4, Size: LargestMessage}
}

// Cost is what a load took of the machine, beside its Result.
type Cost struct {
	Result
	// CPU is the user and system time of the whole process during the
	// load: every node's, the clients' and the harness's, as a deployment
	// of one node per machine would spread it across the nodes.
	CPU time.Duration
	// RunQueueWait is how long the process's threads, together, were
	// ready to run but waited for a core during the load (Linux only). Set
	// against Elapsed it says how many more cores the load would have
	// used: near 0, what bounds it is not the CPU.
	RunQueueWait time.Duration
	// PeakRSS is the highest resident set (VmRSS) sampled during the
	// load, after the memory of earlier clusters was given back to the
	// system: unlike Getrusage's Maxrss, which is the peak of the
	// process's whole life, it is this load's (0 where /proc is missing).
	PeakRSS int64
}

// CPUPerCommit is the process's CPU time per committed broadcast.
func (c Cost) CPUPerCommit() time.Duration {
	if c.Commits == 0 {
		return 0
	}
	return c.CPU / time.Duration(c.Commits)
}

// Cores is how many cores the process kept busy during the load, on
// average; WaitingCores how many more its threads were ready to use but
// waited for.
func (c Cost) Cores() float64 { return c.CPU.Seconds() / c.Elapsed.Seconds() }

// WaitingCores is RunQueueWait per second of the load.
func (c Cost) WaitingCores() float64 { return c.RunQueueWait.Seconds() / c.Elapsed.Seconds() }

// MBPerSecond is the payload committed per second, in MB (10^6 bytes), for
// messages of size bytes.
func (c Cost) MBPerSecond(size int) float64 {
	return c.PerSecond() * float64(size) / 1e6
}

// rssEvery is how often LoadCost samples the resident set.
const rssEvery = 50 * time.Millisecond

// LoadCost runs LoadFor(d) and measures, besides, the process's CPU time
// and peak resident set during it.
func (c *Cluster) LoadCost(ctx context.Context, d time.Duration) (Cost, error) {
	// Earlier clusters' memory, freed but still held by the runtime, would
	// otherwise count as this load's.
	debug.FreeOSMemory()
	_, _, stop := watchMemory(rssEvery)
	before, waitBefore := cpuTime(), runQueueWait()
	r, err := c.LoadFor(ctx, d)
	cpu, wait := cpuTime()-before, runQueueWait()-waitBefore
	_, peak := stop()
	return Cost{Result: r, CPU: cpu, RunQueueWait: wait, PeakRSS: peak}, err
}

// SeqWrite measures the disk's sequential write bandwidth in dir, in
// bytes per second: total bytes in writes of block bytes to a new file,
// then one fdatasync, timed together, the file removed after. The sync
// counts, so that the figure is what reaches the disk and not the page
// cache's speed.
func SeqWrite(dir string, total int64, block int) (float64, error) {
	f, err := os.CreateTemp(dir, "seqwrite-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	buf := make([]byte, block)
	for i := range buf {
		buf[i] = byte(i*7 + i/251) // not zeros, which some file systems skip
	}
	start := time.Now()
	for left := total; left > 0; {
		k := min(left, int64(block))
		if _, err := f.Write(buf[:k]); err != nil {
			return 0, errors.Join(err, f.Close())
		}
		left -= k
	}
	if err := fdatasync(f); err != nil {
		return 0, errors.Join(err, f.Close())
	}
	took := time.Since(start)
	if err := f.Close(); err != nil {
		return 0, err
	}
	return float64(total) / took.Seconds(), nil
}
