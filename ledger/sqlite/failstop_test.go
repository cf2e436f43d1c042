package sqlite

import (
	"context"
	"errors"
	"os"
	"sync/atomic"
	"testing"

	"ipcs/internal/testutil"
	"ipcs/ledger"
)

// TestFailedFsyncFailsLaterBatches: an fsync of the WAL fails while the
// next batch, committed meanwhile, waits for its own. After a failed
// fsync the file's state is unknown (the kernel may have dropped the
// pages it could not write, and WAL recovery stops at the first bad
// frame, dropping every commit after it), so the store is fail-stop:
// that waiting batch must be answered with the error too. It used to be
// answered success once its own fsync went through.
func TestFailedFsyncFailsLaterBatches(t *testing.T) {
	// The hook is in place before the store opens and stays until it has
	// closed (cleanups run last first); it fails the first fsync once armed.
	release := make(chan struct{})
	var armed atomic.Bool
	var calls atomic.Int32
	syncFile = func(f *os.File) error {
		if armed.Load() && calls.Add(1) == 1 {
			<-release
			return errors.New("injected EIO")
		}
		return syncData(f)
	}
	t.Cleanup(func() { syncFile = syncData })
	s := openTestStore(t, Config{MaxBatch: 1}, nil)
	ctx := context.Background()
	if err := s.Update(ctx, func(ctx context.Context, tx ledger.Tx) error {
		if _, err := tx.Exec(ctx, `CREATE TABLE t (k TEXT PRIMARY KEY)`); err != nil {
			return err
		}
		// A row, so that the writer counts the batch as a write (a
		// statement that changes no row does not) and commits it.
		_, err := tx.Exec(ctx, `INSERT INTO t (k) VALUES ('seed')`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	armed.Store(true)
	write := func(k string) chan error {
		done := make(chan error, 1)
		go func() {
			done <- s.Update(ctx, func(ctx context.Context, tx ledger.Tx) error {
				_, err := tx.Exec(ctx, `INSERT INTO t (k) VALUES (?)`, k)
				return err
			})
		}()
		return done
	}
	first := write("a") // its fsync blocks, then fails
	testutil.WaitFor(t, "the first fsync to start", func() bool { return calls.Load() == 1 })
	second := write("b") // committed meanwhile, waiting for an fsync
	testutil.WaitFor(t, "the second batch to wait for its fsync", func() bool { return len(s.pending) == 1 })
	close(release)
	if err := <-first; err == nil {
		t.Fatal("the batch whose fsync failed was answered success")
	}
	if err := <-second; err == nil {
		t.Fatal("a batch committed before the failed fsync was answered, and answered success after it")
	}
	if err := <-write("c"); err == nil {
		t.Fatal("an operation after the failed fsync succeeded")
	}
}
