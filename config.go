package raftlite

import (
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"slices"
	"time"
)

// Config configures a Node. ID, Peers, Transport and Persister are required;
// every other field has a default that works on a LAN.
type Config struct {
	// ID is this node's id; it must be a key of Peers.
	ID NodeID
	// Peers maps every voting member, this node included, to its address.
	// It is the cluster's first membership; a node whose log or snapshot
	// holds a later one follows that (see Node.ChangeMembership). With
	// Join, it only gives the transport addresses.
	Peers map[NodeID]string
	// Join starts a node that is not yet a member: it neither stands nor
	// votes until a leader adds it (ChangeMembership), and learns the
	// membership from that leader's log.
	Join bool
	// Transport carries messages between nodes. New takes ownership of
	// it: the Node starts and closes it.
	Transport Transport
	// Persister stores the term, vote and log. New takes ownership of it:
	// the Node closes it.
	Persister Persister

	// ElectionTimeout is the shortest time a follower waits to hear from a
	// leader before it stands for election; each wait is drawn at random
	// from [ElectionTimeout, 2*ElectionTimeout). Default 500ms.
	ElectionTimeout time.Duration
	// HeartbeatInterval is how often a leader contacts idle followers; it
	// must be at most half of ElectionTimeout. Default ElectionTimeout/10.
	HeartbeatInterval time.Duration

	// DisablePreVote turns pre-vote off. With it on (the default) a node
	// whose election timer fires first asks the others whether it could
	// win, and raises its term only if a quorum says yes; they say no
	// while they hear from a leader, or if its log is behind theirs. A
	// node cut off by a partition thus never returns with a higher term
	// that deposes a healthy leader (Raft thesis §9.6).
	DisablePreVote bool
	// DisableCheckQuorum turns check-quorum off. With it on (the default)
	// a leader that has not heard from a quorum for an election timeout
	// steps down, and its broadcasts wait for (and go to) the next
	// leader; a node that heard from its leader less than an election
	// timeout ago ignores requests for votes.
	DisableCheckQuorum bool
	// LeaseReads lets a leader serve ReadIndex without a round of
	// heartbeats while its lease holds: for a while after a quorum
	// answered it, none of them will vote for another leader (check-
	// quorum), so no other leader can exist. The lease lasts 90% of
	// ElectionTimeout less a HeartbeatInterval, counted from when the
	// confirming heartbeats were sent. That is safe only if no node's
	// clock runs more than 10% fast or slow against another's, and no
	// node restarts and votes within the lease; the node drops the lease
	// when its own loop stalls for more than a heartbeat. Off by default;
	// refused when DisableCheckQuorum is set.
	LeaseReads bool

	// Applied is the index of the last message the application has already
	// durably processed; a restarted node delivers only what follows it.
	Applied uint64

	// MaxEntryBytes bounds one broadcast message. Default 1 MiB.
	MaxEntryBytes int
	// MaxBatchBytes bounds the entries in one message between nodes (a batch
	// always holds at least one entry). Default 1 MiB.
	MaxBatchBytes int
	// MaxInflightBytes bounds the entries sent to one follower and not yet
	// acknowledged, and the broadcasts a follower forwards to its leader
	// before it sees them commit. Default 8 MiB, or 4*MaxBatchBytes if
	// that is more.
	MaxInflightBytes int
	// MaxPendingBroadcasts bounds the broadcasts accepted by this node and
	// not yet committed; Broadcast waits while it is reached. Default 4096.
	MaxPendingBroadcasts int
	// DeliveryBuffer is the capacity of the Deliveries channel. Default 1024.
	DeliveryBuffer int

	// SnapshotEvery is how many entries the log may grow by, after the
	// latest snapshot, before a Delivery asks the application for a new
	// one (Delivery.SnapshotDue). Default 65536; math.MaxUint64 never asks.
	SnapshotEvery uint64
	// TrailingEntries is how many entries before a snapshot's index the
	// log keeps, so that a follower only a little behind is sent entries
	// rather than the whole snapshot. Default 4096.
	TrailingEntries uint64
	// SnapshotBytesPerSecond caps how fast a leader streams a snapshot to
	// a follower, so that a transfer does not take the disk and the CPU
	// from the commits that go on meanwhile (a 100 MB transfer raised
	// commit p99 7x uncapped, about 2x at 32 MiB/s: BenchmarkSnapshotLoad).
	// Default 32 MiB/s; a negative value does not cap it.
	SnapshotBytesPerSecond int64

	// Logger receives the node's logs. Default slog.Default().
	Logger *slog.Logger
	// Trace, when not nil, receives the learning trace: one line per
	// event the algorithm handles, named after its handler in events.go,
	// and one per effect it asks for (a message, a save, a commit, a
	// delivery), with the node's term and role (docs/walkthrough.md reads
	// one). Each line is one Write, so Nodes may share a writer that takes
	// concurrent Writes, as os.Stderr does. Off (nil), it costs a nil
	// check per event; on, a line's formatting and Write on the node's
	// event loop: it is for learning and debugging, not production. When
	// Trace is nil and Logger takes Debug, the same lines go to Logger,
	// at Debug.
	Trace io.Writer
	// RandSeed seeds the election timer's randomness; 0 picks one.
	RandSeed uint64

	// bugs switches on known bugs, in tests built with -tags raftlite_bugs.
	bugs bug
}

// withDefaults returns a copy of c with every unset field given its
// default. Defaults that must agree with another field are derived from
// it, so that validate never blames a field the user did not set.
func (c *Config) withDefaults() Config {
	d := *c
	d.Peers = maps.Clone(c.Peers)
	setDefault(&d.ElectionTimeout, 500*time.Millisecond)
	setDefault(&d.HeartbeatInterval, d.ElectionTimeout/10)
	setDefault(&d.MaxEntryBytes, 1<<20)
	setDefault(&d.MaxBatchBytes, 1<<20)
	inflight := math.MaxInt
	if d.MaxBatchBytes <= math.MaxInt/4 {
		inflight = max(8<<20, 4*d.MaxBatchBytes)
	}
	setDefault(&d.MaxInflightBytes, inflight)
	setDefault(&d.MaxPendingBroadcasts, 4096)
	setDefault(&d.DeliveryBuffer, 1024)
	setDefault(&d.SnapshotEvery, 1<<16)
	setDefault(&d.TrailingEntries, 1<<12)
	setDefault(&d.SnapshotBytesPerSecond, 32<<20)
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	return d
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// validate checks a Config that has its defaults applied. Each error names
// the field at fault and the rule it breaks.
func (c *Config) validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s %s", ErrInvalidConfig, field, fmt.Sprintf(format, args...))
	}
	switch {
	case c.ID == None:
		return bad("ID", "must not be 0")
	case len(c.Peers) == 0:
		return bad("Peers", "must list every voting member, this node included")
	case c.Transport == nil:
		return bad("Transport", "is required")
	case c.Persister == nil:
		return bad("Persister", "is required")
	case c.ElectionTimeout < 0:
		return bad("ElectionTimeout", "must be positive, not %v", c.ElectionTimeout)
	case c.HeartbeatInterval <= 0:
		return bad("HeartbeatInterval", "must be positive, not %v", c.HeartbeatInterval)
	case c.HeartbeatInterval*2 > c.ElectionTimeout:
		return bad("HeartbeatInterval", "(%v) must be at most half of ElectionTimeout (%v)", c.HeartbeatInterval, c.ElectionTimeout)
	}
	for _, f := range []struct {
		name  string
		value int
	}{
		{"MaxEntryBytes", c.MaxEntryBytes}, {"MaxBatchBytes", c.MaxBatchBytes}, {"MaxInflightBytes", c.MaxInflightBytes},
		{"MaxPendingBroadcasts", c.MaxPendingBroadcasts}, {"DeliveryBuffer", c.DeliveryBuffer},
	} {
		if f.value < 0 {
			return bad(f.name, "must not be negative, not %d", f.value)
		}
	}
	if c.LeaseReads && c.DisableCheckQuorum {
		return bad("LeaseReads", "needs check-quorum: followers must refuse votes while a leader's lease holds (unset DisableCheckQuorum)")
	}
	if c.LeaseReads && leaseTicks(c.ElectionTimeout, c.HeartbeatInterval) < 1 {
		return bad("LeaseReads", "needs an ElectionTimeout (%v) of at least three HeartbeatIntervals (%v)", c.ElectionTimeout, c.HeartbeatInterval)
	}
	if c.MaxInflightBytes < c.MaxBatchBytes {
		return bad("MaxInflightBytes", "(%d) must be at least MaxBatchBytes (%d)", c.MaxInflightBytes, c.MaxBatchBytes)
	}
	if _, ok := c.Peers[c.ID]; !ok {
		return bad("Peers", "must include this node's ID %d", c.ID)
	}
	if _, ok := c.Peers[None]; ok {
		return bad("Peers", "must not use node id 0, which means nobody")
	}
	if l, ok := c.Transport.(MessageSizeLimiter); ok {
		if need, limit := maxMessageSize(c.MaxEntryBytes, c.MaxBatchBytes), l.MaxMessageBytes(); need > limit {
			return bad("MaxBatchBytes", "(%d) and MaxEntryBytes (%d) allow messages of up to %d bytes, "+
				"more than the transport carries (%d): lower them or raise the transport's limit",
				c.MaxBatchBytes, c.MaxEntryBytes, need, limit)
		}
	}
	return nil
}

// coreConfig is the part of c that the algorithm needs.
func (c *Config) coreConfig() coreConfig {
	peers := slices.Sorted(maps.Keys(c.Peers))
	cc := coreConfig{
		id: c.ID, peers: peers, bootstrap: membershipFromPeers(c.Peers),
		electionTimeout: c.ElectionTimeout, heartbeatInterval: c.HeartbeatInterval,
		maxEntryBytes: c.MaxEntryBytes, maxBatchBytes: c.MaxBatchBytes, maxInflightBytes: c.MaxInflightBytes,
		trailingEntries: c.TrailingEntries, snapshotBytesPerTick: bytesPerTick(c.SnapshotBytesPerSecond, c.HeartbeatInterval),
		preVote: !c.DisablePreVote, checkQuorum: !c.DisableCheckQuorum,
		bug: c.bugs,
	}
	if c.Join {
		cc.bootstrap = Membership{Members: []Member{}}
	}
	if c.LeaseReads {
		cc.leaseTicks = leaseTicks(c.ElectionTimeout, c.HeartbeatInterval)
	}
	return cc
}

// leaseDrift is how far apart nodes' clock rates may be for lease reads.
const leaseDrift = 0.1

// leaseTicks is how many heartbeats a leader's lease lasts. A follower
// refuses votes for an election timeout after it last heard from the
// leader, counted in its own heartbeats: at least ElectionTimeout less one
// heartbeat, in real time, on a clock that may run leaseDrift fast. The
// leader counts from before it sent the heartbeat the follower heard.
func leaseTicks(election, heartbeat time.Duration) int {
	ticks := int(max(election/heartbeat, 1))
	return int(float64(ticks-1) * (1 - leaseDrift))
}

// bytesPerTick turns a rate into bytes per heartbeat, at least one; 0 for
// no cap (a negative rate).
func bytesPerTick(perSecond int64, heartbeat time.Duration) int {
	if perSecond <= 0 {
		return 0
	}
	return int(max(min(float64(perSecond)*heartbeat.Seconds(), math.MaxInt32), 1))
}
