package wire

import (
	"encoding/binary"
	"fmt"
	"math"
)

// The helpers below write and read the small subset of msgpack that
// Message and Handshake need. They are hand-written rather than reflective
// for speed, and so that every length read from the network is checked
// against the bytes actually left in the frame before anything is allocated.

func appendMapLen(b []byte, n int) []byte {
	if n < 16 {
		return append(b, 0x80|byte(n))
	}
	return append(b, 0xde, byte(n>>8), byte(n))
}

func appendArrayLen(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x90|byte(n))
	case n <= math.MaxUint16:
		return append(b, 0xdc, byte(n>>8), byte(n))
	}
	return binary.BigEndian.AppendUint32(append(b, 0xdd), uint32(n))
}

func appendStr(b []byte, s string) []byte {
	switch n := len(s); {
	case n < 32:
		b = append(b, 0xa0|byte(n))
	case n <= math.MaxUint8:
		b = append(b, 0xd9, byte(n))
	case n <= math.MaxUint16:
		b = append(b, 0xda, byte(n>>8), byte(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xdb), uint32(n))
	}
	return append(b, s...)
}

func appendBin(b []byte, p []byte) []byte {
	switch n := len(p); {
	case n <= math.MaxUint8:
		b = append(b, 0xc4, byte(n))
	case n <= math.MaxUint16:
		b = append(b, 0xc5, byte(n>>8), byte(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xc6), uint32(n))
	}
	return append(b, p...)
}

// appendUint writes v in the shortest msgpack form, as msgpack's own
// compact-int mode does.
func appendUint(b []byte, v uint64) []byte {
	switch {
	case v < 128:
		return append(b, byte(v))
	case v <= math.MaxUint8:
		return append(b, 0xcc, byte(v))
	case v <= math.MaxUint16:
		return append(b, 0xcd, byte(v>>8), byte(v))
	case v <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xcf), v)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 0xc3)
	}
	return append(b, 0xc2)
}

// maxDepth bounds the nesting of unknown values we skip, so a frame of
// nested arrays cannot exhaust the stack.
const maxDepth = 32

// decoder reads msgpack from one complete frame. Every read is bounds
// checked; errors wrap ErrMalformed.
type decoder struct {
	b []byte
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

func (d *decoder) byte() (byte, error) {
	if len(d.b) == 0 {
		return 0, malformed("unexpected end of frame")
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c, nil
}

func (d *decoder) n(k int) ([]byte, error) {
	if k < 0 || k > len(d.b) {
		return nil, malformed("length %d exceeds the %d bytes left in the frame", k, len(d.b))
	}
	p := d.b[:k:k]
	d.b = d.b[k:]
	return p, nil
}

func (d *decoder) be(k int) (uint64, error) {
	p, err := d.n(k)
	if err != nil {
		return 0, err
	}
	var v uint64
	for _, c := range p {
		v = v<<8 | uint64(c)
	}
	return v, nil
}

// length reads a big-endian length of k bytes and checks that at least
// min*length bytes remain, which is what stops a claimed length of 2^32
// from turning into an allocation.
func (d *decoder) length(k, min int) (int, error) {
	v, err := d.be(k)
	if err != nil {
		return 0, err
	}
	return d.fits(v, min)
}

func (d *decoder) fits(v uint64, min int) (int, error) {
	if v > uint64(len(d.b)/min) {
		return 0, malformed("claimed length %d exceeds the %d bytes left in the frame", v, len(d.b))
	}
	return int(v), nil
}

// mapLen reads a map header; nil counts as an empty map.
func (d *decoder) mapLen() (int, error) {
	c, err := d.byte()
	if err != nil {
		return 0, err
	}
	switch {
	case c&0xf0 == 0x80:
		return d.fits(uint64(c&0x0f), 2)
	case c == 0xde:
		return d.length(2, 2)
	case c == 0xdf:
		return d.length(4, 2)
	case c == 0xc0:
		return 0, nil
	}
	return 0, malformed("want map, got code 0x%02x", c)
}

// arrayLen reads an array header; nil counts as an empty array.
func (d *decoder) arrayLen() (int, error) {
	c, err := d.byte()
	if err != nil {
		return 0, err
	}
	switch {
	case c&0xf0 == 0x90:
		return d.fits(uint64(c&0x0f), 1)
	case c == 0xdc:
		return d.length(2, 1)
	case c == 0xdd:
		return d.length(4, 1)
	case c == 0xc0:
		return 0, nil
	}
	return 0, malformed("want array, got code 0x%02x", c)
}

// raw reads a str or bin (or nil) and returns a view into the frame.
func (d *decoder) raw() ([]byte, error) {
	c, err := d.byte()
	if err != nil {
		return nil, err
	}
	var k int
	switch {
	case c&0xe0 == 0xa0:
		k = int(c & 0x1f)
	case c == 0xd9 || c == 0xc4:
		k, err = d.length(1, 1)
	case c == 0xda || c == 0xc5:
		k, err = d.length(2, 1)
	case c == 0xdb || c == 0xc6:
		k, err = d.length(4, 1)
	case c == 0xc0:
		return nil, nil
	default:
		return nil, malformed("want str or bin, got code 0x%02x", c)
	}
	if err != nil {
		return nil, err
	}
	return d.n(k)
}

// uint reads a non-negative integer in any msgpack int form, since other
// encoders may pick signed forms for small positive values.
func (d *decoder) uint() (uint64, error) {
	c, err := d.byte()
	if err != nil {
		return 0, err
	}
	var v uint64
	switch {
	case c < 0x80:
		return uint64(c), nil
	case c == 0xcc || c == 0xd0:
		v, err = d.be(1)
		if c == 0xd0 && v >= 1<<7 {
			return 0, malformed("negative integer")
		}
	case c == 0xcd || c == 0xd1:
		v, err = d.be(2)
		if c == 0xd1 && v >= 1<<15 {
			return 0, malformed("negative integer")
		}
	case c == 0xce || c == 0xd2:
		v, err = d.be(4)
		if c == 0xd2 && v >= 1<<31 {
			return 0, malformed("negative integer")
		}
	case c == 0xcf || c == 0xd3:
		v, err = d.be(8)
		if c == 0xd3 && v >= 1<<63 {
			return 0, malformed("negative integer")
		}
	case c == 0xc0:
		return 0, nil
	default:
		return 0, malformed("want unsigned integer, got code 0x%02x", c)
	}
	return v, err
}

func (d *decoder) uint8() (uint8, error) {
	v, err := d.uint()
	if err == nil && v > math.MaxUint8 {
		err = malformed("value %d does not fit in 8 bits", v)
	}
	return uint8(v), err
}

func (d *decoder) bool() (bool, error) {
	c, err := d.byte()
	switch {
	case err != nil:
		return false, err
	case c == 0xc3:
		return true, nil
	case c == 0xc2 || c == 0xc0:
		return false, nil
	}
	return false, malformed("want bool, got code 0x%02x", c)
}

// skip passes over one value of any type, so that a later protocol
// version may add keys that this one ignores.
func (d *decoder) skip(depth int) error {
	if depth > maxDepth {
		return malformed("nesting deeper than %d", maxDepth)
	}
	c, err := d.byte()
	if err != nil {
		return err
	}
	payload, items, err := d.extent(c)
	if err != nil {
		return err
	}
	if _, err := d.n(payload); err != nil {
		return err
	}
	for range items {
		if err := d.skip(depth + 1); err != nil {
			return err
		}
	}
	return nil
}

// extent reads the rest of the header of a value whose type code is c and
// returns how many bytes of payload follow it and how many values nest in
// it (a map's keys and values both).
func (d *decoder) extent(c byte) (payload, items int, err error) {
	switch {
	case c < 0x80 || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		return 0, 0, nil // fixints, nil and bools are all code
	case c&0xf0 == 0x80:
		return 0, 2 * int(c&0x0f), nil
	case c&0xf0 == 0x90:
		return 0, int(c & 0x0f), nil
	case c&0xe0 == 0xa0:
		return int(c & 0x1f), 0, nil
	}
	if k := fixedPayload(c); k > 0 {
		return k, 0, nil
	}
	switch c {
	case 0xd9, 0xc4, 0xda, 0xc5, 0xdb, 0xc6: // str 8/16/32, bin 8/16/32
		payload, err = d.length(lengthBytes(c), 1)
	case 0xc7, 0xc8, 0xc9: // ext 8/16/32: a length, a type byte, the data
		payload, err = d.length(1<<(c-0xc7), 1)
		payload++
	case 0xdc, 0xdd: // array 16/32
		items, err = d.length(2<<(c-0xdc), 1)
	case 0xde, 0xdf: // map 16/32
		items, err = d.length(2<<(c-0xde), 2)
		items *= 2
	default:
		return 0, 0, malformed("reserved code 0x%02x", c)
	}
	return payload, items, err
}

// fixedPayload returns the payload size of the types whose size the code
// alone gives (numbers and fixext), or 0.
func fixedPayload(c byte) int {
	switch c {
	case 0xcc, 0xd0:
		return 1
	case 0xcd, 0xd1, 0xd4:
		return 2
	case 0xd5:
		return 3
	case 0xce, 0xd2, 0xca:
		return 4
	case 0xd6:
		return 5
	case 0xcf, 0xd3, 0xcb:
		return 8
	case 0xd7:
		return 9
	case 0xd8:
		return 17
	}
	return 0
}

// lengthBytes returns how many bytes of length follow a str or bin code.
func lengthBytes(c byte) int {
	switch c {
	case 0xd9, 0xc4:
		return 1
	case 0xda, 0xc5:
		return 2
	}
	return 4
}
