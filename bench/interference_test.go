package bench

import (
	"flag"
	"testing"
	"time"
)

var interferenceSize = flag.Int64("interference.size", 100<<20, "bytes of BenchmarkInterference's large file")

// BenchmarkInterference measures, for each way of writing a snapshot-sized
// file, how much it slows the small appends and fdatasyncs of a WAL on the
// same disk (see MeasureInterferenceOf):
//
//	go test -run '^$' -bench Interference -benchtime 1x -count 5 ./bench
func BenchmarkInterference(b *testing.B) {
	longRun(b)
	ways := []struct {
		name  string
		write LargeWrite
	}{
		{"once", WriteOnce},
		{"sync-1MiB", WriteSyncEvery(1<<20, 0)},
		{"sync-256KiB", WriteSyncEvery(256<<10, 0)},
		// Rate caps leave the disk idle between pieces, for the
		// WAL's syncs to go through.
		{"sync-1MiB-64MiBps", WriteSyncEvery(1<<20, 64<<20)},
		{"sync-256KiB-64MiBps", WriteSyncEvery(256<<10, 64<<20)},
		{"sync-256KiB-128MiBps", WriteSyncEvery(256<<10, 128<<20)},
	}
	ways = append(ways, writeBehindWays...)
	for _, w := range ways {
		b.Run(w.name, func(b *testing.B) {
			ignoreN(b)
			res, err := MeasureInterferenceOf(b.TempDir(), *interferenceSize, 200, w.write)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(res.Alone.Microseconds()), "alone-p99-µs")
			b.ReportMetric(float64(res.During.Microseconds()), "during-p99-µs")
			b.ReportMetric(float64(res.During)/float64(res.Alone), "during/alone")
			b.ReportMetric(float64(res.Write)/float64(time.Millisecond), "write-ms")
			b.ReportMetric(float64(res.DuringSamples), "syncs-during")
		})
	}
}
