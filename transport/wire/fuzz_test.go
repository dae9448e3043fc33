package wire

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/raftlite/raftlite"
)

// FuzzDecodeFrame feeds arbitrary bytes to a frame Reader, as a hostile or
// broken peer would. Nothing may panic, every error must be one we expect,
// and whatever decodes must survive a round trip unchanged. The seed corpus
// lives in testdata/fuzz/FuzzDecodeFrame and runs with every go test.
func FuzzDecodeFrame(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data), 1<<16)
		for {
			var m raftlite.Message
			err := r.ReadMessage(&m)
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) &&
					!errors.Is(err, ErrMalformed) && !errors.Is(err, ErrFrameTooLarge) {
					t.Fatalf("unexpected error class: %v", err)
				}
				return
			}
			var again raftlite.Message
			if err := DecodeMessage(AppendMessage(nil, &m), &again); err != nil {
				t.Fatalf("re-decoding our own encoding of %+v: %v", m, err)
			}
			if !reflect.DeepEqual(m, again) {
				t.Fatalf("round trip changed the message:\n%+v\n%+v", m, again)
			}
		}
	})
}

// FuzzHandshake does the same for the handshake, the first thing a stranger
// gets to send us.
func FuzzHandshake(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		var h Handshake
		err := NewReader(bytes.NewReader(data), 0).ReadHandshake(&h)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) &&
				!errors.Is(err, ErrMalformed) && !errors.Is(err, ErrFrameTooLarge) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		var again Handshake
		if err := DecodeHandshake(AppendHandshake(nil, &h), &again); err != nil {
			t.Fatalf("re-decoding our own encoding of %+v: %v", h, err)
		}
		if !reflect.DeepEqual(h, again) {
			t.Fatalf("round trip changed the handshake:\n%+v\n%+v", h, again)
		}
		_ = h.Check("c")
		_ = h.Err()
	})
}
