package persistertest

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
)

// recorder is a tb that notes which subtests fail or skip, and why,
// instead of failing the test that runs the suite.
type recorder struct {
	outer *testing.T // handed to the Harness's openers
	name  string
	res   *results

	mu      sync.Mutex // subtests may report from several goroutines
	failed  bool
	skipped bool
	msgs    []string
}

type results struct {
	mu      sync.Mutex
	failed  map[string][]string // subtest name: its messages
	skipped []string
}

func newRecorder(t *testing.T) *recorder {
	return &recorder{outer: t, res: &results{failed: map[string][]string{}}}
}

func (r *recorder) Helper()         {}
func (r *recorder) std() *testing.T { return r.outer }

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = true
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}

func (r *recorder) FailNow() {
	r.mu.Lock()
	r.failed = true
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Skip(args ...any) {
	r.mu.Lock()
	r.skipped = true
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recorder) Logf(string, ...any) {}

// Run runs f on its own goroutine, as testing does, so that FailNow and
// Skip end only f; a panic counts as a failure.
func (r *recorder) Run(name string, f func(t tb)) bool {
	c := &recorder{outer: r.outer, name: name, res: r.res}
	if r.name != "" {
		c.name = r.name + "/" + name
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if p := recover(); p != nil {
				c.Errorf("panic: %v", p)
			}
		}()
		f(c)
	}()
	<-done
	c.mu.Lock()
	defer c.mu.Unlock()
	r.res.mu.Lock()
	defer r.res.mu.Unlock()
	if c.failed {
		r.res.failed[c.name] = append(r.res.failed[c.name], c.msgs...)
		r.Errorf("subtest %s failed", c.name) // as testing fails the parent
	}
	if c.skipped && !c.failed {
		r.res.skipped = append(r.res.skipped, c.name)
	}
	return !c.failed
}

// failedLeaves returns the names of the failed subtests that have no
// failed subtest of their own, sorted.
func (r *recorder) failedLeaves() []string {
	r.res.mu.Lock()
	defer r.res.mu.Unlock()
	var out []string
	for name := range r.res.failed {
		leaf := true
		for other := range r.res.failed {
			if len(other) > len(name) && other[:len(name)+1] == name+"/" {
				leaf = false
			}
		}
		if leaf {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func (r *recorder) skippedTests() []string {
	r.res.mu.Lock()
	defer r.res.mu.Unlock()
	return slices.Sorted(slices.Values(r.res.skipped))
}

func (r *recorder) messages(name string) []string {
	r.res.mu.Lock()
	defer r.res.mu.Unlock()
	return r.res.failed[name]
}
