//go:build !unix

package wal

import "os"

func lockFile(f *os.File) error { return errNotSupported }
