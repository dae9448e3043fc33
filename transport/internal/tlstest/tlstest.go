// Package tlstest is the security scenario that both network transports
// must pass: strangers and impostors get no message through.
package tlstest

import (
	"crypto/tls"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/internal/loopback"
	"github.com/raftlite/raftlite/transport/internal/link"
	"github.com/raftlite/raftlite/transport/tlsutil"
)

// Transport is a transport with counters.
type Transport interface {
	raftlite.Transport
	Stats() link.Stats
}

// Factory makes an unstarted transport using cfg for TLS.
type Factory func(t *testing.T, cfg *tls.Config) Transport

// evil marks the attackers' messages.
const evil = 666

type inbox struct {
	mu   sync.Mutex
	msgs []raftlite.Message
}

func (in *inbox) deliver(m raftlite.Message) {
	in.mu.Lock()
	in.msgs = append(in.msgs, m)
	in.mu.Unlock()
}

func (in *inbox) has(pred func(raftlite.Message) bool) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, m := range in.msgs {
		if pred(m) {
			return true
		}
	}
	return false
}

// Run: nodes 1-3 hold certificates of the cluster CA. A fourth party with a
// certificate for node 3 from another CA, and one with a cluster-CA
// certificate for node 4 that claims to be node 3, both try to send as
// node 3. Neither connects, and none of their messages reach deliver,
// while the real node 3 gets through. Then a node dialing an address held
// by a valid-CA impostor refuses to talk to it. Every party listens on
// 127.0.0.1 (see package loopback).
func Run(t *testing.T, newTransport Factory) {
	ca, err := tlsutil.NewCA("cluster CA")
	require.NoError(t, err)
	var (
		nodes     map[raftlite.NodeID]Transport
		boxes     map[raftlite.NodeID]*inbox
		attackers []Transport
	)
	require.NoError(t, loopback.Retry(func() error {
		s := &starter{t: t}
		addrs := loopback.Candidates(5)
		peers := map[raftlite.NodeID]string{1: addrs[0], 2: addrs[1], 3: addrs[2]}
		nodes, boxes, err = startCluster(s, newTransport, ca, peers)
		if err == nil {
			attackers, err = startAttackers(s, newTransport, ca, peers, addrs[3:])
		}
		if err != nil {
			s.closeAll()
		}
		return err
	}))

	fromReal3 := func(m raftlite.Message) bool { return m.From == 3 && m.Term == 1 }
	require.Eventually(t, func() bool {
		for _, a := range attackers {
			a.Send(raftlite.Message{Kind: raftlite.MsgVoteRequest, From: 3, To: 1, Term: evil})
			a.Send(raftlite.Message{Kind: raftlite.MsgVoteRequest, From: 3, To: 2, Term: evil})
		}
		nodes[3].Send(raftlite.Message{Kind: raftlite.MsgVoteRequest, From: 3, To: 1, Term: 1})
		nodes[3].Send(raftlite.Message{Kind: raftlite.MsgVoteRequest, From: 3, To: 2, Term: 1})
		// Each attacker has failed to reach each of nodes 1 and 2 at
		// least twice, and the real node 3 got through meanwhile.
		for _, a := range attackers {
			if a.Stats().DialFailures < 4 || a.Stats().Connects != 0 {
				return false
			}
		}
		return boxes[1].has(fromReal3) && boxes[2].has(fromReal3) &&
			nodes[1].Stats().RefusedHandshakes >= 2 && nodes[2].Stats().RefusedHandshakes >= 2
	}, 20*time.Second, 20*time.Millisecond)

	for id, box := range boxes {
		assert.False(t, box.has(isEvil), "node %d delivered an attacker's message", id)
	}
	for _, a := range attackers {
		assert.Zero(t, a.Stats().Connects)
	}
	t.Run("DialerChecksIdentity", func(t *testing.T) { dialerChecksIdentity(t, newTransport, ca) })
}

// starter starts transports, each closed when the test ends, and closes
// them at once if a later start fails, so that the parties can start again
// on new addresses.
type starter struct {
	t       *testing.T
	started []Transport
}

func (s *starter) start(tr Transport, self raftlite.NodeID, peers map[raftlite.NodeID]string, deliver func(raftlite.Message)) error {
	if err := tr.Start(self, peers, deliver); err != nil {
		return err
	}
	s.t.Cleanup(func() { _ = tr.Close() })
	s.started = append(s.started, tr)
	return nil
}

func (s *starter) closeAll() {
	for _, tr := range s.started {
		_ = tr.Close()
	}
}

func isEvil(m raftlite.Message) bool { return m.Term == evil }

// startCluster starts nodes 1-3 with certificates of ca.
func startCluster(s *starter, newTransport Factory, ca *tlsutil.CA, peers map[raftlite.NodeID]string) (map[raftlite.NodeID]Transport, map[raftlite.NodeID]*inbox, error) {
	nodes, boxes := map[raftlite.NodeID]Transport{}, map[raftlite.NodeID]*inbox{}
	for id := range peers {
		cfg, err := ca.Config(id)
		require.NoError(s.t, err)
		tr := newTransport(s.t, cfg)
		boxes[id] = &inbox{}
		if err := s.start(tr, id, peers, boxes[id].deliver); err != nil {
			return nil, nil, err
		}
		nodes[id] = tr
	}
	return nodes, boxes, nil
}

// startAttackers starts the two parties posing as node 3 from addresses of
// their own, own[0] and own[1]: a stranger with a certificate for node 3
// from another CA, and an impostor with a certificate of ca for node 4.
func startAttackers(s *starter, newTransport Factory, ca *tlsutil.CA, peers map[raftlite.NodeID]string, own []string) ([]Transport, error) {
	t := s.t
	otherCA, err := tlsutil.NewCA("other CA")
	require.NoError(t, err)
	strangerCfg, err := otherCA.Config(3)
	require.NoError(t, err)
	ident4, err := ca.Issue(4)
	require.NoError(t, err)
	impostorCfg, err := tlsutil.Config(4, ca.CertPEM, ident4.CertPEM, ident4.KeyPEM)
	require.NoError(t, err)

	var attackers []Transport
	for i, cfg := range []*tls.Config{strangerCfg, impostorCfg} {
		tr := newTransport(t, cfg)
		theirPeers := map[raftlite.NodeID]string{1: peers[1], 2: peers[2], 3: own[i]}
		if err := s.start(tr, 3, theirPeers, func(raftlite.Message) {}); err != nil {
			return nil, err
		}
		attackers = append(attackers, tr)
	}
	return attackers, nil
}

// dialerChecksIdentity: the victim believes node 2 lives where an impostor
// (a valid certificate for node 9) listens, posing as node 2. Neither
// connects, and neither gets a message through.
func dialerChecksIdentity(t *testing.T, newTransport Factory, ca *tlsutil.CA) {
	ident9, err := ca.Issue(9)
	require.NoError(t, err)
	cfg9, err := tlsutil.Config(9, ca.CertPEM, ident9.CertPEM, ident9.KeyPEM)
	require.NoError(t, err)
	victimCfg, err := ca.Config(1)
	require.NoError(t, err)
	var victim, impostor Transport
	vbox, ibox := &inbox{}, &inbox{}
	require.NoError(t, loopback.Retry(func() error {
		s := &starter{t: t}
		addrs := loopback.Candidates(2)
		ps := map[raftlite.NodeID]string{1: addrs[0], 2: addrs[1]}
		victim, impostor = newTransport(t, victimCfg), newTransport(t, cfg9)
		err := s.start(impostor, 2, ps, ibox.deliver)
		if err == nil {
			err = s.start(victim, 1, ps, vbox.deliver)
		}
		if err != nil {
			s.closeAll()
		}
		return err
	}))
	require.Eventually(t, func() bool {
		victim.Send(raftlite.Message{From: 1, To: 2, Term: 1})
		impostor.Send(raftlite.Message{From: 2, To: 1, Term: evil})
		return victim.Stats().DialFailures >= 2 && victim.Stats().RefusedHandshakes >= 1 &&
			impostor.Stats().DialFailures >= 1
	}, 20*time.Second, 20*time.Millisecond)
	assert.Zero(t, victim.Stats().Connects)
	assert.Zero(t, impostor.Stats().Connects)
	assert.False(t, vbox.has(isEvil))
	assert.False(t, ibox.has(func(raftlite.Message) bool { return true }), "the impostor received the victim's messages")
}
