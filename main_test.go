package raftlite_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any goroutine outlives the tests: every Node,
// transport and client goroutine must be gone when its test ends. scenario
// also checks after each test, so that a leak names its test.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestLeakCheckBites: a goroutine still blocked when checked is reported,
// so the checks above are not vacuous.
func TestLeakCheckBites(t *testing.T) {
	others := goleak.IgnoreCurrent()
	release := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-release
	}()
	err := goleak.Find(others)
	close(release)
	<-done
	if err == nil {
		t.Fatal("a blocked goroutine was not reported as a leak")
	}
	if err := goleak.Find(others); err != nil {
		t.Fatalf("the goroutine ended, yet: %v", err)
	}
}
