package raftlite

// deliverer hands committed messages to the application in log order,
// each once, reading back from the Persister those no longer in memory.
// The Node and the simulator both run it.
type deliverer struct {
	delivered uint64  // the index of the last entry handed over or skipped
	fromDisk  []Entry // read back for delivery, oldest first
	fetching  bool    // a read-back is under way
	bugs      bug
	// snapshotEvery: ask for a snapshot (SnapshotDue) when the log has
	// grown by this many entries since the latest one or the last ask.
	snapshotEvery uint64
	lastAsked     uint64
}

// next returns the next committed message to hand over, skipping entries
// that are not messages. When the message is no longer in memory it asks
// fetch to read [lo, hi) back (fetch returns false if it cannot take the
// job now) and returns false until fetched brings it. When the log no
// longer holds it at all, the application restores the latest snapshot:
// restore opens it (false if it cannot now).
func (d *deliverer) next(c *core, fetch func(lo, hi uint64) bool, restore func(SnapshotMeta) (*Snapshot, bool)) (Delivery, bool) {
	limit := c.commit
	if bugOn(d.bugs, bugDeliverUncommitted) && c.role == Leader {
		limit = max(limit, c.stableIndex)
	}
	for d.delivered < limit {
		i := d.delivered + 1
		if i <= c.log.offset {
			if bugOn(d.bugs, bugDeliverAcrossGap) {
				d.delivered = c.log.offset
				continue
			}
			snap, ok := restore(c.snapshot)
			if !ok {
				return Delivery{}, false
			}
			return Delivery{Index: c.snapshot.Index, Term: c.snapshot.Term, Snapshot: snap}, true
		}
		var e *Entry
		if i >= c.log.memFirst() {
			e = c.log.at(i)
		} else if bugOn(d.bugs, bugDeliverAcrossGap) {
			d.delivered = c.log.memFirst() - 1
			continue
		} else if e = d.readBack(i, c, fetch); e == nil {
			return Delivery{}, false
		}
		if e.Kind != EntryData {
			d.delivered = i
			continue
		}
		return Delivery{Index: i, Term: e.Term, Data: e.Data, SnapshotDue: d.snapshotDue(i, c),
			ID: BroadcastID{Origin: e.Origin, Incarnation: e.Incarnation, Seq: e.Seq}}, true
	}
	return Delivery{}, false
}

// readBack returns entry i, which is no longer in memory, from what was
// read back, asking for more when that runs out.
func (d *deliverer) readBack(i uint64, c *core, fetch func(lo, hi uint64) bool) *Entry {
	for len(d.fromDisk) > 0 && d.fromDisk[0].Index < i {
		d.fromDisk[0] = Entry{}
		d.fromDisk = d.fromDisk[1:]
	}
	if len(d.fromDisk) > 0 && d.fromDisk[0].Index == i {
		return &d.fromDisk[0]
	}
	if !d.fetching {
		d.fetching = fetch(i, min(c.commit+1, c.log.memFirst()))
	}
	return nil
}

// fetched takes entries read back for delivery; none means the read failed
// and will be asked for again.
func (d *deliverer) fetched(ents []Entry) {
	d.fetching = false
	d.fromDisk = ents
}

// snapshotDue says whether to ask for a snapshot along with the message at
// i. It asks again only after as many entries more: the application may
// snapshot at its own pace, or never.
func (d *deliverer) snapshotDue(i uint64, c *core) bool {
	since := max(c.snapshot.Index, d.lastAsked)
	return d.snapshotEvery != 0 && i >= since && i-since >= d.snapshotEvery
}

// handedOver records that the delivery dv reached the application.
func (d *deliverer) handedOver(dv *Delivery) {
	d.delivered = dv.Index
	if dv.SnapshotDue {
		d.lastAsked = dv.Index
	}
}
