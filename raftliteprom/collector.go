package raftliteprom

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftlite/raftlite"
)

// Collector is a prometheus.Collector of one Node's Status and Metrics,
// read afresh at every scrape.
type Collector struct {
	node *raftlite.Node
	id   string
	now  func() time.Time
}

// NewCollector returns a Collector of node. Its metrics carry the label
// node with node's id, so that the Collectors of several nodes can share a
// registry.
func NewCollector(node *raftlite.Node) *Collector {
	return &Collector{node: node, id: strconv.FormatUint(uint64(node.Status().ID), 10), now: time.Now}
}

// metric describes one metric: its name, help (with its unit) and the
// labels besides node.
type metric struct {
	name, help string
	kind       prometheus.ValueType // GaugeValue or CounterValue; ignored for histograms
	histogram  bool
	labels     []string
	desc       *prometheus.Desc
}

// The metrics, in the order of the README's table.
var (
	mRole      = gauge("raftlite_role", "1 for the node's current role (follower, pre-candidate, candidate, leader), 0 for the others.", "role")
	mTerm      = gauge("raftlite_term", "The node's current term.")
	mLeader    = gauge("raftlite_leader", "The id of the leader this node knows of, 0 if none.")
	mCommit    = gauge("raftlite_commit_index", "The last log index this node knows to be committed.")
	mLast      = gauge("raftlite_last_index", "The last index in this node's log.")
	mDelivered = gauge("raftlite_delivered_index", "The index of the last message handed to the application (Deliveries).")
	mSnapshot  = gauge("raftlite_snapshot_index", "The index of the latest durable snapshot, 0 if none.")
	mHeld      = gauge("raftlite_held_entries", "Log entries held in memory.")
	mPending   = gauge("raftlite_pending_broadcasts", "Broadcasts accepted by this node and not yet committed.")
	mDropped   = counter("raftlite_dropped_messages_total", "Inbound messages the node refused: malformed, misaddressed, or from a non-member.")

	mMatch   = gauge("raftlite_follower_match_index", "On the leader: the last index each follower is known to hold.", "peer")
	mLag     = gauge("raftlite_follower_lag_entries", "On the leader: entries each follower lacks (last index minus its match index).", "peer")
	mProbing = gauge("raftlite_follower_probing", "On the leader: 1 while it does not know where a follower's log ends.", "peer")
	mContact = gauge("raftlite_follower_last_contact_seconds", "On the leader: seconds since each follower was last heard from.", "peer")
	mWrong   = gauge("raftlite_follower_wrong_disk", "On the leader: 1 while a follower answers from another disk than the one its membership records (wiped or replaced): it neither votes nor counts until re-added as a voter.", "peer")

	mPreVotes      = counter("raftlite_pre_votes_total", "Pre-vote rounds this node started (no word from a leader for an election timeout).")
	mElections     = counter("raftlite_elections_total", "Elections this node started as a candidate, each raising its term.")
	mElectionsWon  = counter("raftlite_elections_won_total", "Elections this node won.")
	mLeaderChanges = counter("raftlite_leader_changes_total", "Times this node learnt of a new leader, itself included.")
	mStepDowns     = counter("raftlite_step_downs_total", "Times this node stopped leading.")

	mBroadcasts     = counter("raftlite_broadcasts_total", "Broadcasts this node accepted.")
	mCommitLatency  = histogram("raftlite_broadcast_commit_seconds", "Seconds from a broadcast's acceptance by this node to this node learning it committed.")
	mForwards       = counter("raftlite_forwards_total", "Broadcasts forwarded to the leader for the first time.")
	mForwardRetries = counter("raftlite_forward_retries_total", "Broadcasts forwarded again: to a new leader, or after an election timeout without progress.")

	mSaveLatency = histogram("raftlite_save_seconds", "Seconds per save of state and entries to the persister (with the WAL: a write and an fdatasync).")
	mSaveEntries = histogram("raftlite_save_entries", "Entries per save: the group commit's batch size.")
	mSaveBytes   = histogram("raftlite_save_bytes", "Bytes of entries per save.")
	mReadLatency = histogram("raftlite_read_index_seconds", "Seconds per ReadIndex call that returned an index.")

	mSnapshotsTaken     = counter("raftlite_snapshots_taken_total", "Snapshots the application stored (Node.Snapshot).")
	mSnapshotTransfers  = counter("raftlite_snapshot_transfers_total", "Snapshot transfers this node started, as leader, to followers its log no longer reached.")
	mSnapshotsInstalled = counter("raftlite_snapshots_installed_total", "Snapshots received from a leader and installed.")
	mSnapshotsRestored  = counter("raftlite_snapshots_restored_total", "Snapshots handed to the application to restore from (Delivery.Snapshot).")

	mMembershipChanges   = counter("raftlite_membership_changes_total", "Configurations put in effect: configuration entries added to this node's log.")
	mLeadershipTransfers = counter("raftlite_leadership_transfers_total", "Times this node, as leader, told a follower to take over (MsgTimeoutNow).")

	mMessagesSent      = counter("raftlite_messages_sent_total", "Messages the node handed to its transport, by peer and kind.", "peer", "kind")
	mMessagesReceived  = counter("raftlite_messages_received_total", "Messages the transport handed to the node, by peer and kind.", "peer", "kind")
	mEntriesSent       = counter("raftlite_entries_sent_total", "Log entries sent to each follower as leader, retransmissions included.", "peer")
	mEntryBytesSent    = counter("raftlite_entry_bytes_sent_total", "Bytes of log entries sent to each follower as leader.", "peer")
	mSnapshotBytesSent = counter("raftlite_snapshot_bytes_sent_total", "Bytes of snapshots streamed to each follower.", "peer")

	mTrMessagesSent     = counter("raftlite_transport_messages_sent_total", "Messages the transport wrote to each peer's connection.", "transport", "peer")
	mTrMessagesReceived = counter("raftlite_transport_messages_received_total", "Messages the transport read from each peer.", "transport", "peer")
	mTrBytesSent        = counter("raftlite_transport_bytes_sent_total", "Bytes of framing written to each peer, below TLS (0 for mem).", "transport", "peer")
	mTrBytesReceived    = counter("raftlite_transport_bytes_received_total", "Bytes of framing read from each peer, below TLS (0 for mem).", "transport", "peer")
	mTrDrops            = counter("raftlite_transport_drops_total", "Messages and frames the transport dropped, by reason.", "transport", "reason")
	mTrConnects         = counter("raftlite_transport_connects_total", "Outbound connections established, reconnections included.", "transport")
	mTrDialFailures     = counter("raftlite_transport_dial_failures_total", "Outbound connection attempts that failed.", "transport")
	mTrRefused          = counter("raftlite_transport_refused_connections_total", "Inbound connections refused (cluster, version, unknown node, certificate).", "transport")
)

// all lists every metric, for Describe.
var all = []*metric{
	mRole, mTerm, mLeader, mCommit, mLast, mDelivered, mSnapshot, mHeld, mPending, mDropped,
	mMatch, mLag, mProbing, mContact, mWrong,
	mPreVotes, mElections, mElectionsWon, mLeaderChanges, mStepDowns,
	mBroadcasts, mCommitLatency, mForwards, mForwardRetries,
	mSaveLatency, mSaveEntries, mSaveBytes, mReadLatency,
	mSnapshotsTaken, mSnapshotTransfers, mSnapshotsInstalled, mSnapshotsRestored,
	mMembershipChanges, mLeadershipTransfers,
	mMessagesSent, mMessagesReceived, mEntriesSent, mEntryBytesSent, mSnapshotBytesSent,
	mTrMessagesSent, mTrMessagesReceived, mTrBytesSent, mTrBytesReceived, mTrDrops, mTrConnects, mTrDialFailures, mTrRefused,
}

func newMetric(name, help string, kind prometheus.ValueType, histogram bool, labels []string) *metric {
	return &metric{name: name, help: help, kind: kind, histogram: histogram, labels: labels,
		desc: prometheus.NewDesc(name, help, append([]string{"node"}, labels...), nil)}
}

func gauge(name, help string, labels ...string) *metric {
	return newMetric(name, help, prometheus.GaugeValue, false, labels)
}

func counter(name, help string, labels ...string) *metric {
	return newMetric(name, help, prometheus.CounterValue, false, labels)
}

func histogram(name, help string) *metric {
	return newMetric(name, help, prometheus.UntypedValue, true, nil)
}

// Describe sends the descriptions of every metric.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range all {
		ch <- m.desc
	}
}

// Collect reads the node's Status and Metrics and sends them.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st, m := c.node.Status(), c.node.Metrics()
	e := emitter{ch: ch, node: c.id}
	c.collectStatus(&e, st)
	c.collectMetrics(&e, &m)
	c.collectTransport(&e, &m.Transport)
}

func (c *Collector) collectStatus(e *emitter, st raftlite.Status) {
	for _, r := range []raftlite.Role{raftlite.Follower, raftlite.PreCandidate, raftlite.Candidate, raftlite.Leader} {
		e.value(mRole, b2f(st.Role == r), r.String())
	}
	e.value(mTerm, float64(st.Term))
	e.value(mLeader, float64(st.Leader))
	e.value(mCommit, float64(st.CommitIndex))
	e.value(mLast, float64(st.LastIndex))
	e.value(mDelivered, float64(st.Delivered))
	e.value(mSnapshot, float64(st.SnapshotIndex))
	e.value(mHeld, float64(st.HeldEntries))
	e.value(mPending, float64(st.Pending))
	e.value(mDropped, float64(st.Dropped))
	now := c.now()
	for _, f := range st.Followers {
		peer := id(f.ID)
		e.value(mMatch, float64(f.Match), peer)
		e.value(mLag, float64(st.LastIndex-min(f.Match, st.LastIndex)), peer)
		e.value(mProbing, b2f(f.Probing), peer)
		e.value(mWrong, b2f(f.WrongDisk), peer)
		if !f.LastContact.IsZero() {
			e.value(mContact, now.Sub(f.LastContact).Seconds(), peer)
		}
	}
}

func (c *Collector) collectMetrics(e *emitter, m *raftlite.Metrics) {
	for _, v := range []struct {
		m *metric
		v uint64
	}{
		{mPreVotes, m.PreVotes}, {mElections, m.Elections}, {mElectionsWon, m.ElectionsWon},
		{mLeaderChanges, m.LeaderChanges}, {mStepDowns, m.StepDowns},
		{mBroadcasts, m.Broadcasts}, {mForwards, m.Forwards}, {mForwardRetries, m.ForwardRetries},
		{mSnapshotsTaken, m.SnapshotsTaken}, {mSnapshotTransfers, m.SnapshotTransfers},
		{mSnapshotsInstalled, m.SnapshotsInstalled}, {mSnapshotsRestored, m.SnapshotsRestored},
		{mMembershipChanges, m.MembershipChanges}, {mLeadershipTransfers, m.LeadershipTransfers},
	} {
		e.value(v.m, float64(v.v))
	}
	e.histogram(mCommitLatency, m.CommitLatency)
	e.histogram(mSaveLatency, m.SaveLatency)
	e.histogram(mSaveEntries, m.SaveEntries)
	e.histogram(mSaveBytes, m.SaveBytes)
	e.histogram(mReadLatency, m.ReadLatency)
	for _, p := range m.Peers {
		peer := id(p.ID)
		for kind, n := range p.MessagesSent {
			e.value(mMessagesSent, float64(n), peer, kind)
		}
		for kind, n := range p.MessagesReceived {
			e.value(mMessagesReceived, float64(n), peer, kind)
		}
		e.value(mEntriesSent, float64(p.EntriesSent), peer)
		e.value(mEntryBytesSent, float64(p.EntryBytesSent), peer)
		e.value(mSnapshotBytesSent, float64(p.SnapshotBytesSent), peer)
	}
}

func (c *Collector) collectTransport(e *emitter, t *raftlite.TransportMetrics) {
	if t.Name == "" {
		return // the transport does not report
	}
	for _, p := range t.Peers {
		peer := id(p.ID)
		e.value(mTrMessagesSent, float64(p.MessagesSent), t.Name, peer)
		e.value(mTrMessagesReceived, float64(p.MessagesReceived), t.Name, peer)
		e.value(mTrBytesSent, float64(p.BytesSent), t.Name, peer)
		e.value(mTrBytesReceived, float64(p.BytesReceived), t.Name, peer)
	}
	for reason, n := range t.Drops {
		e.value(mTrDrops, float64(n), t.Name, reason)
	}
	e.value(mTrConnects, float64(t.Connects), t.Name)
	e.value(mTrDialFailures, float64(t.DialFailures), t.Name)
	e.value(mTrRefused, float64(t.RefusedConnections), t.Name)
}

// emitter sends metrics of one node.
type emitter struct {
	ch   chan<- prometheus.Metric
	node string
}

func (e *emitter) value(m *metric, v float64, labels ...string) {
	e.ch <- prometheus.MustNewConstMetric(m.desc, m.kind, v, append([]string{e.node}, labels...)...)
}

// histogram sends h with Prometheus's cumulative buckets.
func (e *emitter) histogram(m *metric, h raftlite.Histogram) {
	buckets := make(map[float64]uint64, len(h.Bounds))
	var cum uint64
	for i, bound := range h.Bounds {
		cum += h.Counts[i]
		buckets[bound] = cum
	}
	e.ch <- prometheus.MustNewConstHistogram(m.desc, h.Count, h.Sum, buckets, e.node)
}

func id(n raftlite.NodeID) string { return strconv.FormatUint(uint64(n), 10) }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
