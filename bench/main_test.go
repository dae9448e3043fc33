package bench

import (
	"flag"
	"os"
	"testing"
)

// TestMain makes this package's default -benchtime 300ms rather than 1s:
// each setup's figures settle well within it, and `go test -bench .
// ./bench` then runs the whole small matrix in about 40 seconds. An
// explicit -benchtime wins.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.benchtime" })
	if !set {
		_ = flag.Set("test.benchtime", "300ms")
	}
	os.Exit(m.Run())
}
