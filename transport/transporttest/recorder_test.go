package transporttest

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
)

// Result is how one subtest of the suite ended under RunRecorded.
type Result struct {
	Failed, Skipped bool
	// Log holds what the subtest reported, errors and log lines alike.
	Log []string
}

// RunRecorded runs the suite as Run does, but records how each subtest
// ended instead of failing t, so that the suite's own tests can check
// which subtest catches which broken transport. It is exported to this
// package's external tests only.
func RunRecorded(t *testing.T, makeNet MakeNet, opts Options) map[string]*Result {
	r := &recorder{outer: t, results: map[string]*Result{}}
	run(r, makeNet, opts)
	return r.results
}

// recorder is a tb that keeps what a test reports. Like testing, it runs
// each subtest and each cleanup on a goroutine of its own, so that FailNow
// can end it with runtime.Goexit.
type recorder struct {
	outer   *testing.T
	results map[string]*Result // shared by the recorders of one run

	mu       sync.Mutex
	result   Result
	cleanups []func()
}

func (r *recorder) Run(name string, f func(tb)) bool {
	sub := &recorder{outer: r.outer, results: r.results}
	goexits(func() { f(sub) })
	for i := len(sub.cleanups) - 1; i >= 0; i-- {
		goexits(sub.cleanups[i])
	}
	r.results[name] = &sub.result
	return !sub.result.Failed
}

// goexits runs f on a goroutine of its own and waits for it to return or
// call runtime.Goexit.
func goexits(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	<-done
}

func (r *recorder) record(failed, skipped bool, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.result.Failed = r.result.Failed || failed
	r.result.Skipped = r.result.Skipped || skipped
	r.result.Log = append(r.result.Log, msg)
}

func (r *recorder) Helper()           {}
func (r *recorder) Error(args ...any) { r.record(true, false, fmt.Sprint(args...)) }
func (r *recorder) Errorf(format string, args ...any) {
	r.record(true, false, fmt.Sprintf(format, args...))
}
func (r *recorder) Logf(format string, args ...any) {
	r.record(false, false, fmt.Sprintf(format, args...))
}
func (r *recorder) testingT() *testing.T { return r.outer }

func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}

func (r *recorder) FailNow() {
	r.record(true, false, "FailNow")
	runtime.Goexit()
}

func (r *recorder) Skipf(format string, args ...any) {
	r.record(false, true, fmt.Sprintf(format, args...))
	runtime.Goexit()
}

func (r *recorder) Cleanup(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, f)
}
