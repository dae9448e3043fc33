package loopback

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCandidatesAreDistinctAndOutsideTheEphemeralRange(t *testing.T) {
	addrs := Candidates(50)
	require.Len(t, addrs, 50)
	seen := map[string]bool{}
	for _, a := range addrs {
		host, portText, err := net.SplitHostPort(a)
		require.NoError(t, err)
		port, err := strconv.Atoi(portText)
		require.NoError(t, err)
		assert.Equal(t, "127.0.0.1", host)
		assert.GreaterOrEqual(t, port, firstPort)
		assert.LessOrEqual(t, port, lastPort)
		assert.False(t, seen[a], "%s twice", a)
		seen[a] = true
	}
}

// A second listener on a taken port fails with an error that InUse
// recognizes, however the transport wraps it.
func TestInUseRecognizesABindOnATakenPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	_, err = net.Listen("tcp", ln.Addr().String())
	require.Error(t, err)
	assert.True(t, InUse(fmt.Errorf("node 1: %w", err)))
	assert.False(t, InUse(errors.New("other")))
	assert.False(t, InUse(nil))
}

func TestRetryStartsAgainOnlyWhileAnAddressIsInUse(t *testing.T) {
	other := errors.New("bad flag")
	for _, tc := range []struct {
		name    string
		results []error // what start returns, call by call
		calls   int
		wantErr error
	}{
		{"first start works", []error{nil}, 1, nil},
		{"in use, then works", []error{syscall.EADDRINUSE, syscall.EADDRINUSE, nil}, 3, nil},
		{"another error is returned at once", []error{syscall.EADDRINUSE, other}, 2, other},
		{"gives up after Attempts", nil, Attempts, syscall.EADDRINUSE},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			err := Retry(func() error {
				calls++
				if calls <= len(tc.results) {
					return tc.results[calls-1]
				}
				return syscall.EADDRINUSE
			})
			assert.Equal(t, tc.calls, calls)
			if tc.wantErr == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, tc.wantErr)
			}
		})
	}
}
