// Package tlsutil makes and loads the certificates that raftlite's network
// transports use for mutual TLS, and fixes how a certificate names a node.
//
// # Identity convention
//
// A node's certificate names its node id as a URI subject alternative name
// "raftlite:node:<id>" in decimal, e.g. raftlite:node:3. Transports check,
// in both directions, that the peer's certificate chains to the configured
// CA and names the node id the peer claims (or, when dialing, the node we
// meant to reach). Host names and IP addresses in certificates are not
// checked: membership is by node id, and addresses may change.
//
// # Throwaway certificates (tests, demos)
//
//	ca, err := tlsutil.NewCA("raftlite test CA")
//	if err != nil {
//		log.Fatal(err)
//	}
//	cfg1, err := ca.Config(1) // *tls.Config for node 1
//	if err != nil {
//		log.Fatal(err)
//	}
//	t1 := tcp.New(tcp.Config{ClusterID: "demo", TLS: cfg1})
//
// ExampleCA_Config goes on to connect node 1 to node 2 over mutual TLS.
//
// CA.Issue returns PEM bytes; Identity.WriteFiles and CA.WriteFiles store
// them for use by other processes.
//
// # Real certificates
//
// Issue each node a certificate from your CA (ECDSA or RSA) with the URI SAN
// raftlite:node:<id> and extended key usages serverAuth and clientAuth, for
// example with openssl:
//
//	subjectAltName = URI:raftlite:node:3
//	extendedKeyUsage = serverAuth, clientAuth
//
// then build the node's config with LoadConfig(3, "ca.pem", "node3.pem",
// "node3-key.pem"). The CA file may hold several CAs (for rotation). Keep
// the CA dedicated to the cluster: any certificate it issues with a node's
// URI can speak as that node.
package tlsutil
