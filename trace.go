package raftlite

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
)

// The learning trace: one line per event the core handles, named after its
// handler in events.go, and one indented line per effect the core asks for
// (a change of role, term or leader, a save, a message, a commit, an
// acknowledgement) and per delivery to the application. A line reads
//
//	node 2 term 1 follower      onLogRequest from 1: term 1, after 1 of term 1, entries 2..2, commit 1
//	node 2 term 1 follower        save entry 2 of term 1: "hello" (node 3 #1)
//	node 2 term 1 follower        send LogResponse to 1 once saved: term 1, accepted up to 2
//
// with the node's term and role as the event found it, and as the effect
// left it. The Node (Config.Trace), the simulator of the tests and
// Simulation write it with this same code. Nothing in a line depends on a
// clock or on a map's order, so that a simulator run traces the same bytes
// for the same seed; a simulator puts its virtual time before each line.
//
// Ticks that change nothing (a follower's heartbeat timer, most of the
// time) are left out, and so are election timer resets: every heartbeat
// resets a follower's.

// tracer writes one node's trace. A nil *tracer writes nothing, and its
// methods cost a nil check: the Node calls them whether tracing or not.
type tracer struct {
	w  io.Writer
	id NodeID
	// prefix appends the driver's column before each line (a
	// simulator's virtual time), or is nil.
	prefix func([]byte) []byte
	buf    []byte
	// seen is the node as the trace last showed it, so that changes are
	// told once, after the event that made them.
	seen    traceState
	started bool
	// tickAt: a tick was handed to the core and not shown yet; it is
	// shown if the core changed anything since, as it was then.
	tickAt *traceState
	tick   traceState
}

// traceState is what the trace tells of a node when it changes.
type traceState struct {
	term    uint64
	role    Role
	leader  NodeID
	commit  uint64
	dropped uint64
	effects int // effects the core has queued for the driver
}

// newTracer returns node id's tracer, writing to w, or nil if w is nil.
func newTracer(w io.Writer, id NodeID, prefix func([]byte) []byte) *tracer {
	if w == nil {
		return nil
	}
	return &tracer{w: w, id: id, prefix: prefix}
}

func stateOf(c *core, rd *ready) traceState {
	return traceState{term: c.hs.Term, role: c.role, leader: c.leader, commit: c.commit, dropped: c.dropped,
		effects: effectCount(rd)}
}

func effectCount(rd *ready) int {
	n := len(rd.Messages) + len(rd.AfterSync) + len(rd.Entries) + len(rd.Acked) + len(rd.Fetches) +
		len(rd.SnapshotReads) + len(rd.TransfersEnded) + len(rd.SnapshotWrites) + len(rd.Reads)
	if rd.HardState != nil {
		n++
	}
	return n
}

// --- Events: called just before the driver hands the event to the core --

// event traces an event with no arguments, such as "onElectionTimeout".
func (t *tracer) event(c *core, handler string) {
	if t != nil {
		t.eventf(c, "%s", handler)
	}
}

// tickEvent traces onTick, shown only if the tick turns out to change
// something.
func (t *tracer) tickEvent(c *core) {
	if t != nil {
		t.holdTick(c)
	}
}

func (t *tracer) message(c *core, m *Message) {
	if t != nil {
		t.writeMessage(c, m)
	}
}

func (t *tracer) broadcast(c *core, data []byte) {
	if t != nil {
		t.writeBroadcast(c, data)
	}
}

func (t *tracer) readIndex(c *core, id uint64) {
	if t != nil {
		t.eventf(c, "onReadIndex #%d", id)
	}
}

// persisted traces what the save of b made durable: onPersisted and, for
// a received snapshot, onSnapshotStored. Call it before savePipeline.saved,
// which empties b.
func (t *tracer) persisted(c *core, b *saveBatch) {
	if t != nil {
		t.writePersisted(c, b)
	}
}

func (t *tracer) fetched(c *core, to NodeID, ents []Entry) {
	if t != nil {
		t.eventf(c, "onFetched for %d: %s", to, entryRange(ents))
	}
}

func (t *tracer) snapshotRead(c *core, to NodeID, r *snapshotRead, n int, eof, ok bool) {
	if t != nil {
		t.eventf(c, "onSnapshotRead for %d: snapshot %d, %d bytes at %d, last=%v ok=%v", to, r.Index, n, r.Offset, eof, ok)
	}
}

func (t *tracer) snapshotTaken(c *core, meta SnapshotMeta) {
	if t != nil {
		t.eventf(c, "onSnapshotTaken: snapshot %d of term %d", meta.Index, meta.Term)
	}
}

// note traces what the driver did to the node, such as stopping it.
func (t *tracer) note(c *core, what string) {
	if t != nil {
		t.eventf(c, "%s", what)
	}
}

// --- Effects ------------------------------------------------------------

// ready traces what rd, just taken from the core, asks for.
func (t *tracer) ready(c *core, rd *ready) {
	if t != nil {
		t.writeReady(c, rd)
	}
}

// deliver traces the delivery d handed to the application.
func (t *tracer) deliver(c *core, d *Delivery) {
	if t != nil {
		t.writeDelivery(c, d)
	}
}

func (t *tracer) holdTick(c *core) {
	t.settle(c, &c.out)
	t.tick = stateOf(c, &c.out)
	t.tickAt = &t.tick
}

func (t *tracer) writeMessage(c *core, m *Message) {
	t.eventf(c, "%s from %d: %s", handlerOf(m.Kind), m.From, describeMessage(m))
}

func (t *tracer) writeBroadcast(c *core, data []byte) {
	t.eventf(c, "onBroadcast #%d %s", c.nextSeq+1, quote(data))
}

func (t *tracer) writeDelivery(c *core, d *Delivery) {
	t.settle(c, &c.out)
	if d.Snapshot != nil {
		t.effectf(c, "deliver snapshot %d of term %d: the application restores it", d.Index, d.Term)
		return
	}
	t.effectf(c, "deliver %d: %s (node %d #%d)", d.Index, quote(d.Data), d.ID.Origin, d.ID.Seq)
}

func (t *tracer) writePersisted(c *core, b *saveBatch) {
	var what []byte
	add := func(format string, args ...any) {
		if len(what) > 0 {
			what = append(what, "; "...)
		}
		what = fmt.Appendf(what, format, args...)
	}
	if b.stored != nil {
		add("snapshot %d of term %d", b.stored.Index, b.stored.Term)
	}
	if b.hs != nil {
		add("term %d, vote %s", b.hs.Term, nodeOrNone(b.hs.VotedFor))
	}
	if k := len(b.entries); k > 0 {
		add("entries up to %d of term %d", b.entries[k-1].Index, b.entries[k-1].Term)
	}
	if len(what) == 0 {
		what = append(what, "nothing"...)
	}
	if k := len(b.afterSync); k > 0 {
		add("%d held message%s released", k, plural(k))
	}
	t.eventf(c, "onPersisted: %s", what)
}

func (t *tracer) writeReady(c *core, rd *ready) {
	t.settle(c, rd)
	for _, w := range rd.SnapshotWrites {
		switch {
		case w.Begin != nil:
			t.effectf(c, "store snapshot %d of term %d: begin", w.Begin.Index, w.Begin.Term)
		case w.Done:
			t.effectf(c, "store snapshot: done")
		case w.Abort:
			t.effectf(c, "store snapshot: abort")
		default:
			t.effectf(c, "store snapshot: %d bytes", len(w.Data))
		}
	}
	if rd.Discard {
		t.effectf(c, "discard the log: it restarts after %d", rd.DiscardIndex)
	}
	if hs := rd.HardState; hs != nil {
		t.effectf(c, "save term %d, vote %s, commit %d", hs.Term, nodeOrNone(hs.VotedFor), hs.Commit)
	}
	if len(rd.Entries) == 1 {
		e := &rd.Entries[0]
		t.effectf(c, "save entry %d of term %d: %s", e.Index, e.Term, describeEntry(e))
	} else if len(rd.Entries) > 1 {
		t.effectf(c, "save entries %s", entryRange(rd.Entries))
	}
	if rd.Compact > 0 {
		t.effectf(c, "compact the log through %d", rd.Compact)
	}
	for i := range rd.Messages {
		m := &rd.Messages[i]
		t.effectf(c, "send %v to %d: %s", m.Kind, m.To, describeMessage(m))
	}
	for i := range rd.AfterSync {
		m := &rd.AfterSync[i]
		t.effectf(c, "send %v to %d once saved: %s", m.Kind, m.To, describeMessage(m))
	}
	for _, a := range rd.Acked {
		if a.InSnapshot {
			t.effectf(c, "broadcast #%d committed, inside a snapshot: its Broadcast returns", a.Seq)
		} else {
			t.effectf(c, "broadcast #%d committed at %d: its Broadcast returns", a.Seq, a.Index)
		}
	}
	for _, r := range rd.Reads {
		t.effectf(c, "read #%d confirmed: read index %d", r.ID, r.Index)
	}
	for _, f := range rd.Fetches {
		t.effectf(c, "read back entries %d..%d for %d", f.Lo, f.Hi-1, f.To)
	}
	for _, r := range rd.SnapshotReads {
		t.effectf(c, "read snapshot %d at %d for %d", r.Index, r.Offset, r.To)
	}
	for _, to := range rd.TransfersEnded {
		t.effectf(c, "snapshot transfer to %d ends", to)
	}
	t.seen.effects = 0 // taken
}

// settle writes what changed since the last line: a tick that turned out
// to matter, then the node's new role, term, leader and commit index.
// out holds the core's queued effects (c.out, or a ready just taken).
func (t *tracer) settle(c *core, out *ready) {
	now := stateOf(c, out)
	if !t.started {
		// The node as it starts: its first line shows it.
		t.seen, t.started = now, true
	}
	if t.tickAt != nil {
		tick := *t.tickAt
		t.tickAt = nil
		if now != tick {
			t.line(tick, false, "onTick")
		}
	}
	was := t.seen
	t.seen = now
	var b []byte
	add := func(format string, args ...any) {
		if len(b) > 0 {
			b = append(b, ", "...)
		}
		b = fmt.Appendf(b, format, args...)
	}
	switch {
	case now.role != was.role && now.term != was.term:
		add("becomes %v in term %d (was %v in term %d)", now.role, now.term, was.role, was.term)
	case now.role != was.role:
		add("becomes %v (was %v)", now.role, was.role)
	case now.term != was.term:
		add("moves to term %d (was %d)", now.term, was.term)
	}
	if now.leader != was.leader && now.leader != c.cfg.id {
		if now.leader == None {
			add("knows no leader")
		} else {
			add("follows leader %d", now.leader)
		}
	}
	if len(b) > 0 {
		t.effectf(c, "%s", b)
	}
	if now.commit > was.commit {
		t.effectf(c, "commits up to %d (was %d)", now.commit, was.commit)
	}
	if now.dropped > was.dropped {
		t.effectf(c, "drops %d malformed or misaddressed message%s", now.dropped-was.dropped, plural(int(now.dropped-was.dropped)))
	}
}

func (t *tracer) eventf(c *core, format string, args ...any) {
	t.settle(c, &c.out)
	t.line(t.seen, false, format, args...)
}

func (t *tracer) effectf(c *core, format string, args ...any) {
	t.line(stateOf(c, &c.out), true, format, args...)
}

// line writes one line, in one Write: several nodes may share a writer.
func (t *tracer) line(s traceState, effect bool, format string, args ...any) {
	b := t.buf[:0]
	if t.prefix != nil {
		b = t.prefix(b)
	}
	b = fmt.Appendf(b, "node %d term %d %-13v ", t.id, s.term, s.role)
	if effect {
		b = append(b, "  "...)
	}
	b = fmt.Appendf(b, format, args...)
	b = append(b, '\n')
	t.buf = b
	_, _ = t.w.Write(b) // a trace that cannot be written must not stop the node
}

// handlerOf names the handler in events.go (or read.go) that takes a
// message of kind k.
func handlerOf(k MessageKind) string {
	if k == MsgReadIndex {
		return "onReadIndexRequest"
	}
	if k == 0 || k > maxMessageKind {
		return "onMessage(kind " + strconv.Itoa(int(k)) + ")"
	}
	return "on" + k.String()
}

// describeMessage says what the fields of m that its kind uses hold.
func describeMessage(m *Message) string {
	var b []byte
	b = fmt.Appendf(b, "term %d", m.Term)
	switch m.Kind {
	case MsgVoteRequest, MsgPreVoteRequest:
		b = fmt.Appendf(b, ", last entry %d of term %d", m.LastIndex, m.LastTerm)
	case MsgVoteResponse, MsgPreVoteResponse:
		b = append(b, grantedOrRefused(m.Success)...)
	case MsgLogRequest:
		b = fmt.Appendf(b, ", after %d of term %d, ", m.PrevIndex, m.PrevTerm)
		switch len(m.Entries) {
		case 0:
			b = append(b, "no entries"...)
		case 1:
			b = fmt.Appendf(b, "entry %d: %s", m.Entries[0].Index, describeEntry(&m.Entries[0]))
		default:
			b = fmt.Appendf(b, "entries %s", entryRange(m.Entries))
		}
		b = fmt.Appendf(b, ", commit %d", m.Commit)
	case MsgLogResponse:
		if m.Success {
			b = fmt.Appendf(b, ", accepted up to %d", m.Match)
		} else {
			b = fmt.Appendf(b, ", rejected after %d: retry from %d", m.PrevIndex, m.Match)
			if m.HintTerm != 0 {
				b = fmt.Appendf(b, " (conflicting term %d)", m.HintTerm)
			}
		}
	case MsgPropose:
		if len(m.Entries) == 1 {
			b = fmt.Appendf(b, ", broadcast %s", describeEntry(&m.Entries[0]))
		} else if k := len(m.Entries); k > 1 {
			b = fmt.Appendf(b, ", broadcasts #%d..#%d", m.Entries[0].Seq, m.Entries[k-1].Seq)
		}
	case MsgSnapshot:
		b = fmt.Appendf(b, ", snapshot %d of term %d, %d bytes at %d", m.LastIndex, m.LastTerm, len(m.Data), m.Offset)
		if m.Done {
			b = append(b, ", last chunk"...)
		}
	case MsgSnapshotResponse:
		if m.Success {
			b = fmt.Appendf(b, ", next offset %d", m.Match)
		} else {
			b = append(b, ", start over"...)
		}
	case MsgReadIndex:
		b = fmt.Appendf(b, ", read batch %d", m.ReadSeq)
	case MsgReadIndexResponse:
		b = fmt.Appendf(b, ", read batch %d: read index %d", m.ReadSeq, m.Commit)
	}
	if m.ReadSeq != 0 && (m.Kind == MsgLogRequest || m.Kind == MsgLogResponse) {
		b = fmt.Appendf(b, ", read round %d", m.ReadSeq)
	}
	return string(b)
}

func grantedOrRefused(ok bool) string {
	if ok {
		return ", granted"
	}
	return ", refused"
}

// describeEntry says what an entry holds: a no-op, or a broadcast and
// whose it is (origin node and sequence number).
func describeEntry(e *Entry) string {
	switch e.Kind {
	case EntryNoop:
		return "no-op"
	case EntryData:
		return fmt.Sprintf("%s (node %d #%d)", quote(e.Data), e.Origin, e.Seq)
	case EntryConfig:
		if m, ok := decodeConfEntry(e); ok {
			return "configuration " + describeMembership(m)
		}
	}
	return fmt.Sprintf("kind %d", e.Kind)
}

// entryRange names a run of entries by their indices and terms.
func entryRange(ents []Entry) string {
	if len(ents) == 0 {
		return "none"
	}
	first, last := &ents[0], &ents[len(ents)-1]
	if first.Term == last.Term {
		return fmt.Sprintf("%d..%d of term %d", first.Index, last.Index, first.Term)
	}
	return fmt.Sprintf("%d..%d of terms %d..%d", first.Index, last.Index, first.Term, last.Term)
}

// quote quotes a message, cut short if long.
func quote(data []byte) string {
	const most = 40
	if len(data) <= most {
		return strconv.Quote(string(data))
	}
	return strconv.Quote(string(data[:most])) + "+" + strconv.Itoa(len(data)-most) + "B"
}

func nodeOrNone(id NodeID) string {
	if id == None {
		return "none"
	}
	return strconv.FormatUint(uint64(id), 10)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// traceWriter is where a Node's trace goes: Config.Trace, or, when the
// logger takes Debug, that log, a record per line (message by message
// detail for an operator, in the log's own format).
func traceWriter(cfg *Config) io.Writer {
	if cfg.Trace != nil {
		return cfg.Trace
	}
	if cfg.Logger.Enabled(context.Background(), slog.LevelDebug) {
		return debugLines{cfg.Logger.With("node", cfg.ID)}
	}
	return nil
}

// debugLines logs each trace line at Debug.
type debugLines struct{ log *slog.Logger }

func (d debugLines) Write(p []byte) (int, error) {
	d.log.Debug(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// describeMembership names a configuration's voters and learners, and
// whose disks it records.
func describeMembership(m Membership) string {
	var voters, learners, disks []string
	for _, x := range m.Members {
		id := strconv.FormatUint(uint64(x.ID), 10)
		if x.Learner {
			learners = append(learners, id)
		} else {
			voters = append(voters, id)
		}
		if x.DiskID != 0 {
			disks = append(disks, id)
		}
	}
	s := "voters " + strings.Join(voters, " ")
	if len(learners) > 0 {
		s += ", learners " + strings.Join(learners, " ")
	}
	if len(disks) > 0 {
		s += ", disks of " + strings.Join(disks, " ") + " recorded"
	}
	return s
}
