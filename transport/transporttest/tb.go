package transporttest

import (
	"testing"
)

// tb is what the suite needs of a test: a subset of *testing.T, with Run
// taking a tb. Run hands the suite a *testing.T wrapped in realT; the
// suite's own tests hand it a recorder instead, to show that each subtest
// fails on the bug it exists for without failing the test that shows it.
type tb interface {
	Helper()
	Error(args ...any)
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	FailNow()
	Logf(format string, args ...any)
	Skipf(format string, args ...any)
	Cleanup(func())
	Run(name string, f func(tb)) bool
	// testingT is the *testing.T that MakeNet receives.
	testingT() *testing.T
}

// realT is a *testing.T seen as a tb.
type realT struct{ *testing.T }

// Run runs f as a subtest of t.
func (t realT) Run(name string, f func(tb)) bool {
	return t.T.Run(name, func(t *testing.T) { f(realT{t}) })
}

func (t realT) testingT() *testing.T { return t.T }
