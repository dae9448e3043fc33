package raftlite

// Internals that external tests check against other packages.
var (
	MaxMessageSize = maxMessageSize
	// SnapshotChunkBytes is how much data the first chunk of a transfer of
	// a snapshot described by meta carries, under maxBatchBytes.
	SnapshotChunkBytes = func(meta *SnapshotMeta, maxBatchBytes int) int {
		return max(maxBatchBytes-snapshotMetaSize(meta), 1)
	}
	EntrySize = (*Entry).size
)
