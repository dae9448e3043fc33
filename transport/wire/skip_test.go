package wire

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/vmihailenco/msgpack/v5"
)

// TestSkipPassesOverEveryType checks skip against another encoder's output
// for every msgpack type, so that a later version may add a key of any
// type.
func TestSkipPassesOverEveryType(t *testing.T) {
	long := strings.Repeat("x", 70000)
	values := []any{
		nil, true, false, 1, -1, -100, 200, -30000, 60000, -2000000, int64(4000000000), int64(math.MinInt64), uint64(math.MaxUint64),
		float32(1.5), 2.5, "", "short", strings.Repeat("y", 200), strings.Repeat("z", 1000), long,
		[]byte{}, []byte("bin"), make([]byte, 300), []byte(long),
		[]int{1, 2}, make([]int, 20), make([]int, 70000), map[string]int{"a": 1}, bigMap(20), bigMap(70000),
		time.Unix(1, 0), time.Unix(1, 5), time.Unix(1<<40, 5), // fixext 4, fixext 8, ext 8
		[]any{map[string]any{"nested": []any{1, "two", []byte{3}}}},
	}
	for _, v := range values {
		b, err := msgpack.Marshal(v)
		if !assert.NoError(t, err) {
			continue
		}
		d := decoder{b: b}
		if assert.NoError(t, d.skip(0), "skipping %T (code 0x%02x)", v, b[0]) {
			assert.Empty(t, d.b, "skipping %T (code 0x%02x) left bytes", v, b[0])
		}
	}
	for _, ext := range [][]byte{{0xd4, 1, 0}, {0xd5, 1, 0, 0}, {0xd8, 1}, {0xc8, 0, 2, 1, 0, 0}, {0xc9, 0, 0, 0, 1, 1, 0}} {
		d := decoder{b: append(ext, make([]byte, 16)...)}
		assert.NoError(t, d.skip(0), "code 0x%02x", ext[0])
	}
	assert.ErrorIs(t, (&decoder{b: []byte{0xc1}}).skip(0), ErrMalformed, "0xc1 is reserved")
}

func bigMap(n int) map[int]int {
	m := make(map[int]int, n)
	for i := range n {
		m[i] = i
	}
	return m
}
