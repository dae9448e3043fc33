package tlsutil

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/raftlite/raftlite"
)

func TestWrittenFilesLoadAndNameTheirNode(t *testing.T) {
	ca, err := NewCA("test CA")
	require.NoError(t, err)
	ident, err := ca.Issue(3)
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, ca.WriteFiles(dir))
	require.NoError(t, ident.WriteFiles(dir))

	cfg, err := LoadConfig(3, filepath.Join(dir, "ca.pem"), filepath.Join(dir, "node3.pem"), filepath.Join(dir, "node3-key.pem"))
	require.NoError(t, err)
	assert.Equal(t, []raftlite.NodeID{3}, NodeIDs(cfg.Certificates[0].Leaf))
	assert.Equal(t, "raftlite:node:3", NodeURI(3).String())

	// Loading node 3's certificate as node 4 is a deployment mistake worth
	// failing on at once.
	_, err = LoadConfig(4, filepath.Join(dir, "ca.pem"), filepath.Join(dir, "node3.pem"), filepath.Join(dir, "node3-key.pem"))
	assert.ErrorIs(t, err, ErrNoIdentity)
	assert.ErrorIs(t, CheckIdentity(nil, 3), ErrNoIdentity)
}
