package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/internal/loopback"
)

// TestAdminEndpointTellsAnOperatorWhatTheClusterDoes: node 1 starts alone,
// with five lines on stdin. Its admin endpoint says it is not ready (no
// leader); nodes 2 and 3 start, and it turns ready. Then /status shows the
// configuration and one leader with two followers, /metrics parses as
// Prometheus text and counts the five broadcasts and the bytes tcp moved,
// and stdout still holds nothing but the five delivered lines.
func TestAdminEndpointTellsAnOperatorWhatTheClusterDoes(t *testing.T) {
	lines := "one\ntwo\nthree\nfour\nfive\n"
	c := newAdminCluster(t, 3)
	c.start(t, 1, strings.NewReader(lines))
	h := getJSON[healthJSON](t, c.url(1, "/health/ready?timeout=100ms"), http.StatusServiceUnavailable)
	assert.False(t, h.Ready)
	assert.Equal(t, "no leader known", h.Reason)
	getJSON[map[string]any](t, c.url(1, "/health/live"), http.StatusOK)

	c.start(t, 2, nil)
	c.start(t, 3, nil)
	require.EventuallyWithT(t, func(t *assert.CollectT) {
		h := getJSONStatus[healthJSON](c.url(1, "/health/ready"))
		assert.True(t, h.Ready, "%+v", h)
	}, 20*time.Second, 50*time.Millisecond, "node 1 turns ready once the cluster has a leader")
	c.outs[1].waitFor(t, 5, 20*time.Second)

	leaders := 0
	for id := 1; id <= 3; id++ {
		st := getJSON[statusJSON](t, c.url(id, "/status"), http.StatusOK)
		assert.Equal(t, raftlite.NodeID(id), st.ID)
		assert.Len(t, st.Configuration.Voters, 3)
		assert.Equal(t, c.addrs[0], st.Configuration.Voters[0].Address)
		assert.NotZero(t, st.Leader, "node %d knows the leader", id)
		if st.Role == "leader" {
			leaders++
			assert.Len(t, st.Followers, 2, "the leader shows both followers")
		} else {
			assert.Empty(t, st.Followers)
		}
	}
	assert.Equal(t, 1, leaders)

	fams := scrape(t, c.url(1, "/metrics"))
	assert.Equal(t, 5.0, value(fams, "raftlite_broadcasts_total"), "node 1 accepted the five lines")
	assert.Equal(t, uint64(5), fams["raftlite_broadcast_commit_seconds"].GetMetric()[0].GetHistogram().GetSampleCount())
	assert.Positive(t, value(fams, "raftlite_transport_bytes_sent_total"), "tcp counts bytes")
	assert.Contains(t, fams, "go_goroutines", "Go's runtime metrics come along")
	assert.Contains(t, fams, "raftlite_save_seconds")

	for _, line := range c.outs[1].snapshot() {
		idx, _, ok := strings.Cut(line, "\t")
		_, err := strconv.ParseUint(idx, 10, 64)
		assert.True(t, ok && err == nil, "stdout holds only index<TAB>message lines, not %q", line)
	}
	assert.Len(t, c.outs[1].snapshot(), 5)

	resp, err := http.Post(c.url(1, "/status"), "application/json", nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, "/status changes nothing")
}

// The expvar variable holds the node's Metrics as JSON.
func TestMetricsVarIsTheNodesMetrics(t *testing.T) {
	c := newAdminCluster(t, 1)
	c.start(t, 1, nil)
	var m raftlite.Metrics
	require.NoError(t, json.Unmarshal([]byte(metricsVar(c.nodes[1]).String()), &m))
	assert.Equal(t, c.nodes[1].Metrics().Elections, m.Elections)
}

// adminCluster runs `raftlite node --admin 127.0.0.1:0` in process, node by
// node, on tcp over 127.0.0.1.
type adminCluster struct {
	addrs  []string
	peers  string
	nodes  map[int]*raftlite.Node
	admins map[int]*admin
	outs   map[int]*lineWriter
}

func newAdminCluster(t *testing.T, n int) *adminCluster {
	addrs := loopback.Candidates(n)
	return &adminCluster{addrs: addrs, peers: peersFlag(addrs),
		nodes: map[int]*raftlite.Node{}, admins: map[int]*admin{}, outs: map[int]*lineWriter{}}
}

// start starts node id as runNode does, with stdin (nothing if nil), and
// stops it at the end of the test, requiring a clean stop.
func (c *adminCluster) start(t *testing.T, id int, stdin io.Reader) {
	c.startWith(t, id, stdin, c.peers)
}

// startWith starts node id with --peers peers and further flags.
func (c *adminCluster) startWith(t *testing.T, id int, stdin io.Reader, peers string, flags ...string) {
	o, err := parseNodeFlags(append([]string{"--id", strconv.Itoa(id), "--peers", peers,
		"--data", t.TempDir(), "--admin", "127.0.0.1:0", "--log-format", "json"}, flags...), io.Discard)
	require.NoError(t, err)
	stderr := newLineWriter()
	logger := o.logger(stderr)
	node, err := o.start(logger)
	require.NoError(t, err, "a taken port is unlikely: see package loopback")
	a, err := startAdmin(o.admin, node, o.peers, logger)
	require.NoError(t, err)
	stdout := newLineWriter()
	c.nodes[id], c.admins[id], c.outs[id] = node, a, stdout
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	ctx, cancel := context.WithCancel(context.Background())
	var serving sync.WaitGroup
	serving.Go(func() {
		assert.NoError(t, serveNode(ctx, node, stdin, stdout, o.concurrency, logger), "node %d stopping", id)
	})
	t.Cleanup(func() {
		cancel()
		serving.Wait()
		assert.NoError(t, a.Close())
	})
}

func (c *adminCluster) url(id int, path string) string {
	return "http://" + c.admins[id].Addr() + path
}

// getJSON fetches url, requires the status code, and decodes the body.
func getJSON[T any](t *testing.T, url string, code int) T {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, code, resp.StatusCode, url)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var v T
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&v))
	return v
}

// getJSONStatus decodes url's body whatever the status, for polling.
func getJSONStatus[T any](url string) T {
	var v T
	resp, err := http.Get(url)
	if err != nil {
		return v
	}
	defer resp.Body.Close()
	_ = json.NewDecoder(resp.Body).Decode(&v)
	return v
}

// scrape fetches url and parses it as Prometheus's text format.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	return fams
}

// value sums the values of a family's counters and gauges.
func value(fams map[string]*dto.MetricFamily, name string) float64 {
	var sum float64
	for _, m := range fams[name].GetMetric() {
		sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	return sum
}
