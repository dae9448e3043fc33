package tlsutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/raftlite/raftlite"
)

// ErrNoIdentity is returned when a certificate does not name the node id
// its holder claims, or the peer presented no certificate at all.
var ErrNoIdentity = errors.New("tlsutil: certificate does not name the node id")

// NodeURI returns the URI SAN that names node id: raftlite:node:<id>.
func NodeURI(id raftlite.NodeID) *url.URL {
	return &url.URL{Scheme: "raftlite", Opaque: "node:" + strconv.FormatUint(uint64(id), 10)}
}

// NodeIDs returns the node ids a certificate names.
func NodeIDs(cert *x509.Certificate) []raftlite.NodeID {
	var ids []raftlite.NodeID
	for _, u := range cert.URIs {
		if u.Scheme != "raftlite" || len(u.Opaque) <= len("node:") || u.Opaque[:len("node:")] != "node:" {
			continue
		}
		if id, err := strconv.ParseUint(u.Opaque[len("node:"):], 10, 64); err == nil {
			ids = append(ids, raftlite.NodeID(id))
		}
	}
	return ids
}

// CheckIdentity reports whether the leaf of a peer's (already verified)
// certificate chain names node id. The error wraps ErrNoIdentity.
func CheckIdentity(certs []*x509.Certificate, id raftlite.NodeID) error {
	if len(certs) == 0 {
		return fmt.Errorf("%w %d: the peer presented no certificate", ErrNoIdentity, id)
	}
	names := NodeIDs(certs[0])
	for _, n := range names {
		if n == id {
			return nil
		}
	}
	return fmt.Errorf("%w %d: it names %v", ErrNoIdentity, id, names)
}

// VerifyChain verifies the peer's leaf certificate against roots unless the
// TLS handshake already did (VerifiedChains non-empty). Transports call it
// after dialing, because configs that identify peers by node id rather
// than host name skip Go's host-name verification, which also skips the
// chain check.
func VerifyChain(state tls.ConnectionState, roots *x509.CertPool) error {
	if len(state.VerifiedChains) > 0 {
		return nil
	}
	if len(state.PeerCertificates) == 0 {
		return errors.New("tlsutil: the peer presented no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range state.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := state.PeerCertificates[0].Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return fmt.Errorf("tlsutil: verifying peer certificate: %w", err)
	}
	return nil
}

// CA is a throwaway certificate authority held in memory, for tests and
// demos: NewCA makes one, Issue and Config make node certificates with it.
type CA struct {
	// Cert is the CA's self-signed certificate.
	Cert *x509.Certificate
	// Key is the CA's private key, which signs what Issue makes.
	Key *ecdsa.PrivateKey
	// CertPEM is Cert, PEM-encoded: what every node trusts.
	CertPEM []byte
}

// validity of generated certificates: long enough for a demo left running.
const validity = 365 * 24 * time.Hour

// NewCA makes a self-signed ECDSA P-256 CA whose certificate is named
// name and valid for a year.
func NewCA(name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tlsutil: generating CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("tlsutil: creating CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("tlsutil: parsing CA certificate: %w", err)
	}
	return &CA{Cert: cert, Key: key, CertPEM: pemBlock("CERTIFICATE", der)}, nil
}

// Identity is a node's certificate and key, PEM-encoded, as CA.Issue
// makes them.
type Identity struct {
	// ID is the node id the certificate names.
	ID raftlite.NodeID
	// CertPEM is the node's certificate.
	CertPEM []byte
	// KeyPEM is the node's private key; keep it secret.
	KeyPEM []byte
}

// Issue makes an ECDSA P-256 certificate naming node id, usable as both TLS
// server and client, signed by ca.
func (ca *CA) Issue(id raftlite.NodeID) (*Identity, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tlsutil: generating key for node %d: %w", id, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: fmt.Sprintf("raftlite node %d", id)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:         []*url.URL{NodeURI(id)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("tlsutil: creating certificate for node %d: %w", id, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("tlsutil: encoding key for node %d: %w", id, err)
	}
	return &Identity{ID: id, CertPEM: pemBlock("CERTIFICATE", der), KeyPEM: pemBlock("PRIVATE KEY", keyDER)}, nil
}

// Config issues a certificate for node id and returns the TLS config that
// node uses, both to accept and to dial: Config(id, ca.CertPEM, ...) with
// the new certificate.
func (ca *CA) Config(id raftlite.NodeID) (*tls.Config, error) {
	ident, err := ca.Issue(id)
	if err != nil {
		return nil, err
	}
	return Config(id, ca.CertPEM, ident.CertPEM, ident.KeyPEM)
}

// WriteFiles writes the CA certificate to dir/ca.pem, for LoadConfig.
func (ca *CA) WriteFiles(dir string) error {
	return writeFile(filepath.Join(dir, "ca.pem"), ca.CertPEM, 0o644)
}

// WriteFiles writes dir/node<id>.pem and dir/node<id>-key.pem (mode 0600).
func (i *Identity) WriteFiles(dir string) error {
	base := filepath.Join(dir, fmt.Sprintf("node%d", i.ID))
	if err := writeFile(base+".pem", i.CertPEM, 0o644); err != nil {
		return err
	}
	return writeFile(base+"-key.pem", i.KeyPEM, 0o600)
}

// Config builds node id's TLS config from PEM: the CA certificate(s) that
// issue all members' certificates, and the node's own certificate and key.
// The one config serves both for accepting and for dialing: it presents the
// node's certificate, requires and verifies the peer's against the CA, and
// speaks TLS 1.3 only. Host names are not verified (the transports verify
// node ids instead), hence InsecureSkipVerify with a VerifyConnection that
// checks the chain.
func Config(id raftlite.NodeID, caPEM, certPEM, keyPEM []byte) (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("tlsutil: no CA certificate found in PEM")
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("tlsutil: loading node %d key pair: %w", id, err)
	}
	if err := CheckIdentity([]*x509.Certificate{cert.Leaf}, id); err != nil {
		return nil, fmt.Errorf("tlsutil: own certificate: %w", err)
	}
	return &tls.Config{
		Certificates:       []tls.Certificate{cert},
		RootCAs:            pool,
		ClientCAs:          pool,
		ClientAuth:         tls.RequireAndVerifyClientCert,
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true, // the chain is verified below, the identity by the transport
		VerifyConnection: func(cs tls.ConnectionState) error {
			return VerifyChain(cs, pool)
		},
	}, nil
}

// LoadConfig is Config reading PEM files, such as those WriteFiles writes:
// the CA certificate(s), the node's certificate and its key.
func LoadConfig(id raftlite.NodeID, caFile, certFile, keyFile string) (*tls.Config, error) {
	var pems [3][]byte
	for i, f := range []string{caFile, certFile, keyFile} {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("tlsutil: %w", err)
		}
		pems[i] = b
	}
	return Config(id, pems[0], pems[1], pems[2])
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return n
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func writeFile(path string, b []byte, mode os.FileMode) error {
	if err := os.WriteFile(path, b, mode); err != nil {
		return fmt.Errorf("tlsutil: %w", err)
	}
	return nil
}
