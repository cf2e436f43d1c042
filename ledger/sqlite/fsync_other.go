//go:build !linux

package sqlite

import "os"

// syncData makes f's data durable (fsync(2); see fsync_linux.go).
func syncData(f *os.File) error { return f.Sync() }
