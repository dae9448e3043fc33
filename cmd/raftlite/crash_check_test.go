//go:build unix

package main

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// check returns an error while some member has not yet delivered every
// acknowledged line or the members' sequences differ in length, and fails
// the test on anything that more waiting cannot fix: a line delivered
// twice, at another index than acknowledged, out of the order it was
// written in, or nodes that disagree. A removed node's last life is held
// to all of this but completeness: it stopped hearing of commits when it
// was removed, and what it delivered must be a prefix of the others'.
func (c *crashCluster) check() error {
	c.mu.Lock()
	acked := maps.Clone(c.acked)
	written := maps.Clone(c.written)
	c.mu.Unlock()
	var ref []string
	refNode := 0
	for i, p := range c.procs {
		p.mu.Lock()
		got := slices.Clone(p.delivered)
		p.mu.Unlock()
		if err := c.checkNode(p.node, got, acked, written, !c.removed[i]); err != nil {
			return err
		}
		if len(got) > len(ref) {
			ref, got, refNode = got, ref, p.node
		}
		for k := range min(len(got), len(ref)) {
			if got[k] != ref[k] {
				c.t.Fatalf("%s: nodes %d and %d disagree at delivery %d: %q vs %q", c.transport, p.node, refNode, k+1, got[k], ref[k])
			}
		}
	}
	for i, p := range c.procs {
		p.mu.Lock()
		n := len(p.delivered)
		p.mu.Unlock()
		if n != len(ref) && !c.removed[i] {
			return fmt.Errorf("node %d delivered %d of %d", p.node, n, len(ref))
		}
	}
	return nil
}

// checkNode checks what node printed in its current life, as above; and,
// if member, that it delivered every acknowledged line.
func (c *crashCluster) checkNode(node int, got []string, acked map[string]uint64, written map[string]writtenLine, member bool) error {
	seen := map[string]uint64{}
	type life struct{ node, life int }
	lastSeq := map[life]string{} // of each life that wrote lines, the last line delivered so far
	var lastIndex uint64
	for _, line := range got {
		idxText, msg, ok := strings.Cut(line, "\t")
		idx, err := strconv.ParseUint(idxText, 10, 64)
		if !ok || err != nil || idx <= lastIndex {
			c.t.Fatalf("%s: node %d printed %q after index %d: not index<TAB>message with a greater index", c.transport, node, line, lastIndex)
		}
		lastIndex = idx
		if _, dup := seen[msg]; dup {
			c.t.Fatalf("%s: node %d delivered %q twice", c.transport, node, msg)
		}
		seen[msg] = idx
		w, ok := written[msg]
		if !ok {
			c.t.Fatalf("%s: node %d delivered %q, which was never written", c.transport, node, msg)
		}
		from := life{w.node, w.life}
		if prev, ok := lastSeq[from]; ok && written[prev].seq > w.seq {
			c.t.Fatalf("%s: node %d delivered %q before %q, but both were written to node %d's life %d in the other order",
				c.transport, node, prev, msg, w.node, w.life)
		}
		lastSeq[from] = msg
	}
	for msg, idx := range acked {
		if at, ok := seen[msg]; !ok {
			if !member {
				continue
			}
			return fmt.Errorf("node %d has not delivered acknowledged %q", node, msg)
		} else if at != idx && idx != 0 { // 0: the node learnt of the commit from a snapshot
			c.t.Fatalf("%s: node %d delivered %q at %d, acknowledged at %d", c.transport, node, msg, at, idx)
		}
	}
	return nil
}
