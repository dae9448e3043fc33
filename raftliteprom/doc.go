// Package raftliteprom exports a raftlite Node's Status and Metrics to
// Prometheus, for users who run it; the raftlite package itself imports no
// metrics library, and programs that do not import this package never
// compile github.com/prometheus/client_golang.
//
// NewCollector returns a prometheus.Collector that reads the node at every
// scrape; register it, and serve the registry:
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(raftliteprom.NewCollector(node))
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// Every metric is named raftlite_* and carries the label node (the node's
// id); the README's "Operations" section lists them all with their units,
// and says which to watch. `raftlite node --admin` serves them at /metrics.
package raftliteprom
