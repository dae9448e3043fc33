package raftlite

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// Membership is a cluster's configuration: its members, voters and
// learners. It changes one member at a time, through the log (Raft thesis
// §4.1): a change takes effect on each node as soon as its entry is in that
// node's log, committed or not.
type Membership struct {
	// Members lists every member, by ID.
	Members []Member `msgpack:"m"`
}

// Member is one node of a Membership.
type Member struct {
	// ID is the node's id.
	ID NodeID `msgpack:"i"`
	// Addr is the node's transport address.
	Addr string `msgpack:"a,omitempty"`
	// Learner: the node receives and delivers every message, but neither
	// votes nor counts towards a quorum.
	Learner bool `msgpack:"l,omitempty"`
	// Promote: a learner that the leader makes a voter on its own once it
	// has caught up (how AddVoter adds a node).
	Promote bool `msgpack:"p,omitempty"`
	// DiskID is the identity of the storage the member joined with
	// (HardState.DiskID), recorded by the leader once it hears from it
	// (0 until then). A voter that answers from another disk has lost
	// its votes and its log: it neither votes nor counts towards a
	// quorum until re-added with AddVoter, which records the new one.
	DiskID uint64 `msgpack:"d,omitempty"`
}

// member returns the member with id, if any.
func (m Membership) member(id NodeID) (Member, bool) {
	i, ok := slices.BinarySearchFunc(m.Members, id, byID)
	if !ok {
		return Member{}, false
	}
	return m.Members[i], true
}

// byID orders members by id, for the binary searches of a sorted Members.
func byID(x Member, id NodeID) int { return cmp.Compare(x.ID, id) }

// isVoter says whether id votes.
func (m Membership) isVoter(id NodeID) bool {
	x, ok := m.member(id)
	return ok && !x.Learner
}

// with returns a copy of m with x added or replacing the member of its id.
func (m Membership) with(x Member) Membership {
	out := Membership{Members: slices.Clone(m.Members)}
	i, found := slices.BinarySearchFunc(out.Members, x.ID, byID)
	if found {
		out.Members[i] = x
	} else {
		out.Members = slices.Insert(out.Members, i, x)
	}
	return out
}

// without returns a copy of m without the member id.
func (m Membership) without(id NodeID) Membership {
	return Membership{Members: slices.DeleteFunc(slices.Clone(m.Members), func(x Member) bool { return x.ID == id })}
}

// sameMembers says whether a and b have the same members in the same
// roles, whatever disks they record.
func sameMembers(a, b Membership) bool {
	return slices.EqualFunc(a.Members, b.Members, func(x, y Member) bool {
		x.DiskID, y.DiskID = 0, 0
		return x == y
	})
}

// clone returns a deep copy.
func (m Membership) clone() Membership { return Membership{Members: slices.Clone(m.Members)} }

// membershipFromPeers is the bootstrap configuration: every peer a voter.
func membershipFromPeers(peers map[NodeID]string) Membership {
	var m Membership
	for id, addr := range peers {
		m.Members = append(m.Members, Member{ID: id, Addr: addr})
	}
	slices.SortFunc(m.Members, func(a, b Member) int { return cmp.Compare(a.ID, b.ID) })
	return m
}

// The binary encoding of a Membership, which configuration entries carry
// as their Data: a count, then per member its id, flags, and address.
const (
	memberLearner = 1 << iota
	memberPromote
	memberDiskID // the address is followed by the disk id
)

// maxMembers and maxAddrLen bound what a decoder accepts, so that a
// damaged entry cannot make it allocate on a length it claims.
const (
	maxMembers = 1 << 12
	maxAddrLen = 1 << 10
)

// MarshalBinary encodes m.
func (m Membership) MarshalBinary() ([]byte, error) {
	b := binary.AppendUvarint(nil, uint64(len(m.Members)))
	for _, x := range m.Members {
		var flags byte
		if x.Learner {
			flags |= memberLearner
		}
		if x.Promote {
			flags |= memberPromote
		}
		if x.DiskID != 0 {
			flags |= memberDiskID
		}
		b = binary.AppendUvarint(b, uint64(x.ID))
		b = append(b, flags)
		b = binary.AppendUvarint(b, uint64(len(x.Addr)))
		b = append(b, x.Addr...)
		if x.DiskID != 0 {
			b = binary.AppendUvarint(b, x.DiskID)
		}
	}
	return b, nil
}

var errBadMembership = errors.New("raftlite: malformed membership")

// UnmarshalBinary decodes what MarshalBinary encodes, refusing anything
// else: members out of order, repeated, or beyond the limits.
func (m *Membership) UnmarshalBinary(b []byte) error {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > maxMembers || n > uint64(len(b)) {
		return fmt.Errorf("%w: member count", errBadMembership)
	}
	b = b[k:]
	out := Membership{Members: make([]Member, 0, n)}
	for i := range n {
		id, k := binary.Uvarint(b)
		if k <= 0 || id == 0 || len(b) < k+1 {
			return fmt.Errorf("%w: member %d", errBadMembership, i)
		}
		flags := b[k]
		b = b[k+1:]
		alen, k := binary.Uvarint(b)
		if k <= 0 || alen > maxAddrLen || alen > uint64(len(b)-k) || flags&^(memberLearner|memberPromote|memberDiskID) != 0 {
			return fmt.Errorf("%w: member %d", errBadMembership, i)
		}
		x := Member{ID: NodeID(id), Addr: string(b[k : k+int(alen)]), Learner: flags&memberLearner != 0, Promote: flags&memberPromote != 0}
		b = b[k+int(alen):]
		if flags&memberDiskID != 0 {
			if x.DiskID, k = binary.Uvarint(b); k <= 0 || x.DiskID == 0 {
				return fmt.Errorf("%w: member %d's disk id", errBadMembership, i)
			}
			b = b[k:]
		}
		if len(out.Members) > 0 && out.Members[len(out.Members)-1].ID >= x.ID {
			return fmt.Errorf("%w: members out of order", errBadMembership)
		}
		out.Members = append(out.Members, x)
	}
	if len(b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", errBadMembership, len(b))
	}
	*m = out
	return nil
}

// confAt is the configuration that took effect at index (0: bootstrap).
type confAt struct {
	index uint64
	conf  Membership
}

// decodeConfEntry returns the configuration a configuration entry holds.
func decodeConfEntry(e *Entry) (Membership, bool) {
	var m Membership
	return m, e.Kind == EntryConfig && m.UnmarshalBinary(e.Data) == nil
}

// setConfs makes confs (the base, then one per configuration entry in the
// log, by index) the node's configurations, and the latest one in effect.
func (c *core) setConfs(confs []confAt) {
	c.confs = confs
	c.applyConf()
}

// applyConf puts the latest configuration in effect: who is a member, who
// votes, how many make a quorum, and on a leader whom it replicates to.
func (c *core) applyConf() {
	conf := &c.confs[len(c.confs)-1].conf
	c.members = c.members[:0]
	c.voters = c.voters[:0]
	for _, x := range conf.Members {
		c.members = append(c.members, x.ID)
		if !x.Learner {
			c.voters = append(c.voters, x.ID)
		}
	}
	c.quorum = len(c.voters)/2 + 1
	if c.role != Leader {
		return
	}
	// A lease was confirmed by a quorum of the voters before: drop it, and
	// let rounds sent from now on confirm one under these. Rounds out
	// already may now need fewer answers.
	c.expireLease()
	c.reads.leaseFrom = c.reads.seq + 1
	c.confirmRounds()
	for _, id := range c.members {
		if id != c.cfg.id && c.progress[id] == nil {
			// Not heard from yet: a member just added must not count
			// towards check-quorum before it answers.
			c.progress[id] = &progress{next: c.log.lastIndex() + 1, probing: true, heardTick: c.ticks - c.cfg.ticksPerElection()}
			c.needReplicate = true
		}
	}
	for _, id := range slices.Sorted(maps.Keys(c.progress)) {
		if _, ok := conf.member(id); !ok {
			c.endTransfer(id, c.progress[id])
			delete(c.progress, id)
		}
	}
}

// conf returns the configuration in effect.
func (c *core) conf() *Membership { return &c.confs[len(c.confs)-1].conf }

// confIndex returns the index of the entry that set the configuration in
// effect (0: the bootstrap's, or one older than the log).
func (c *core) confIndex() uint64 { return c.confs[len(c.confs)-1].index }

// confAsOf returns the configuration in effect at index i.
func (c *core) confAsOf(i uint64) Membership { return c.confs[c.confAtIndex(i)].conf }

// confAtIndex returns the position in confs of the configuration in effect
// at index i.
func (c *core) confAtIndex(i uint64) int {
	k := len(c.confs) - 1
	for k > 0 && c.confs[k].index > i {
		k--
	}
	return k
}

// committedConfIndex returns the index of the entry that set the committed
// configuration (0: the bootstrap's, or one older than the log).
func (c *core) committedConfIndex() uint64 { return c.confs[c.confAtIndex(c.commit)].index }

// noteConf takes a configuration entry just added to the log: it takes
// effect at once, committed or not (Raft thesis §4.1).
func (c *core) noteConf(e *Entry) {
	if m, ok := decodeConfEntry(e); ok {
		if !sameMembers(m, *c.conf()) {
			c.stats.membershipChanges++ // not for recording disks
		}
		c.confs = append(c.confs, confAt{index: e.Index, conf: m})
		c.applyConf()
		c.confChanged = true
	}
}

// cutConfs drops the configurations of entries cut from the log after i:
// the one before them is in effect again.
func (c *core) cutConfs(i uint64) {
	k := len(c.confs)
	for k > 1 && c.confs[k-1].index > i {
		k--
	}
	if k < len(c.confs) {
		c.confs = c.confs[:k]
		c.applyConf()
		c.confChanged = true
	}
}

// forgetConfs drops configurations older than the latest one at or before
// through, whose entries were compacted away.
func (c *core) forgetConfs(through uint64) {
	k := 0
	for k+1 < len(c.confs) && c.confs[k+1].index <= through {
		k++
	}
	c.confs = c.confs[k:]
}

// isVoter says whether this node votes in the configuration in effect.
func (c *core) isVoter() bool { return c.conf().isVoter(c.cfg.id) }

// countVoters returns how many of ids vote.
func (c *core) countVoters(ids map[NodeID]bool) int {
	n := 0
	for id := range ids {
		if c.conf().isVoter(id) {
			n++
		}
	}
	return n
}

// --- Changes ---------------------------------------------------------

// changeKind names a change of membership.
type changeKind uint8

const (
	changeAddLearner changeKind = iota + 1
	changeAddVoter              // as a learner that is promoted once it has caught up
	changeRemove
)

// confChange is a change asked of the leader: kind, for member; expect,
// when not zero, is the index the configuration in effect must have been
// set at (compare-and-set); id numbers it for the driver.
type confChange struct {
	id     uint64
	kind   changeKind
	member Member
	expect uint64
}

// confOutcome reports how change id ended: err nil once the committed
// configuration has it.
type confOutcome struct {
	id  uint64
	err error
}

// Errors a membership change may end with.
var (
	// ErrChangeInProgress: the previous change has not committed, or the
	// leader has not yet committed an entry of its own term. Retry.
	ErrChangeInProgress = errors.New("raftlite: a membership change is in progress")
	// ErrMembershipChanged: the configuration is not the one the change
	// expected (Node.ChangeMembership's expect index).
	ErrMembershipChanged = errors.New("raftlite: membership changed meanwhile")
	// ErrChangeLost: the leader lost its leadership before the change
	// committed. It may still take effect; look at Status.Membership.
	ErrChangeLost = errors.New("raftlite: leadership lost before the membership change committed")
)

// changeAllowed says whether the leader may append a configuration entry:
// the previous one has committed, and so has an entry of the leader's own
// term, without which leaders of different terms could each append a
// change and form majorities that do not overlap (Ongaro, raft-dev, 2015).
func (c *core) changeAllowed() bool {
	return c.confIndex() <= c.commit && (c.log.term(c.commit) == c.hs.Term || c.injected(bugChangeBeforeOwnTermCommit))
}

// onChangeMembership takes a change asked of this node.
func (c *core) onChangeMembership(ch confChange) {
	fail := func(err error) { c.out.ConfChanges = append(c.out.ConfChanges, confOutcome{id: ch.id, err: err}) }
	if c.role != Leader {
		fail(ErrNotLeader)
		return
	}
	if ch.expect != 0 && ch.expect != c.confIndex() {
		fail(ErrMembershipChanged)
		return
	}
	if ch.kind == changeAddVoter && c.wrongDisk(ch.member.ID) {
		// Re-adding a voter that came back from a wiped disk: it starts
		// over as a learner on the disk it answers from now.
		ch.member.DiskID = c.disks[ch.member.ID]
	}
	next, ok := c.changed(ch)
	if !ok {
		fail(fmt.Errorf("%w: %d is the leader; transfer leadership first", ErrInvalidConfig, ch.member.ID))
		return
	}
	if slices.Equal(next.Members, c.conf().Members) {
		c.waitingChanges = append(c.waitingChanges, ch) // already so: done once committed
		c.resolveChanges()
		return
	}
	if !c.changeAllowed() {
		fail(ErrChangeInProgress)
		return
	}
	c.waitingChanges = append(c.waitingChanges, ch)
	c.appendConf(next)
}

// changed returns the configuration after ch, or false if ch cannot be
// made: a leader does not demote itself to a learner.
func (c *core) changed(ch confChange) (Membership, bool) {
	cur := *c.conf()
	switch ch.kind {
	case changeRemove:
		next := cur.without(ch.member.ID)
		return next, slices.ContainsFunc(next.Members, func(x Member) bool { return !x.Learner })
	case changeAddLearner:
		if x, ok := cur.member(ch.member.ID); ok {
			if !x.Learner {
				return cur, ch.member.ID != c.cfg.id
			}
			return cur, true
		}
		return cur.with(Member{ID: ch.member.ID, Addr: ch.member.Addr, Learner: true}), true
	default: // changeAddVoter
		x, ok := cur.member(ch.member.ID)
		if ok && (!x.Learner || x.Promote) && (ch.member.DiskID == 0 || x.DiskID == ch.member.DiskID) {
			return cur, true
		}
		return cur.with(Member{ID: ch.member.ID, Addr: cmp.Or(ch.member.Addr, x.Addr), Learner: true, Promote: true, DiskID: ch.member.DiskID}), true
	}
}

// satisfied says whether conf has what ch asked for.
func (ch *confChange) satisfied(conf *Membership) bool {
	x, ok := conf.member(ch.member.ID)
	switch ch.kind {
	case changeRemove:
		return !ok
	case changeAddLearner:
		return ok
	default:
		return ok && !x.Learner && (ch.member.DiskID == 0 || x.DiskID == ch.member.DiskID)
	}
}

// appendConf appends a configuration entry for next.
func (c *core) appendConf(next Membership) {
	data, _ := next.MarshalBinary()
	c.appendAsLeader(Entry{Kind: EntryConfig, Data: data})
}

// resolveChanges ends the waiting changes that the committed configuration
// now has.
func (c *core) resolveChanges() {
	if len(c.waitingChanges) == 0 {
		return
	}
	committed := c.confAsOf(c.commit)
	k := 0
	for _, ch := range c.waitingChanges {
		if ch.satisfied(&committed) {
			c.out.ConfChanges = append(c.out.ConfChanges, confOutcome{id: ch.id})
			continue
		}
		c.waitingChanges[k] = ch
		k++
	}
	c.waitingChanges = c.waitingChanges[:k]
}

// failChanges ends the waiting changes: this node no longer leads.
func (c *core) failChanges() {
	for _, ch := range c.waitingChanges {
		c.out.ConfChanges = append(c.out.ConfChanges, confOutcome{id: ch.id, err: ErrChangeLost})
	}
	c.waitingChanges = nil
}

// promoteCaughtUp makes a learner added as a voter-to-be a voter once its
// log has caught up with the leader's: it never counts towards a quorum
// before it can help one.
func (c *core) promoteCaughtUp(f NodeID, pr *progress) {
	x, ok := c.conf().member(f)
	if !ok || !x.Promote || pr.match < c.log.lastIndex() || !c.changeAllowed() {
		return
	}
	// The disk it caught up on is the one it votes from.
	x.Learner, x.Promote, x.DiskID = false, false, cmp.Or(c.disks[f], x.DiskID)
	c.appendConf(c.conf().with(x))
}

// leaveIfRemoved: a leader whose removal has committed hands leadership
// to the voter furthest along (appending nothing more meanwhile), and
// steps down when that ends, however it ends; it no longer stands.
func (c *core) leaveIfRemoved() {
	if c.role != Leader || c.confAsOf(c.commit).isVoter(c.cfg.id) || c.conf().isVoter(c.cfg.id) ||
		(c.handover != nil && c.handover.leaving) {
		return
	}
	to := c.mostUpToDateFollower()
	if to == None {
		c.becomeFollower(c.hs.Term, None)
		return
	}
	if c.handover != nil {
		c.endLeadershipTransfer(false) // a transfer asked for goes the same way
	}
	c.handover = &transferState{to: to, leaving: true}
	c.tellIfCaughtUp(to)
}

// MembershipChange is one change of membership (Node.ChangeMembership).
type MembershipChange struct {
	// Op is what to do to the member ID.
	Op MembershipOp
	// ID is the member's id; Addr its transport address, for additions.
	ID   NodeID
	Addr string
	// IfIndex, when not zero, makes the change conditional: it is refused
	// with ErrMembershipChanged unless the configuration in effect was set
	// by the entry at IfIndex (Status.MembershipIndex), so that operators
	// acting at once do not overwrite each other.
	IfIndex uint64
}

// MembershipOp names a change of membership.
type MembershipOp uint8

// The changes of membership, one member at a time.
const (
	// AddVoter adds a node that will vote: first as a learner, which the
	// leader makes a voter on its own once its log has caught up, so that
	// it never counts towards a quorum it cannot yet help.
	AddVoter MembershipOp = iota + 1
	// AddLearner adds a node that receives and delivers every message but
	// never votes or counts towards a quorum.
	AddLearner
	// Remove removes a member. A leader that removes itself hands
	// leadership over once the change commits, and steps down.
	Remove
)

// changeCall is one ChangeMembership waiting for the loop.
type changeCall struct {
	change MembershipChange
	reply  chan error // buffered
}

// ChangeMembership makes one change of membership, on the leader, and
// returns once the committed configuration has it: for AddVoter, once the
// node is a voter. It returns ErrNotLeader on a node that does not lead,
// ErrChangeInProgress while the previous change has not committed, or the
// leader has committed nothing in its term yet (retry), ErrChangeLost if
// the leader lost its leadership first, and ErrMembershipChanged if
// IfIndex no longer names the configuration in effect. A change that the
// configuration already has succeeds.
func (n *Node) ChangeMembership(ctx context.Context, ch MembershipChange) error {
	if ch.ID == None || ch.Op < AddVoter || ch.Op > Remove {
		return fmt.Errorf("%w: membership change %+v", ErrInvalidConfig, ch)
	}
	call := changeCall{change: ch, reply: make(chan error, 1)}
	outcome, err := callLoop(ctx, n, n.changeCalls, call, call.reply)
	return cmp.Or(err, outcome)
}

// takeChange hands a ChangeMembership call to the core.
func (n *Node) takeChange(call changeCall) {
	n.lastChange++
	n.changeWaiters[n.lastChange] = call.reply
	kind := map[MembershipOp]changeKind{AddVoter: changeAddVoter, AddLearner: changeAddLearner, Remove: changeRemove}[call.change.Op]
	n.core.onChangeMembership(confChange{id: n.lastChange, kind: kind,
		member: Member{ID: call.change.ID, Addr: call.change.Addr}, expect: call.change.IfIndex})
}

// transportPeers returns what the transport must reach: every member of
// the configuration in effect and of the committed one, at the address the
// configuration gives, and the nodes of Config.Peers (this node, the first
// membership, the addresses a joining node was given) at theirs where the
// configurations give none. A member stays reachable until its removal
// commits, so that a leader that removes itself hears its followers
// acknowledge the entry that removes it, and hands over.
func (n *Node) transportPeers() map[NodeID]string {
	peers := maps.Clone(n.cfg.Peers)
	for _, conf := range []Membership{*n.core.conf(), n.core.confAsOf(n.core.commit)} {
		for _, x := range conf.Members {
			if _, known := peers[x.ID]; x.Addr != "" || !known {
				peers[x.ID] = x.Addr
			}
		}
	}
	return peers
}

// updatePeers tells the transport what it must reach (transportPeers) if
// that may have changed: the configuration in effect changed (confChanged),
// or a newer one committed. Only the Node calls the transport; the core
// only says what changed.
func (n *Node) updatePeers(confChanged bool) {
	committed := n.core.committedConfIndex()
	if n.transportClosed || (!confChanged && committed == n.peersCommitted) {
		return
	}
	n.peersCommitted = committed
	peers := n.transportPeers()
	if maps.Equal(peers, n.peers) {
		return
	}
	n.peers = peers
	if u, ok := n.transport.(PeerUpdater); ok {
		u.SetPeers(maps.Clone(peers))
	} else if !n.peersWarned {
		n.peersWarned = true
		n.log.Warn("the transport cannot learn of members added or removed (it does not implement raftlite.PeerUpdater): "+
			"it reaches only the nodes it was started with, unless it finds nodes by id", "peers", peers)
	}
}

// endChanges replies to the calls whose changes ended.
func (n *Node) endChanges(outcomes []confOutcome) {
	for _, o := range outcomes {
		if reply, ok := n.changeWaiters[o.id]; ok {
			reply <- o.err
			delete(n.changeWaiters, o.id)
		}
	}
}
