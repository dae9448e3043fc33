package wal

import (
	"cmp"
	"errors"
	"io/fs"
	"slices"
)

// recoverSnapshots finds the snapshots in the directory. Temporary files
// are what a crash left of sinks never closed: they are removed, and so
// are snapshots older than the latest keepSnapshots, which a crash may
// have kept from removal. The latest is read whole and checked: a file
// under its final name was synced before it got that name, so damage to
// it is not a crash's doing and is reported, not skipped, since the log
// may have been compacted on the strength of it.
func (l *Log) recoverSnapshots(names, tmpNames []string) error {
	var snaps []snapshotFile
	for _, name := range names {
		seq, index, ok := parseSnapshotName(name)
		if !ok {
			return corruptf("%s: not a snapshot name", join(l.dir, name))
		}
		snaps = append(snaps, snapshotFile{seq: seq, index: index, name: join(l.dir, name)})
	}
	slices.SortFunc(snaps, func(a, b snapshotFile) int { return cmp.Compare(a.seq, b.seq) })
	for i := 1; i < len(snaps); i++ {
		if snaps[i].seq == snaps[i-1].seq {
			return corruptf("%s and %s: two snapshots numbered %d", snaps[i-1].name, snaps[i].name, snaps[i].seq)
		}
	}
	removed := false
	for _, name := range tmpNames {
		if err := l.fs.Remove(join(l.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return storageErr(err)
		}
		removed = true
	}
	for len(snaps) > keepSnapshots {
		if err := l.fs.Remove(snaps[0].name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return storageErr(err)
		}
		snaps, removed = snaps[1:], true
	}
	if removed {
		// Not needed for correctness (the files come back only to be
		// removed again) but it keeps them from coming back.
		if err := l.fs.SyncDir(l.dir); err != nil {
			return storageErr(err)
		}
		l.dirSyncs.Add(1)
	}
	if len(snaps) == 0 {
		return nil
	}
	latest := snaps[len(snaps)-1]
	f, err := l.fs.OpenFile(latest.name, false)
	if err != nil {
		return storageErr(err)
	}
	_, err = checkSnapshotFile(f, latest, true)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = storageErr(cerr)
	}
	if err != nil {
		return err
	}
	l.snaps, l.snapSeq = snaps, latest.seq
	return nil
}
