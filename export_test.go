package raftlite

// Internals that external tests check against other packages.
var (
	MaxMessageSize = maxMessageSize
	EntrySize      = (*Entry).size
)
