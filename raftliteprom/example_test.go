package raftliteprom_test

import (
	"log"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/raftliteprom"
	"github.com/raftlite/raftlite/transport/mem"
)

// A node's metrics on /metrics, in Prometheus's text format.
func ExampleNewCollector() {
	node, err := raftlite.New(raftlite.Config{ID: 1, Peers: map[raftlite.NodeID]string{1: "node-1"},
		Transport: mem.NewNetwork(1).Transport(1), Persister: raftlite.NewMemoryPersister()})
	if err != nil {
		log.Fatal(err)
	}
	defer node.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(raftliteprom.NewCollector(node))
	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
}
