package raftlite

// NodeID names a member of a cluster. Zero is reserved for "nobody".
type NodeID uint64

// None is the NodeID of nobody: no vote cast, no leader known.
const None NodeID = 0

// MessageKind says which Raft message a Message is.
//
// The set is closed within a protocol version; leadership transfer will add
// kinds here, and transports must pass unknown kinds through so that the
// core can count and drop them.
type MessageKind uint8

const (
	// MsgVoteRequest asks for a vote (candidate -> all). Uses LastIndex, LastTerm.
	MsgVoteRequest MessageKind = iota + 1
	// MsgVoteResponse answers a vote request. Uses Success (granted).
	MsgVoteResponse
	// MsgLogRequest carries entries and the commit index (leader -> follower).
	// Uses PrevIndex, PrevTerm, Commit, Entries.
	MsgLogRequest
	// MsgLogResponse acknowledges a log request. On success Match is the last
	// index known to match the leader; on failure Match and HintTerm say where
	// the leader should retry from.
	MsgLogResponse
	// MsgPropose forwards broadcasts from the node that accepted them to the
	// leader. Uses Entries (Origin, Incarnation, Seq, Data set; Index, Term zero).
	MsgPropose
	// MsgSnapshot carries one chunk of a snapshot (leader -> follower) that
	// the follower's log no longer reaches. Uses LastIndex and LastTerm
	// (the snapshot's Index and Term), Offset, Data and, on the first
	// chunk, Snapshot; the last chunk has Done and Checksum.
	MsgSnapshot
	// MsgSnapshotResponse acknowledges snapshot chunks: Match is the
	// offset the follower expects next, and Success is false when it
	// cannot take the chunk it was sent (the leader then starts over).
	// The installed snapshot itself is acknowledged by a MsgLogResponse.
	MsgSnapshotResponse
	// MsgPreVoteRequest asks whether the sender could win an election
	// (Raft thesis §9.6) without anyone changing term: Term is the term
	// the sender would stand in, one above its own. Uses LastIndex,
	// LastTerm.
	MsgPreVoteRequest
	// MsgPreVoteResponse answers a pre-vote request. Uses Success; a
	// granted pre-vote carries the Term asked about, a refusal the
	// responder's own term and, when only the responder's lease on its
	// leader stood in the way, Match: the heartbeats until it ends.
	MsgPreVoteResponse
	// MsgReadIndex asks the leader to confirm that it still leads and
	// to say its commit index, for a linearizable read (Raft thesis
	// §6.4). ReadSeq and Incarnation name the asker's batch of reads.
	MsgReadIndex
	// MsgReadIndexResponse answers MsgReadIndex: Commit is the read
	// index for the batch ReadSeq of the asker's life Incarnation.
	MsgReadIndexResponse
	// MsgTimeoutNow tells a follower that the leader hands leadership to
	// it: it stands for election at once, without pre-vote, and its vote
	// requests carry Transfer.
	MsgTimeoutNow
	maxMessageKind = MsgTimeoutNow
)

// String returns the kind's name, as in "VoteRequest".
func (k MessageKind) String() string {
	switch k {
	case MsgVoteRequest:
		return "VoteRequest"
	case MsgVoteResponse:
		return "VoteResponse"
	case MsgLogRequest:
		return "LogRequest"
	case MsgLogResponse:
		return "LogResponse"
	case MsgPropose:
		return "Propose"
	case MsgSnapshot:
		return "Snapshot"
	case MsgSnapshotResponse:
		return "SnapshotResponse"
	case MsgPreVoteRequest:
		return "PreVoteRequest"
	case MsgPreVoteResponse:
		return "PreVoteResponse"
	case MsgReadIndex:
		return "ReadIndex"
	case MsgReadIndexResponse:
		return "ReadIndexResponse"
	case MsgTimeoutNow:
		return "TimeoutNow"
	}
	return "Unknown"
}

// Message is the one unit of exchange between nodes. It is exported for
// transport authors: applications never see one. Transports move it from
// Node to Node unchanged; the fields used depend on Kind. The msgpack tags
// are the wire names and are part of the protocol.
type Message struct {
	Kind MessageKind `msgpack:"k"` // which message this is
	From NodeID      `msgpack:"f"` // the sender
	To   NodeID      `msgpack:"o"` // the receiver
	Term uint64      `msgpack:"t"` // the sender's current term

	// MsgVoteRequest: the candidate's last log position, and whether it
	// stands because the leader handed leadership to it (MsgTimeoutNow),
	// so that followers that still hear from that leader vote anyway.
	LastIndex uint64 `msgpack:"li,omitempty"`
	LastTerm  uint64 `msgpack:"lt,omitempty"`
	Transfer  bool   `msgpack:"x,omitempty"`

	// MsgLogRequest: the position just before Entries, and the leader's commit index.
	PrevIndex uint64  `msgpack:"pi,omitempty"`
	PrevTerm  uint64  `msgpack:"pt,omitempty"`
	Commit    uint64  `msgpack:"c,omitempty"`
	Entries   []Entry `msgpack:"e,omitempty"`

	// MsgSnapshot: a chunk of data at Offset in the snapshot, its
	// description on the first chunk, and on the last (Done) the CRC-32C
	// of the whole snapshot.
	Snapshot *SnapshotMeta `msgpack:"sm,omitempty"`
	Offset   uint64        `msgpack:"so,omitempty"`
	Data     []byte        `msgpack:"sd,omitempty"`
	Done     bool          `msgpack:"sf,omitempty"`
	Checksum uint32        `msgpack:"sc,omitempty"`

	// MsgLogRequest and MsgLogResponse: the leader's latest round of
	// leadership confirmation, echoed by the follower (ReadIndex); and
	// MsgReadIndex and its response: the asker's batch of reads.
	ReadSeq uint64 `msgpack:"r,omitempty"`
	// MsgReadIndex and its response: the asker's incarnation, which with
	// ReadSeq names its batch across restarts.
	Incarnation uint64 `msgpack:"n,omitempty"`

	// Responses.
	Success  bool   `msgpack:"s,omitempty"`
	Match    uint64 `msgpack:"m,omitempty"`
	HintTerm uint64 `msgpack:"h,omitempty"`

	// DiskID is the sender's HardState.DiskID, on every message, so that
	// a voter whose storage was wiped is known by its votes and answers
	// (Member.DiskID).
	DiskID uint64 `msgpack:"d,omitempty"`
}

// EntryKind says what a log entry holds.
type EntryKind uint8

const (
	// EntryData is a broadcast message from an application.
	EntryData EntryKind = iota
	// EntryNoop is appended by a new leader so that entries of earlier terms
	// commit promptly (Raft §5.4.2, §8). It is never delivered.
	EntryNoop
	// EntryConfig changes the cluster's membership: Data is the new
	// Membership, as MarshalBinary encodes it. It is never delivered.
	EntryConfig
)

// Entry is one position of the replicated log. It is exported for
// transport and persister authors; applications see Delivery instead.
//
// Origin, Incarnation and Seq identify the broadcast: the node that accepted
// it, that node's incarnation (bumped durably on every start) and a sequence
// number counting from 1 within the incarnation. The leader appends a
// broadcast only if it is the next one from its origin, which makes retries
// across leader changes idempotent.
type Entry struct {
	Index       uint64    `msgpack:"i"`           // position in the log, from 1
	Term        uint64    `msgpack:"t"`           // term of the leader that appended it
	Kind        EntryKind `msgpack:"k,omitempty"` // what it holds
	Origin      NodeID    `msgpack:"o,omitempty"` // EntryData: the node that accepted it
	Incarnation uint64    `msgpack:"n,omitempty"` // EntryData: the origin's life
	Seq         uint64    `msgpack:"q,omitempty"` // EntryData: its place in that life, from 1
	Data        []byte    `msgpack:"d,omitempty"` // EntryData: the message
}

// entryOverhead is the most an entry's fields other than Data take in the
// msgpack encoding (a map of seven keys, 64-bit values and a bin32 length,
// 67 bytes), rounded up: size() bounds an entry on the wire, and byte
// limits also bound runs of tiny entries.
const entryOverhead = 72

// messageOverhead bounds what a Message's fields other than its entries
// take in the msgpack encoding (170 bytes today, every field at its
// largest), with room for a few more.
const messageOverhead = 192

func (e *Entry) size() int { return entryOverhead + len(e.Data) }

// maxMessageSize bounds the encoding of any message a node sends under
// these limits: a batch holds up to maxBatchBytes of entry sizes, or one
// entry of any size up to maxEntryBytes.
func maxMessageSize(maxEntryBytes, maxBatchBytes int) int {
	return messageOverhead + max(maxBatchBytes, maxEntryBytes+entryOverhead)
}
