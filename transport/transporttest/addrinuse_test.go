package transporttest_test

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/transport/transporttest"
)

// A MakeNet may hand out addresses that nothing reserves. When a node's
// first Start finds its address in use, the suite closes what it started
// and asks MakeNet for a new Net; any other Start error fails the subtest
// at once, with no second Net.
func TestSuiteAsksForANewNetOnlyWhenAnAddressIsInUse(t *testing.T) {
	inUse := fmt.Errorf("listen tcp 127.0.0.1:20001: %w", syscall.EADDRINUSE)
	other := errors.New("no certificate for node 2")
	for _, tc := range []struct {
		name string
		// refuse says whether the n-th Net made (from 1) refuses node 2.
		refuse  func(n int64) bool
		err     error
		retried bool
	}{
		{"in use: every other Net", func(n int64) bool { return n%2 == 1 }, inUse, true},
		{"another error: every Net", func(int64) bool { return true }, other, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var nets atomic.Int64
			fakes := makeFakeNet(nil)
			makeNet := func(t *testing.T, ids []raftlite.NodeID) transporttest.Net {
				net := fakes(t, ids)
				if tc.refuse(nets.Add(1)) {
					newTransport := net.New
					net.New = func(id raftlite.NodeID) raftlite.Transport {
						if id == 2 {
							return refusesStart{newTransport(id), tc.err}
						}
						return newTransport(id)
					}
				}
				return net
			}
			results := transporttest.RunRecorded(t, makeNet, fakeOptions)
			if tc.retried {
				assert.Greater(t, nets.Load(), int64(len(results)), "MakeNet was never asked again")
				for name, r := range results {
					assert.False(t, r.Failed, "%s failed: %s", name, strings.Join(r.Log, "; "))
				}
				return
			}
			assert.Equal(t, int64(len(results)), nets.Load(), "one Net per subtest")
			for name, r := range results {
				if name == "PeerDown" { // starts node 1 only
					assert.False(t, r.Failed, "%s failed: %s", name, strings.Join(r.Log, "; "))
					continue
				}
				assert.True(t, r.Failed, "%s passed without node 2", name)
				assert.Contains(t, strings.Join(r.Log, "; "), other.Error(), name)
			}
		})
	}
}

// refusesStart is a transport whose Start fails with err.
type refusesStart struct {
	raftlite.Transport
	err error
}

func (r refusesStart) Start(raftlite.NodeID, map[raftlite.NodeID]string, func(raftlite.Message)) error {
	return r.err
}
