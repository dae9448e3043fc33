package bench

import (
	"flag"
	"strings"
	"testing"
)

// longRun skips a benchmark that measures one long scenario (minutes, or
// gigabytes of log) unless -bench names it: `go test -bench . ./bench`
// runs the small matrix and the floors in under a minute, as the README
// promises, and each long one runs when asked for by name, for example
// -bench SnapshotLoad.
func longRun(b *testing.B) {
	b.Helper()
	name, _, _ := strings.Cut(b.Name(), "/")
	name = strings.TrimPrefix(name, "Benchmark")
	if f := flag.Lookup("test.bench"); f == nil || !strings.Contains(f.Value.String(), name) {
		b.Skipf("a long run: name it to run it, -bench %s", name)
	}
}
