package wire

import (
	"bufio"
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHandshakeCarriesKeepAliveInWholeMilliseconds(t *testing.T) {
	for _, tc := range []struct {
		sent, read time.Duration
	}{
		{0, 0},
		{250 * time.Millisecond, 250 * time.Millisecond},
		{time.Microsecond, time.Millisecond}, // rounded up, never to zero
		{2 * MaxKeepAlive, MaxKeepAlive},
	} {
		var got Handshake
		require.NoError(t, DecodeHandshake(AppendHandshake(nil, &Handshake{Version: Version, KeepAlive: tc.sent}), &got))
		assert.Equal(t, tc.read, got.KeepAlive, "sent %v", tc.sent)
	}
}

func TestHandshakeWithoutKeepAliveIsTheEarlierEncoding(t *testing.T) {
	// A peer of an earlier release reads the handshake it always did.
	b := AppendHandshake(nil, &Handshake{Version: Version, ClusterID: "c", Node: 2})
	assert.Equal(t, byte(0x86), b[0], "a map of six keys")
	assert.NotContains(t, string(b), "\xa1k")
}

func TestKeepAliveHugeMillisecondsAreBounded(t *testing.T) {
	b := appendMapLen(nil, 1)
	b = appendUint(append(b, 0xa1, 'k'), ^uint64(0))
	var h Handshake
	require.NoError(t, DecodeHandshake(b, &h))
	assert.Equal(t, MaxKeepAlive, h.KeepAlive)
}

func TestKeepAliveFrames(t *testing.T) {
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	w := NewWriter(bw, 0)
	require.NoError(t, w.WriteKeepAlive())
	require.NoError(t, w.WriteKeepAlive())
	require.NoError(t, bw.Flush())
	buf.Write([]byte{0x80, 0x80, 0x80, 0x80, 0x10}) // claims 4 GiB

	r := NewReader(&buf, 0)
	require.NoError(t, r.ReadKeepAlive())
	require.NoError(t, r.ReadKeepAlive())
	assert.ErrorIs(t, r.ReadKeepAlive(), ErrMalformed)
	assert.ErrorIs(t, NewReader(&buf, 0).ReadKeepAlive(), io.EOF)
}
