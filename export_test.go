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

// InjectBugReadWithoutConfirm makes the nodes cfg configures serve reads
// without confirming their leadership (bugReadWithoutConfirm), in builds
// with -tags raftlite_bugs; elsewhere it does nothing.
func InjectBugReadWithoutConfirm(cfg *Config) { cfg.bugs |= bugReadWithoutConfirm }

// BugsCompiled says whether injected bugs take effect in this build.
const BugsCompiled = bugsCompiled

// CloseNow stops n without handing leadership over, as a crash would.
func CloseNow(n *Node) error { return n.closeNow() }
