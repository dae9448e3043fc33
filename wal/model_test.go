package wal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"

	"github.com/raftlite/raftlite"
)

// model is what the log must hold: everything from operations that
// returned.
type model struct {
	hs      raftlite.HardState
	entries []raftlite.Entry // entries[i].Index == i+1; those before start are placeholders
	start   uint64           // the log holds nothing before start (DiscardLog); 0 means 1
	floor   uint64           // entries before floor may have been compacted away
	snap    *snapModel       // the latest snapshot stored, nil if none
}

// snapModel is a snapshot: what OpenSnapshot must return.
type snapModel struct {
	meta raftlite.SnapshotMeta
	data []byte
}

func (m model) clone() model {
	m.entries = slices.Clone(m.entries)
	return m
}

func (m model) last() uint64 { return uint64(len(m.entries)) }

func (m model) first() uint64 { return max(m.start, 1) }

type opKind int

const (
	opSave opKind = iota
	opCompact
	opReopen
	opSnapshot
	opDiscard
	opPrepare // a spare segment, as the goroutine does on the OS's file system
)

type op struct {
	kind    opKind
	hs      *raftlite.HardState
	entries []raftlite.Entry
	compact uint64     // Compact(through)
	snap    *snapModel // the snapshot stored
	discard uint64     // DiscardLog(index)
}

func (o op) String() string {
	switch o.kind {
	case opCompact:
		return fmt.Sprintf("Compact(%d)", o.compact)
	case opReopen:
		return "reopen"
	case opSnapshot:
		return fmt.Sprintf("snapshot at %d of %d bytes", o.snap.meta.Index, len(o.snap.data))
	case opDiscard:
		return fmt.Sprintf("DiscardLog(%d)", o.discard)
	case opPrepare:
		return "prepare a spare"
	}
	s := "Save("
	if o.hs != nil {
		s += fmt.Sprintf("%+v", *o.hs)
	} else {
		s += "nil"
	}
	if len(o.entries) > 0 {
		s += fmt.Sprintf(", [%d..%d]", o.entries[0].Index, o.entries[len(o.entries)-1].Index)
	}
	return s + ")"
}

// apply returns the model after o succeeded.
func (m model) apply(o op) model {
	m = m.clone()
	switch o.kind {
	case opSave:
		if o.hs != nil {
			m.hs = *o.hs
		}
		if len(o.entries) > 0 {
			m.entries = append(m.entries[:o.entries[0].Index-1], o.entries...)
		}
	case opCompact:
		m.floor = max(m.floor, o.compact+1)
	case opSnapshot:
		if m.snap == nil || o.snap.meta.Index > m.snap.meta.Index {
			m.snap = o.snap // the latest is the one with the highest index
		}
	case opDiscard:
		for m.last() < o.discard {
			m.entries = append(m.entries, raftlite.Entry{Index: m.last() + 1}) // a placeholder
		}
		m.entries = m.entries[:o.discard]
		m.start, m.floor = o.discard+1, o.discard+1
	}
	return m
}

// apply performs o on l.
func (o op) apply(l *Log) error {
	switch o.kind {
	case opSave:
		return l.Save(o.hs, o.entries)
	case opCompact:
		return l.Compact(o.compact)
	case opSnapshot:
		return storeSnapshot(l, o.snap)
	case opDiscard:
		return l.DiscardLog(o.discard)
	case opPrepare:
		_, err := l.prepareSpare()
		return err
	}
	return fmt.Errorf("%v cannot be applied to a Log", o)
}

// storeSnapshot stores s through a sink, writing its data in three pieces.
func storeSnapshot(p raftlite.Persister, s *snapModel) error {
	sink, err := p.CreateSnapshot(s.meta)
	if err != nil {
		return err
	}
	n := len(s.data)
	for _, piece := range [][]byte{s.data[:n/3], s.data[n/3 : n/2], s.data[n/2:]} {
		if _, err := sink.Write(piece); err != nil {
			sink.Abort()
			return err
		}
	}
	return sink.Close()
}

// matches checks a loaded state against a model: the same hard state, the
// same last index, and the same entries from wherever the log starts, which
// may be after the model's start only up to the compaction floor.
func matches(m model, hs raftlite.HardState, es []raftlite.Entry) error {
	if hs != m.hs {
		return fmt.Errorf("hard state %+v, want %+v", hs, m.hs)
	}
	first := m.last() + 1
	if len(es) > 0 {
		first = es[0].Index
	}
	if len(es) > 0 && (first < m.first() || first > max(m.floor, m.first())) {
		return fmt.Errorf("log starts at %d, but it starts at %d and only entries before %d may be compacted",
			first, m.first(), m.floor)
	}
	if last := first + uint64(len(es)) - 1; last != m.last() {
		return fmt.Errorf("log ends at %d, want %d", last, m.last())
	}
	for i, e := range es {
		want := m.entries[first-1+uint64(i)]
		if len(want.Data) == 0 {
			want.Data = nil
		}
		if e.Index != want.Index || e.Term != want.Term || e.Kind != want.Kind || e.Origin != want.Origin ||
			e.Incarnation != want.Incarnation || e.Seq != want.Seq || string(e.Data) != string(want.Data) {
			return fmt.Errorf("entry %d is %+v, want %+v", first+uint64(i), e, want)
		}
		if e.Term > hs.Term || (i > 0 && e.Term < es[i-1].Term) {
			return fmt.Errorf("entry %d has term %d: terms must not decrease nor exceed the current term %d", e.Index, e.Term, hs.Term)
		}
	}
	return nil
}

// matchesLog checks everything l holds against m: Load as matches does,
// LoadState's range (which shows the last index of an empty log), and the
// latest snapshot, read to its end.
func matchesLog(m model, l *Log) error {
	hs, es, err := l.Load()
	if err != nil {
		return fmt.Errorf("Load: %w", err)
	}
	if err := matches(m, hs, es); err != nil {
		return err
	}
	_, first, last, err := l.LoadState()
	if err != nil {
		return fmt.Errorf("LoadState: %w", err)
	}
	wantFirst := m.last() + 1
	if len(es) > 0 {
		wantFirst = es[0].Index
	}
	if first != wantFirst || last != m.last() {
		return fmt.Errorf("LoadState says the log holds [%d, %d], Load says [%d, %d]", first, last, wantFirst, m.last())
	}
	return matchesSnapshot(m.snap, l)
}

// matchesSnapshot checks that OpenSnapshot returns s, whole.
func matchesSnapshot(s *snapModel, p raftlite.Persister) error {
	meta, r, err := p.OpenSnapshot()
	if s == nil {
		if !errors.Is(err, raftlite.ErrNoSnapshot) {
			return fmt.Errorf("OpenSnapshot returned %v, want ErrNoSnapshot", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("OpenSnapshot: %w", err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("reading the snapshot: %w", err)
	}
	if !reflect.DeepEqual(meta, s.meta) {
		return fmt.Errorf("snapshot %+v, want %+v", meta, s.meta)
	}
	if !bytes.Equal(data, s.data) {
		return fmt.Errorf("snapshot at %d holds %d bytes, not the %d stored", meta.Index, len(data), len(s.data))
	}
	return nil
}
