package sqlite

import (
	"os"
	"syscall"
)

// syncData makes f's data durable with fdatasync(2), as SQLite's own
// unix VFS syncs its WAL: the data and the metadata needed to read it
// back (the size), without an inode timestamp update, which would cost
// every sync of a rewritten WAL a journal commit of its own.
func syncData(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}
