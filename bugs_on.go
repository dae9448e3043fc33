//go:build raftlite_bugs

package raftlite

// bugsCompiled is true in test builds made with -tags raftlite_bugs.
const bugsCompiled = true
