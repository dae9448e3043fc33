package raftlite

import (
	"cmp"
	"maps"
	"slices"
	"sync"
	"time"
)

// Metrics is a snapshot of a node's counters and histograms since it
// started: what Status, a view of the moment, cannot tell. Counters only
// grow; a restarted node starts them from zero. Package raftliteprom
// exports them, with Status, to Prometheus; the README's "Operations"
// section names every figure and what to watch.
type Metrics struct {
	// PreVotes counts the pre-vote rounds this node started: it heard
	// from no leader for an election timeout and asked whether it could
	// win (Raft thesis §9.6).
	PreVotes uint64
	// Elections counts the elections it started as a candidate, each
	// raising its term; ElectionsWon those after which it led.
	Elections, ElectionsWon uint64
	// LeaderChanges counts the times it learnt of a leader other than
	// the last one it knew, itself included.
	LeaderChanges uint64
	// StepDowns counts the times it stopped leading: it heard of a later
	// term, or (check-quorum) heard from no quorum for an election timeout.
	StepDowns uint64

	// Broadcasts counts the broadcasts this node accepted (Submit).
	Broadcasts uint64
	// CommitLatency is, for each of this node's broadcasts that
	// committed, the seconds from its acceptance to this node learning
	// that it committed; its Count is the number committed.
	CommitLatency Histogram
	// Forwards counts the broadcasts this node, not leading, forwarded to
	// the leader for the first time; ForwardRetries those it forwarded
	// again, to a new leader or after an election timeout without
	// progress.
	Forwards, ForwardRetries uint64

	// SaveLatency is the seconds each save of state and entries to the
	// Persister took: with the WAL, one write and one fdatasync.
	SaveLatency Histogram
	// SaveEntries and SaveBytes are the entries in each save and their
	// size: the group commit's batches.
	SaveEntries, SaveBytes Histogram

	// ReadLatency is the seconds each ReadIndex call that returned an
	// index waited for it.
	ReadLatency Histogram

	// SnapshotsTaken counts the snapshots the application stored
	// (Node.Snapshot); SnapshotTransfers the transfers of a snapshot this
	// node started, as leader, to followers its log no longer reached;
	// SnapshotsInstalled the snapshots it received from a leader and
	// installed; SnapshotsRestored those it handed to the application
	// (Delivery.Snapshot).
	SnapshotsTaken, SnapshotTransfers, SnapshotsInstalled, SnapshotsRestored uint64

	// MembershipChanges counts the configurations this node put in effect
	// (configuration entries added to its log, committed or not, some
	// later cut), but not those that only record members' disks;
	// LeadershipTransfers the times it, as leader, told a
	// follower to take over (MsgTimeoutNow).
	MembershipChanges, LeadershipTransfers uint64

	// Peers is this node's traffic with each peer, by ID, as the node
	// counts it: messages it handed to the transport, and messages the
	// transport handed to it.
	Peers []PeerMetrics
	// Transport is what the transport counted, if it implements
	// TransportMetricsReporter; zero otherwise.
	Transport TransportMetrics
}

// PeerMetrics is a node's traffic with one peer.
type PeerMetrics struct {
	// ID is the peer's id.
	ID NodeID
	// MessagesSent and MessagesReceived count messages by kind, keyed by
	// MessageKind.String ("LogRequest"); kinds never seen are absent.
	MessagesSent, MessagesReceived map[string]uint64
	// EntriesSent and EntryBytesSent count the log entries sent to the
	// peer as leader, and their size: replication, retransmissions
	// included.
	EntriesSent, EntryBytesSent uint64
	// SnapshotBytesSent counts the bytes of snapshots streamed to it.
	SnapshotBytesSent uint64
}

// Metrics returns a snapshot of the node's metrics. It is safe to call
// from any goroutine, at any time, also after Close; it does not wait for
// the node's loop.
func (n *Node) Metrics() Metrics {
	m := n.metrics.snapshot()
	if r, ok := n.transport.(TransportMetricsReporter); ok {
		m.Transport = r.TransportMetrics()
	}
	return m
}

// nodeMetrics is what Node.Metrics reads: the loop, the saver and callers
// of ReadIndex and Snapshot write it, each under mu, in a few hooks.
type nodeMetrics struct {
	mu    sync.Mutex
	core  coreStats // copied from the core by the loop
	peers map[NodeID]*peerCounts

	broadcasts, snapshotsTaken, snapshotsRestored uint64

	commitLatency, saveLatency, saveEntries, saveBytes, readLatency histogram
}

type peerCounts struct {
	sent, received                     [maxMessageKind + 1]uint64
	entries, entryBytes, snapshotBytes uint64
}

func newNodeMetrics() *nodeMetrics {
	return &nodeMetrics{
		peers:         map[NodeID]*peerCounts{},
		commitLatency: newHistogram(secondsBounds), saveLatency: newHistogram(secondsBounds),
		saveEntries: newHistogram(entriesBounds), saveBytes: newHistogram(bytesBounds),
		readLatency: newHistogram(secondsBounds),
	}
}

func (nm *nodeMetrics) peer(id NodeID) *peerCounts {
	p := nm.peers[id]
	if p == nil {
		p = &peerCounts{}
		nm.peers[id] = p
	}
	return p
}

// sent counts messages the loop hands over (or queues behind a save).
func (nm *nodeMetrics) sent(batches ...[]Message) {
	nm.mu.Lock()
	defer nm.mu.Unlock()
	for _, ms := range batches {
		for i := range ms {
			m := &ms[i]
			p := nm.peer(m.To)
			p.sent[kindIndex(m.Kind)]++
			switch m.Kind {
			case MsgLogRequest:
				p.entries += uint64(len(m.Entries))
				for k := range m.Entries {
					p.entryBytes += uint64(m.Entries[k].size())
				}
			case MsgSnapshot:
				p.snapshotBytes += uint64(len(m.Data))
			}
		}
	}
}

// received counts a message from member from.
func (nm *nodeMetrics) received(from NodeID, kind MessageKind) {
	nm.mu.Lock()
	nm.peer(from).received[kindIndex(kind)]++
	nm.mu.Unlock()
}

func (nm *nodeMetrics) accepted() {
	nm.mu.Lock()
	nm.broadcasts++
	nm.mu.Unlock()
}

func (nm *nodeMetrics) committed(latency time.Duration) {
	nm.mu.Lock()
	nm.commitLatency.observeDuration(latency)
	nm.mu.Unlock()
}

func (nm *nodeMetrics) readDone(latency time.Duration) {
	nm.mu.Lock()
	nm.readLatency.observeDuration(latency)
	nm.mu.Unlock()
}

// saved records a save of entries (possibly none, for state alone).
func (nm *nodeMetrics) saved(took time.Duration, entries []Entry) {
	bytes := 0
	for i := range entries {
		bytes += entries[i].size()
	}
	nm.mu.Lock()
	nm.saveLatency.observeDuration(took)
	nm.saveEntries.observe(float64(len(entries)))
	nm.saveBytes.observe(float64(bytes))
	nm.mu.Unlock()
}

func (nm *nodeMetrics) snapshotTaken() {
	nm.mu.Lock()
	nm.snapshotsTaken++
	nm.mu.Unlock()
}

func (nm *nodeMetrics) snapshotRestored() {
	nm.mu.Lock()
	nm.snapshotsRestored++
	nm.mu.Unlock()
}

// setCore publishes the core's counts, on the loop.
func (nm *nodeMetrics) setCore(s coreStats) {
	nm.mu.Lock()
	nm.core = s
	nm.mu.Unlock()
}

func (nm *nodeMetrics) snapshot() Metrics {
	nm.mu.Lock()
	defer nm.mu.Unlock()
	c := nm.core
	m := Metrics{
		PreVotes: c.preVotes, Elections: c.elections, ElectionsWon: c.electionsWon,
		LeaderChanges: c.leaderChanges, StepDowns: c.stepDowns,
		Broadcasts: nm.broadcasts, CommitLatency: nm.commitLatency.snapshot(),
		Forwards: c.forwards, ForwardRetries: c.forwardRetries,
		SaveLatency: nm.saveLatency.snapshot(), SaveEntries: nm.saveEntries.snapshot(), SaveBytes: nm.saveBytes.snapshot(),
		ReadLatency:    nm.readLatency.snapshot(),
		SnapshotsTaken: nm.snapshotsTaken, SnapshotTransfers: c.snapshotTransfers,
		SnapshotsInstalled: c.snapshotsInstalled, SnapshotsRestored: nm.snapshotsRestored,
		MembershipChanges: c.membershipChanges, LeadershipTransfers: c.leadershipTransfers,
	}
	for _, id := range slices.Sorted(maps.Keys(nm.peers)) {
		p := nm.peers[id]
		m.Peers = append(m.Peers, PeerMetrics{ID: id, MessagesSent: byKind(&p.sent), MessagesReceived: byKind(&p.received),
			EntriesSent: p.entries, EntryBytesSent: p.entryBytes, SnapshotBytesSent: p.snapshotBytes})
	}
	return m
}

// kindIndex is where kind is counted: kinds this version does not know
// go under 0, named "Unknown".
func kindIndex(kind MessageKind) MessageKind {
	if kind > maxMessageKind {
		return 0
	}
	return kind
}

// byKind names the non-zero counts of counts by message kind.
func byKind(counts *[maxMessageKind + 1]uint64) map[string]uint64 {
	m := map[string]uint64{}
	for k, v := range counts {
		if v > 0 {
			m[MessageKind(k).String()] = v
		}
	}
	return m
}

// Peer returns the figures for peer id, and whether there are any.
func (m Metrics) Peer(id NodeID) (PeerMetrics, bool) {
	i, ok := slices.BinarySearchFunc(m.Peers, id, func(p PeerMetrics, id NodeID) int { return cmp.Compare(p.ID, id) })
	if !ok {
		return PeerMetrics{}, false
	}
	return m.Peers[i], true
}
