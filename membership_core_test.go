package raftlite

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// ongaro2015 replays the single-server change bug Ongaro described on
// raft-dev in 2015, with b switched on, and returns the conflict it finds
// between two nodes' committed entries, or "". Voters 1-4 and learner 5;
// leader 1 (term 2) promotes 5, reaching only 5; 2 wins term 3 with 3 and
// 4 and at once removes 1, reaching only 3, which commits under {2,3,4};
// 1 then wins term 4 with 4 and 5, a majority of {1,...,5}, and commits
// over it. A leader that first commits an entry of its own term needs 4's
// copy for that, and 4 then refuses 1.
func ongaro2015(t *testing.T, b bug) string {
	conf := Membership{Members: []Member{{ID: 1}, {ID: 2}, {ID: 3}, {ID: 4}, {ID: 5, Learner: true}}}
	h := newHand(t, map[NodeID][]uint64{1: {1}, 2: {1}, 3: {1}, 4: {1}, 5: {1}}, func(cc *coreConfig) {
		cc.bootstrap, cc.bug = conf, b
	})
	h.elect(1)
	only := func(ids ...NodeID) func(Message) bool {
		in := map[NodeID]bool{}
		for _, id := range ids {
			in[id] = true
		}
		return func(m Message) bool { return !in[m.From] || !in[m.To] }
	}
	h.cut = only(1, 5)
	l1 := h.cores[1]
	l1.appendConf(l1.conf().with(Member{ID: 5}))
	h.collect(1)
	h.run()

	cut := only(2, 3, 4)
	h.cut = func(m Message) bool { return cut(m) || (m.To == 4 && m.Kind == MsgLogRequest) }
	h.elect(2)
	l2 := h.cores[2]
	l2.onChangeMembership(confChange{kind: changeRemove, member: Member{ID: 1}})
	h.collect(2)
	h.run()

	// Node 1 crashed after reaching 5, and restarts with what it saved.
	ents := l1.log.slice(l1.log.memFirst(), l1.log.lastIndex()+1, 1<<30)
	l1 = newCore(l1.cfg, l1.hs, bootInMemory(SnapshotMeta{}, ents, 0), rand.New(rand.NewPCG(1, 1)))
	h.cores[1] = l1
	h.collect(1)
	h.cut = only(1, 4, 5)
	for range 3 {
		if l1.role == Leader {
			break
		}
		l1.onElectionTimeout()
		h.collect(1)
		h.run()
	}
	if l1.role == Leader {
		l1.onBroadcast([]byte("x"))
		h.collect(1)
		h.run()
	}
	for a := NodeID(1); a <= 5; a++ {
		for b := a + 1; b <= 5; b++ {
			ca, cb := h.cores[a], h.cores[b]
			for i := uint64(1); i <= min(ca.commit, cb.commit); i++ {
				if ca.log.term(i) != cb.log.term(i) {
					return fmt.Sprintf("nodes %d and %d committed different entries at %d (terms %d and %d)", a, b, i, ca.log.term(i), cb.log.term(i))
				}
			}
		}
	}
	return ""
}

func TestMembershipChangeWaitsForAnOwnTermCommit(t *testing.T) {
	if msg := ongaro2015(t, 0); msg != "" {
		t.Fatal(msg)
	}
}
