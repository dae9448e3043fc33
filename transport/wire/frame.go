package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/raftlite/raftlite"
)

// DefaultMaxFrameBytes is the frame limit when none is configured. It must
// exceed the core's largest LogRequest (MaxEntryBytes times entries per
// batch, plus overhead) or followers will never catch up.
const DefaultMaxFrameBytes = 16 << 20

// maxKeptBuffer: buffers that grew beyond this for one large frame are
// dropped afterwards, so that an idle connection does not pin megabytes.
// It is twice the default Config.MaxBatchBytes: a full batch or snapshot
// chunk is a little more than that once framed, and a buffer dropped
// after each would be allocated again, and grown by copying, for the next
// (three times a snapshot's size in garbage on the way).
const maxKeptBuffer = 2 << 20

// readChunk bounds how much we allocate ahead of data actually received
// when a frame is large, so a peer that claims 16 MiB and sends nothing
// costs us little.
const readChunk = 1 << 20

func isErr(err, target error) bool { return errors.Is(err, target) }

// Writer writes length-prefixed frames. The length prefix is an unsigned
// varint (encoding/binary.AppendUvarint) of the body's byte count. The
// encoding buffer is reused between frames. A Writer is not safe for
// concurrent use; wrap a bufio.Writer to coalesce frames into few writes.
type Writer struct {
	w       io.Writer
	max     int
	scratch []byte
}

// NewWriter returns a Writer refusing frames larger than maxFrameBytes
// (DefaultMaxFrameBytes if zero or negative).
func NewWriter(w io.Writer, maxFrameBytes int) *Writer {
	if maxFrameBytes <= 0 {
		maxFrameBytes = DefaultMaxFrameBytes
	}
	return &Writer{w: w, max: maxFrameBytes}
}

// WriteMessage writes m as one frame. A message whose encoding exceeds the
// limit returns ErrFrameTooLarge and writes nothing, so the stream stays
// usable: the receiver would refuse it and drop the connection.
func (w *Writer) WriteMessage(m *raftlite.Message) error {
	return w.write(func(b []byte) []byte { return AppendMessage(b, m) }, w.max)
}

// WriteHandshake writes h as one frame.
func (w *Writer) WriteHandshake(h *Handshake) error {
	return w.write(func(b []byte) []byte { return AppendHandshake(b, h) }, MaxHandshakeBytes)
}

// WriteKeepAlive writes an empty frame, which an acceptor sends to prove to
// the dialer that the connection is alive (see Handshake.KeepAlive).
func (w *Writer) WriteKeepAlive() error {
	_, err := w.w.Write([]byte{0})
	return err
}

func (w *Writer) write(encode func([]byte) []byte, limit int) error {
	// Reserve the largest uvarint prefix, encode after it, then slide the
	// prefix into place: one buffer, one Write call.
	const reserve = binary.MaxVarintLen64
	b := encode(append(w.scratch[:0], make([]byte, reserve)...))
	n := len(b) - reserve
	if cap(b) <= maxKeptBuffer {
		w.scratch = b
	} else {
		w.scratch = nil
	}
	if n > limit {
		return fmt.Errorf("%w: message of %d bytes exceeds the limit of %d", ErrFrameTooLarge, n, limit)
	}
	var prefix [binary.MaxVarintLen64]byte
	p := binary.PutUvarint(prefix[:], uint64(n))
	start := reserve - p
	copy(b[start:], prefix[:p])
	_, err := w.w.Write(b[start:])
	return err
}

// Reader reads length-prefixed frames. Its buffer is reused between frames.
// A Reader is not safe for concurrent use.
type Reader struct {
	r   *bufio.Reader
	max int
	buf []byte
}

// NewReader returns a Reader refusing frames larger than maxFrameBytes
// (DefaultMaxFrameBytes if zero or negative). It buffers r.
func NewReader(r io.Reader, maxFrameBytes int) *Reader {
	if maxFrameBytes <= 0 {
		maxFrameBytes = DefaultMaxFrameBytes
	}
	return &Reader{r: bufio.NewReaderSize(r, 64<<10), max: maxFrameBytes}
}

// ReadMessage reads one frame and decodes it into *m. Errors other than
// those of the underlying reader wrap ErrFrameTooLarge or ErrMalformed;
// after any error the stream is out of step and must be closed.
func (r *Reader) ReadMessage(m *raftlite.Message) error {
	b, err := r.readFrame(r.max)
	if err != nil {
		return err
	}
	err = DecodeMessage(b, m)
	r.release()
	return err
}

// ReadHandshake reads one handshake frame into *h.
func (r *Reader) ReadHandshake(h *Handshake) error {
	b, err := r.readFrame(MaxHandshakeBytes)
	if err != nil {
		return err
	}
	return DecodeHandshake(b, h)
}

// ReadKeepAlive reads one keep-alive frame. A frame that is not empty is
// an error wrapping ErrMalformed, and nothing of it is read or allocated.
func (r *Reader) ReadKeepAlive() error {
	n, err := r.readLength()
	if err != nil {
		return err
	}
	if n != 0 {
		return fmt.Errorf("%w: want an empty keep-alive frame, got a length of %d", ErrMalformed, n)
	}
	return nil
}

// readFrame returns the body of the next frame, valid until the next call.
func (r *Reader) readFrame(limit int) ([]byte, error) {
	n, err := r.readLength()
	if err != nil {
		return nil, err
	}
	if n > uint64(limit) {
		return nil, fmt.Errorf("%w: peer announced %d bytes, the limit is %d", ErrFrameTooLarge, n, limit)
	}
	size := int(n)
	if size <= cap(r.buf) {
		r.buf = r.buf[:size]
		_, err := io.ReadFull(r.r, r.buf)
		return r.buf, unexpectedEOF(err)
	}
	// Grow with the data actually received, not with the claim.
	r.buf = r.buf[:0]
	for len(r.buf) < size {
		chunk := min(size-len(r.buf), readChunk)
		r.buf = append(r.buf, make([]byte, chunk)...)
		if _, err := io.ReadFull(r.r, r.buf[len(r.buf)-chunk:]); err != nil {
			return nil, unexpectedEOF(err)
		}
	}
	return r.buf, nil
}

func (r *Reader) release() {
	if cap(r.buf) > maxKeptBuffer {
		r.buf = nil
	}
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readLength reads the uvarint length prefix. It is binary.ReadUvarint
// with errors we can classify: a clean EOF before the first byte is the
// peer hanging up between frames; anything else is a broken frame.
func (r *Reader) readLength() (uint64, error) {
	var x uint64
	for i := range binary.MaxVarintLen64 {
		c, err := r.r.ReadByte()
		if err != nil {
			if i > 0 {
				return 0, unexpectedEOF(err)
			}
			return 0, err
		}
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				break
			}
			return x | uint64(c)<<(7*i), nil
		}
		x |= uint64(c&0x7f) << (7 * i)
	}
	return 0, fmt.Errorf("%w: length prefix overflows 64 bits", ErrMalformed)
}
