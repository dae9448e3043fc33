//go:build !unix

package bench

import "time"

// cpuTime is 0 where Getrusage is missing: CPU per commit reads 0.
func cpuTime() time.Duration { return 0 }
