package persistertest

import "testing"

// tb is the part of *testing.T the subtests use. Run gives them a
// *testing.T; the suite's own tests give them a recorder, which notes
// which subtests fail against a broken persister without failing itself.
type tb interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	FailNow()
	Skip(args ...any)
	Logf(format string, args ...any)
	// Run runs f as the subtest name and reports whether it passed.
	Run(name string, f func(t tb)) bool
	// std is the *testing.T handed to the Harness's openers.
	std() *testing.T
}

// stdT is a *testing.T seen as a tb.
type stdT struct{ *testing.T }

func (t stdT) Run(name string, f func(t tb)) bool {
	return t.T.Run(name, func(t *testing.T) { f(stdT{t}) })
}

func (t stdT) std() *testing.T { return t.T }
