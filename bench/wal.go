package bench

import (
	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/wal"
)

func init() {
	persisters["wal"] = func(dir string, s Setup) (raftlite.Persister, func() int64, error) {
		l, err := wal.Open(dir, wal.Options{SegmentSize: s.SegmentBytes})
		if err != nil {
			return nil, nil, err
		}
		return l, l.Syncs, nil
	}
}
