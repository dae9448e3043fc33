package wire

import (
	"sync"

	"github.com/raftlite/raftlite"
)

// A Message is encoded as the msgpack map that its struct tags describe,
// with the same omitempty rules, so that msgpack.Unmarshal reads what
// AppendMessage writes and DecodeMessage reads what msgpack.Marshal writes.
// Keys this version does not know are skipped; the handshake's version
// number is what guards incompatible changes.

// AppendMessage appends the msgpack encoding of m to b.
func AppendMessage(b []byte, m *raftlite.Message) []byte {
	n := 4
	for _, set := range [...]bool{
		m.LastIndex != 0, m.LastTerm != 0, m.PrevIndex != 0, m.PrevTerm != 0,
		m.Commit != 0, len(m.Entries) != 0, m.Snapshot != nil, m.Offset != 0, len(m.Data) != 0, m.Done,
		m.Checksum != 0, m.ReadSeq != 0, m.Incarnation != 0, m.Transfer, m.Success, m.Match != 0, m.HintTerm != 0,
		m.DiskID != 0,
	} {
		if set {
			n++
		}
	}
	b = appendMapLen(b, n)
	b = appendUint(append(b, 0xa1, 'k'), uint64(m.Kind))
	b = appendUint(append(b, 0xa1, 'f'), uint64(m.From))
	b = appendUint(append(b, 0xa1, 'o'), uint64(m.To))
	b = appendUint(append(b, 0xa1, 't'), m.Term)
	b = appendOptUint(b, "li", m.LastIndex)
	b = appendOptUint(b, "lt", m.LastTerm)
	b = appendOptUint(b, "pi", m.PrevIndex)
	b = appendOptUint(b, "pt", m.PrevTerm)
	b = appendOptUint(b, "c", m.Commit)
	if len(m.Entries) != 0 {
		b = appendArrayLen(append(b, 0xa1, 'e'), len(m.Entries))
		for i := range m.Entries {
			b = appendEntry(b, &m.Entries[i])
		}
	}
	if m.Snapshot != nil {
		b = appendSnapshotMeta(appendStr(b, "sm"), m.Snapshot)
	}
	b = appendOptUint(b, "so", m.Offset)
	if len(m.Data) != 0 {
		b = appendBin(appendStr(b, "sd"), m.Data)
	}
	if m.Done {
		b = appendBool(appendStr(b, "sf"), true)
	}
	b = appendOptUint(b, "sc", uint64(m.Checksum))
	b = appendOptUint(b, "r", m.ReadSeq)
	b = appendOptUint(b, "n", m.Incarnation)
	if m.Transfer {
		b = appendBool(append(b, 0xa1, 'x'), true)
	}
	if m.Success {
		b = appendBool(append(b, 0xa1, 's'), true)
	}
	b = appendOptUint(b, "m", m.Match)
	b = appendOptUint(b, "h", m.HintTerm)
	b = appendOptUint(b, "d", m.DiskID)
	return b
}

func appendEntry(b []byte, e *raftlite.Entry) []byte {
	n := 2
	for _, set := range [...]bool{e.Kind != 0, e.Origin != 0, e.Incarnation != 0, e.Seq != 0, len(e.Data) != 0} {
		if set {
			n++
		}
	}
	b = appendMapLen(b, n)
	b = appendUint(append(b, 0xa1, 'i'), e.Index)
	b = appendUint(append(b, 0xa1, 't'), e.Term)
	b = appendOptUint(b, "k", uint64(e.Kind))
	b = appendOptUint(b, "o", uint64(e.Origin))
	b = appendOptUint(b, "n", e.Incarnation)
	b = appendOptUint(b, "q", e.Seq)
	if len(e.Data) != 0 {
		b = appendBin(append(b, 0xa1, 'd'), e.Data)
	}
	return b
}

func appendSnapshotMeta(b []byte, meta *raftlite.SnapshotMeta) []byte {
	n := 2
	if len(meta.Sessions) != 0 {
		n++
	}
	if meta.Membership != nil {
		n++
	}
	b = appendMapLen(b, n)
	b = appendUint(append(b, 0xa1, 'i'), meta.Index)
	b = appendUint(append(b, 0xa1, 't'), meta.Term)
	if len(meta.Sessions) != 0 {
		b = appendArrayLen(append(b, 0xa1, 's'), len(meta.Sessions))
		for _, s := range meta.Sessions {
			b = appendMapLen(b, 3)
			b = appendUint(append(b, 0xa1, 'o'), uint64(s.Origin))
			b = appendUint(append(b, 0xa1, 'n'), s.Incarnation)
			b = appendUint(append(b, 0xa1, 'q'), s.Seq)
		}
	}
	if meta.Membership != nil {
		b = appendMembership(append(b, 0xa1, 'c'), meta.Membership)
	}
	return b
}

// appendMembership appends a Membership as reflective msgpack would: a map
// whose "m" is the members, each a map with its omitempty fields.
func appendMembership(b []byte, m *raftlite.Membership) []byte {
	b = appendMapLen(b, 1)
	b = append(b, 0xa1, 'm')
	if m.Members == nil {
		return append(b, 0xc0)
	}
	b = appendArrayLen(b, len(m.Members))
	for _, x := range m.Members {
		n := 1
		for _, set := range [...]bool{x.Addr != "", x.Learner, x.Promote, x.DiskID != 0} {
			if set {
				n++
			}
		}
		b = appendMapLen(b, n)
		b = appendUint(append(b, 0xa1, 'i'), uint64(x.ID))
		if x.Addr != "" {
			b = appendStr(append(b, 0xa1, 'a'), x.Addr)
		}
		if x.Learner {
			b = appendBool(append(b, 0xa1, 'l'), true)
		}
		if x.Promote {
			b = appendBool(append(b, 0xa1, 'p'), true)
		}
		b = appendOptUint(b, "d", x.DiskID)
	}
	return b
}

func appendOptUint(b []byte, key string, v uint64) []byte {
	if v == 0 {
		return b
	}
	return appendUint(appendStr(b, key), v)
}

var sizePool = sync.Pool{New: func() any { return new([]byte) }}

// Size returns the number of bytes AppendMessage writes for m: the size
// that MaxFrameBytes limits.
func Size(m *raftlite.Message) int {
	p := sizePool.Get().(*[]byte)
	*p = AppendMessage((*p)[:0], m)
	n := len(*p)
	if cap(*p) <= maxKeptBuffer {
		sizePool.Put(p)
	}
	return n
}

// DecodeMessage decodes one complete encoded message from b into *m,
// replacing all of *m. Entry data is copied, so b may be reused afterwards.
// Empty Data decodes as nil.
func DecodeMessage(b []byte, m *raftlite.Message) error {
	*m = raftlite.Message{}
	d := decoder{b: b}
	n, err := d.mapLen()
	if err != nil {
		return err
	}
	for range n {
		key, err := d.raw()
		if err != nil {
			return err
		}
		switch string(key) {
		case "k":
			var k uint8
			k, err = d.uint8()
			m.Kind = raftlite.MessageKind(k)
		case "f":
			var v uint64
			v, err = d.uint()
			m.From = raftlite.NodeID(v)
		case "o":
			var v uint64
			v, err = d.uint()
			m.To = raftlite.NodeID(v)
		case "t":
			m.Term, err = d.uint()
		case "li":
			m.LastIndex, err = d.uint()
		case "lt":
			m.LastTerm, err = d.uint()
		case "pi":
			m.PrevIndex, err = d.uint()
		case "pt":
			m.PrevTerm, err = d.uint()
		case "c":
			m.Commit, err = d.uint()
		case "e":
			m.Entries, err = d.entries()
		case "s":
			m.Success, err = d.bool()
		case "r":
			m.ReadSeq, err = d.uint()
		case "n":
			m.Incarnation, err = d.uint()
		case "x":
			m.Transfer, err = d.bool()
		case "m":
			m.Match, err = d.uint()
		case "h":
			m.HintTerm, err = d.uint()
		case "d":
			m.DiskID, err = d.uint()
		case "sm":
			m.Snapshot, err = d.snapshotMeta()
		case "so":
			m.Offset, err = d.uint()
		case "sd":
			var p []byte
			p, err = d.raw()
			if len(p) != 0 {
				m.Data = append([]byte(nil), p...)
			}
		case "sf":
			m.Done, err = d.bool()
		case "sc":
			var v uint64
			v, err = d.uint()
			if err == nil && v > 1<<32-1 {
				err = malformed("checksum %d does not fit 32 bits", v)
			}
			m.Checksum = uint32(v)
		default:
			err = d.skip(0)
		}
		if err != nil {
			return err
		}
	}
	if len(d.b) != 0 {
		return malformed("%d trailing bytes after message", len(d.b))
	}
	return nil
}

// minEntryBytes is the smallest entry AppendMessage writes (a map with
// keys "i" and "t"). Capacity is reserved at most remaining/minEntryBytes so
// that a frame full of tiny maps cannot make us reserve much more memory
// than it carries; any further entries grow the slice as they decode.
const minEntryBytes = 7

func (d *decoder) entries() ([]raftlite.Entry, error) {
	n, err := d.arrayLen()
	if err != nil || n == 0 {
		return nil, err
	}
	es := make([]raftlite.Entry, 0, min(n, len(d.b)/minEntryBytes+1))
	for range n {
		var e raftlite.Entry
		if err := d.entry(&e); err != nil {
			return nil, err
		}
		es = append(es, e)
	}
	return es, nil
}

func (d *decoder) entry(e *raftlite.Entry) error {
	n, err := d.mapLen()
	if err != nil {
		return err
	}
	for range n {
		key, err := d.raw()
		if err != nil {
			return err
		}
		switch string(key) {
		case "i":
			e.Index, err = d.uint()
		case "t":
			e.Term, err = d.uint()
		case "k":
			var k uint8
			k, err = d.uint8()
			e.Kind = raftlite.EntryKind(k)
		case "o":
			var v uint64
			v, err = d.uint()
			e.Origin = raftlite.NodeID(v)
		case "n":
			e.Incarnation, err = d.uint()
		case "q":
			e.Seq, err = d.uint()
		case "d":
			var p []byte
			p, err = d.raw()
			if len(p) != 0 {
				e.Data = append([]byte(nil), p...)
			}
		default:
			err = d.skip(0)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// minSessionBytes is the smallest session AppendMessage writes (a map of
// three one-byte keys and fixint values); like minEntryBytes, it bounds
// the capacity reserved for what a frame claims to hold.
const minSessionBytes = 10

func (d *decoder) snapshotMeta() (*raftlite.SnapshotMeta, error) {
	if len(d.b) > 0 && d.b[0] == 0xc0 { // nil, as reflective msgpack writes a nil pointer
		d.b = d.b[1:]
		return nil, nil
	}
	n, err := d.mapLen()
	if err != nil {
		return nil, err
	}
	meta := &raftlite.SnapshotMeta{}
	for range n {
		key, err := d.raw()
		if err != nil {
			return nil, err
		}
		switch string(key) {
		case "i":
			meta.Index, err = d.uint()
		case "t":
			meta.Term, err = d.uint()
		case "s":
			meta.Sessions, err = d.sessions()
		case "c":
			meta.Membership, err = d.membership()
		default:
			err = d.skip(0)
		}
		if err != nil {
			return nil, err
		}
	}
	return meta, nil
}

// minMemberBytes is the least a member takes encoded: a map of one key
// and a fixint.
const minMemberBytes = 4

func (d *decoder) membership() (*raftlite.Membership, error) {
	if len(d.b) > 0 && d.b[0] == 0xc0 {
		d.b = d.b[1:]
		return nil, nil
	}
	n, err := d.mapLen()
	if err != nil {
		return nil, err
	}
	m := &raftlite.Membership{}
	for range n {
		key, err := d.raw()
		if err != nil {
			return nil, err
		}
		if string(key) != "m" {
			if err := d.skip(0); err != nil {
				return nil, err
			}
			continue
		}
		if len(d.b) > 0 && d.b[0] == 0xc0 {
			d.b = d.b[1:]
			continue
		}
		k, err := d.arrayLen()
		if err != nil {
			return nil, err
		}
		m.Members = make([]raftlite.Member, 0, min(k, len(d.b)/minMemberBytes+1))
		for range k {
			x, err := d.member()
			if err != nil {
				return nil, err
			}
			m.Members = append(m.Members, x)
		}
	}
	return m, nil
}

func (d *decoder) member() (raftlite.Member, error) {
	var x raftlite.Member
	n, err := d.mapLen()
	if err != nil {
		return x, err
	}
	for range n {
		key, err := d.raw()
		if err != nil {
			return x, err
		}
		switch string(key) {
		case "i":
			var v uint64
			v, err = d.uint()
			x.ID = raftlite.NodeID(v)
		case "a":
			var s []byte
			s, err = d.raw()
			x.Addr = string(s)
		case "l":
			x.Learner, err = d.bool()
		case "p":
			x.Promote, err = d.bool()
		case "d":
			x.DiskID, err = d.uint()
		default:
			err = d.skip(0)
		}
		if err != nil {
			return x, err
		}
	}
	return x, nil
}

func (d *decoder) sessions() ([]raftlite.BroadcastID, error) {
	if len(d.b) > 0 && d.b[0] == 0xc0 {
		d.b = d.b[1:]
		return nil, nil
	}
	n, err := d.arrayLen()
	if err != nil || n == 0 {
		return nil, err
	}
	out := make([]raftlite.BroadcastID, 0, min(n, len(d.b)/minSessionBytes+1))
	for range n {
		k, err := d.mapLen()
		if err != nil {
			return nil, err
		}
		var s raftlite.BroadcastID
		for range k {
			key, err := d.raw()
			if err != nil {
				return nil, err
			}
			var v uint64
			switch string(key) {
			case "o":
				v, err = d.uint()
				s.Origin = raftlite.NodeID(v)
			case "n":
				s.Incarnation, err = d.uint()
			case "q":
				s.Seq, err = d.uint()
			default:
				err = d.skip(0)
			}
			if err != nil {
				return nil, err
			}
		}
		out = append(out, s)
	}
	return out, nil
}
