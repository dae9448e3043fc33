//go:build !linux

package bench

import "time"

// runQueueWait is 0 where there is no /proc/self/task/*/schedstat.
func runQueueWait() time.Duration { return 0 }
