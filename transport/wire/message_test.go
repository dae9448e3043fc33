package wire

import (
	"bytes"
	"errors"
	"io"
	"math/rand"
	"reflect"
	"slices"
	"testing"
	"testing/quick"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/raftlite/raftlite"
)

// normalize makes nil and empty slices equal, which the encoding does not
// distinguish (omitempty drops both).
func normalize(m raftlite.Message) raftlite.Message {
	if len(m.Data) == 0 {
		m.Data = nil
	}
	if m.Snapshot != nil && len(m.Snapshot.Sessions) == 0 {
		meta := *m.Snapshot
		meta.Sessions = nil
		m.Snapshot = &meta
	}
	if len(m.Entries) == 0 {
		m.Entries = nil
		return m
	}
	es := make([]raftlite.Entry, len(m.Entries))
	for i, e := range m.Entries {
		if len(e.Data) == 0 {
			e.Data = nil
		}
		es[i] = e
	}
	m.Entries = es
	return m
}

var quickConfig = &quick.Config{MaxCount: 300, Rand: rand.New(rand.NewSource(1))}

func TestMessageRoundTripsEveryField(t *testing.T) {
	roundTrip := func(m raftlite.Message) bool {
		var got raftlite.Message
		if err := DecodeMessage(AppendMessage(nil, &m), &got); err != nil {
			t.Logf("decode: %v", err)
			return false
		}
		return reflect.DeepEqual(normalize(m), got)
	}
	require.NoError(t, quick.Check(roundTrip, quickConfig))
}

func TestMessageIsCompatibleWithReflectiveMsgpack(t *testing.T) {
	ours := func(m raftlite.Message) bool {
		var got raftlite.Message
		if err := msgpack.Unmarshal(AppendMessage(nil, &m), &got); err != nil {
			t.Logf("msgpack.Unmarshal: %v", err)
			return false
		}
		return reflect.DeepEqual(normalize(m), normalize(got))
	}
	require.NoError(t, quick.Check(ours, quickConfig))

	theirs := func(m raftlite.Message) bool {
		b, err := msgpack.Marshal(&m)
		if err != nil {
			return false
		}
		var got raftlite.Message
		if err := DecodeMessage(b, &got); err != nil {
			t.Logf("DecodeMessage: %v", err)
			return false
		}
		return reflect.DeepEqual(normalize(m), got)
	}
	require.NoError(t, quick.Check(theirs, quickConfig))
}

func TestMessageEdgeCases(t *testing.T) {
	cases := map[string]raftlite.Message{
		"zero":          {},
		"nil data":      {Entries: []raftlite.Entry{{Index: 1, Data: nil}}},
		"empty data":    {Entries: []raftlite.Entry{{Index: 1, Data: []byte{}}}},
		"empty entries": {Kind: raftlite.MsgLogRequest, Entries: []raftlite.Entry{}},
		"max values": {Kind: 255, From: ^raftlite.NodeID(0), To: ^raftlite.NodeID(0), Term: ^uint64(0),
			Success: true, Match: 1 << 32, HintTerm: 1<<16 - 1, ReadSeq: ^uint64(0), Incarnation: 1 << 60, Transfer: true},
		"many entries": {Entries: make([]raftlite.Entry, 70000)},
		"membership": {Kind: raftlite.MsgSnapshot, Snapshot: &raftlite.SnapshotMeta{Index: 9, Term: 2,
			Membership: &raftlite.Membership{Members: []raftlite.Member{
				{ID: 1, Addr: "a:1"}, {ID: 2, Learner: true}, {ID: 300, Addr: "b", Learner: true, Promote: true}}}}},
		"empty membership": {Kind: raftlite.MsgSnapshot, Snapshot: &raftlite.SnapshotMeta{Index: 9, Term: 2,
			Membership: &raftlite.Membership{}}},
		"bin16 and bin32": {Entries: []raftlite.Entry{
			{Data: bytes.Repeat([]byte{1}, 300)}, {Data: bytes.Repeat([]byte{2}, 70000)}}},
	}
	for name, m := range cases {
		t.Run(name, func(t *testing.T) {
			var got raftlite.Message
			require.NoError(t, DecodeMessage(AppendMessage(nil, &m), &got))
			assert.Equal(t, normalize(m), got)
		})
	}
}

func TestDecodeRefusesMalformedInput(t *testing.T) {
	cases := map[string][]byte{
		"empty":                {},
		"not a map":            {0x91, 0x01},
		"truncated map":        {0x82, 0xa1, 'k', 0x01},
		"trailing bytes":       {0x80, 0x00},
		"array claims 2^32-1":  {0x81, 0xa1, 'e', 0xdd, 0xff, 0xff, 0xff, 0xff},
		"bin claims 2^32-1":    {0x81, 0xa1, 'e', 0x91, 0x81, 0xa1, 'd', 0xc6, 0xff, 0xff, 0xff, 0xff},
		"map claims 2^32-1":    {0xdf, 0xff, 0xff, 0xff, 0xff},
		"negative term":        {0x81, 0xa1, 't', 0xff},
		"negative int64":       {0x81, 0xa1, 't', 0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0},
		"kind beyond 8 bits":   {0x81, 0xa1, 'k', 0xcd, 0x01, 0x00},
		"string as term":       {0x81, 0xa1, 't', 0xa1, 'x'},
		"reserved code":        {0x81, 0xa1, 'x', 0xc1},
		"unknown key too deep": append([]byte{0x81, 0xa1, 'x'}, bytes.Repeat([]byte{0x91}, 100)...),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			var m raftlite.Message
			err := DecodeMessage(b, &m)
			assert.ErrorIs(t, err, ErrMalformed)
		})
	}
}

func TestDecodeSkipsUnknownKeys(t *testing.T) {
	// A later version may add fields; this one must ignore them.
	b := []byte{0x83, 0xa1, 't', 0x05, 0xa2, 'z', 'z', 0x92, 0xa1, 'x', 0xc4, 0x01, 0x00, 0xa1, 'f', 0x07}
	var m raftlite.Message
	require.NoError(t, DecodeMessage(b, &m))
	assert.Equal(t, raftlite.Message{Term: 5, From: 7}, m)
}

func TestFramesRoundTripAndRefuseOversize(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf, 1024)
	small := raftlite.Message{Kind: raftlite.MsgLogRequest, From: 1, To: 2, Term: 3,
		Entries: []raftlite.Entry{{Index: 1, Term: 3, Data: []byte("hello")}}}
	big := raftlite.Message{Entries: []raftlite.Entry{{Data: make([]byte, 2000)}}}
	require.NoError(t, w.WriteHandshake(&Handshake{Version: Version, ClusterID: "c", Node: 1, Instance: 9}))
	require.NoError(t, w.WriteMessage(&small))
	require.ErrorIs(t, w.WriteMessage(&big), ErrFrameTooLarge)
	require.NoError(t, w.WriteMessage(&small))

	r := NewReader(&buf, 1024)
	var h Handshake
	require.NoError(t, r.ReadHandshake(&h))
	assert.Equal(t, Handshake{Version: Version, ClusterID: "c", Node: 1, Instance: 9}, h)
	for range 2 {
		var m raftlite.Message
		require.NoError(t, r.ReadMessage(&m))
		assert.Equal(t, small, m)
	}
	var m raftlite.Message
	assert.ErrorIs(t, r.ReadMessage(&m), io.EOF)
}

// A reader refuses a frame whose length prefix is over the limit before it
// allocates anything of that size: the claim of 2^62 bytes below would
// otherwise panic or exhaust memory.
func TestReaderRefusesOversizeFrameBeforeAllocating(t *testing.T) {
	for _, claim := range []uint64{1025, 1 << 32, 1 << 62} {
		prefix := appendUvarint(nil, claim)
		r := NewReader(bytes.NewReader(prefix), 1024)
		var m raftlite.Message
		err := r.ReadMessage(&m)
		assert.ErrorIs(t, err, ErrFrameTooLarge, "claim %d", claim)
	}
	r := NewReader(bytes.NewReader(bytes.Repeat([]byte{0xff}, 11)), 1024)
	var m raftlite.Message
	assert.ErrorIs(t, r.ReadMessage(&m), ErrMalformed)
}

func TestReaderReportsTruncatedFrames(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, NewWriter(&buf, 0).WriteMessage(&raftlite.Message{Term: 1}))
	b := buf.Bytes()
	for cut := 1; cut < len(b); cut++ {
		var m raftlite.Message
		err := NewReader(bytes.NewReader(b[:cut]), 0).ReadMessage(&m)
		assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "cut at %d", cut)
	}
}

// A peer that claims a large frame but sends little costs at most one
// read chunk, not the claim.
func TestReaderGrowsWithDataNotClaim(t *testing.T) {
	prefix := appendUvarint(nil, 15<<20)
	r := NewReader(bytes.NewReader(append(prefix, 1, 2, 3)), 16<<20)
	var m raftlite.Message
	require.ErrorIs(t, r.ReadMessage(&m), io.ErrUnexpectedEOF)
	assert.LessOrEqual(t, cap(r.buf), 2*readChunk)
}

// A stream of full snapshot chunks (the default MaxBatchBytes of data,
// plus the framing) reuses the reader's and the writer's buffers: what a
// chunk allocates on either side is its decoded copy, not a frame buffer
// grown anew for each.
func TestFullChunksReuseTheFrameBuffers(t *testing.T) {
	const chunk = 1 << 20
	m := raftlite.Message{Kind: raftlite.MsgSnapshot, From: 1, To: 2, Term: 3, Offset: 7 * chunk, Data: make([]byte, chunk)}
	var buf bytes.Buffer
	w := NewWriter(&buf, 0)
	require.NoError(t, w.WriteMessage(&m)) // grows the writer's buffer once
	wrote := testing.AllocsPerRun(20, func() {
		buf.Reset()
		require.NoError(t, w.WriteMessage(&m))
	})
	assert.Zero(t, wrote, "allocations per chunk written")

	frame := slices.Clone(buf.Bytes())
	var in bytes.Reader
	r := NewReader(&in, 0)
	var got raftlite.Message
	in.Reset(frame)
	require.NoError(t, r.ReadMessage(&got)) // grows the reader's buffer once
	read := testing.AllocsPerRun(20, func() {
		in.Reset(frame)
		require.NoError(t, r.ReadMessage(&got))
	})
	assert.LessOrEqual(t, read, 1.0, "allocations per chunk read: the data's copy")
	assert.Equal(t, m, got)
}

func TestHandshakeChecksAndRefusals(t *testing.T) {
	ours := Handshake{Version: Version, ClusterID: "prod", Node: 2}
	require.NoError(t, ours.Check("prod"))
	old := ours
	old.Version = 0
	assert.ErrorIs(t, old.Check("prod"), ErrVersion)
	assert.ErrorIs(t, ours.Check("test"), ErrCluster)

	refusal := Handshake{Version: Version, Refusal: RefusalFor(ours.Check("test")), Reason: "nope"}
	var got Handshake
	require.NoError(t, DecodeHandshake(AppendHandshake(nil, &refusal), &got))
	err := got.Err()
	assert.ErrorIs(t, err, ErrRefused)
	assert.ErrorIs(t, err, ErrCluster)
	assert.Contains(t, err.Error(), "nope")
	assert.NoError(t, ours.Err())
}

func TestErrorsAreDistinct(t *testing.T) {
	all := []error{ErrFrameTooLarge, ErrMalformed, ErrVersion, ErrCluster, ErrUnknownPeer, ErrIdentity, ErrRefused}
	for i, a := range all {
		for j, b := range all {
			assert.Equal(t, i == j, errors.Is(a, b))
		}
	}
}

func appendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}
