package bench

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// runQueueWait is how long this process's threads have so far been ready
// to run but waiting for a core (the second field of each thread's
// /proc/self/task/*/schedstat); 0 if the kernel does not say. On a shared
// machine it tells a load that is short of CPU from one that waits for
// the disk or a lock, which CPU time alone cannot. Threads that exited
// take their counts with them; the Go runtime keeps its threads.
func runQueueWait() time.Duration {
	files, _ := filepath.Glob("/proc/self/task/*/schedstat")
	var total time.Duration
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		fields := strings.Fields(string(b))
		if len(fields) < 2 {
			continue
		}
		ns, err := strconv.ParseInt(fields[1], 10, 64)
		if err == nil {
			total += time.Duration(ns)
		}
	}
	return total
}
