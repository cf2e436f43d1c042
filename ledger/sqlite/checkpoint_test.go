package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"ipcs/internal/sqldb"
	"ipcs/internal/testutil"
	"ipcs/ledger"
)

// TestWALRestarts writes many batches, one operation each: the writer
// never checkpoints on its own (wal_autocheckpoint=0), so only the
// checkpointer, with the writer finishing its checkpoints between
// batches, keeps the WAL from growing; SQLite reuses the WAL file from
// its start after each complete checkpoint, so its size stays near what
// ckptEvery batches write.
func TestWALRestarts(t *testing.T) {
	testutil.CheckGoroutines(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "l.db")
	db, err := sqldb.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := Open(ctx, db, Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const ops = 12 * ckptEvery
	pad := fmt.Sprintf("%01000d", 0) // about a page a row with the index
	for i := 0; i < ops; i++ {
		err := s.Update(ctx, func(ctx context.Context, tx ledger.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO ledger_facilities (id, zone, deposit_max, weekly_max) VALUES (?, ?, 1, 1)`,
				fmt.Sprintf("f%06d", i), pad)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	// Without restarts the WAL would hold every frame ever written:
	// at least one page per operation.
	if never := int64(ops) * 4096; fi.Size() >= never/2 {
		t.Fatalf("WAL is %d bytes after %d batches: not restarted (a WAL never restarted is at least %d)", fi.Size(), ops, never)
	}
	var n int
	if err := s.View(ctx, func(ctx context.Context, tx ledger.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM ledger_facilities`).Scan(&n)
	}); err != nil || n != ops {
		t.Fatalf("%d rows, %v", n, err)
	}
}
