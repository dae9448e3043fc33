package bench

import (
	"github.com/raftlite/raftlite"
	"github.com/raftlite/raftlite/wal"
)

func init() {
	persisters["wal"] = func(dir string) (raftlite.Persister, func() int64, error) {
		l, err := wal.Open(dir, wal.Options{})
		if err != nil {
			return nil, nil, err
		}
		return l, l.Syncs, nil
	}
}
