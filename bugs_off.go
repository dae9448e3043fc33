//go:build !raftlite_bugs

package raftlite

// bugsCompiled is false in normal builds, so that every injected-bug check
// is compiled out.
const bugsCompiled = false
