package sqlite

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
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
// batches, keeps the WAL from growing; SQLite then writes the WAL again
// from its start, and counts each such restart in the WAL header's
// checkpoint sequence number. The test writes until it has seen two
// restarts (on a loaded machine the checkpointer may need more batches
// than ckptEvery), and fails if 2,560 batches, 40 checkpoint intervals,
// do not bring two.
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
	pad := fmt.Sprintf("%01000d", 0)
	const most = 2560 // 40 × ckptEvery (64)
	first, ops := int64(-1), 0
	for ; ops < most; ops++ {
		err := s.Update(ctx, func(ctx context.Context, tx ledger.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO ledger_facilities (id, zone, deposit_max, weekly_max) VALUES (?, ?, 1, 1)`,
				fmt.Sprintf("f%06d", ops), pad)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		seq := walCheckpointSeq(t, path+"-wal")
		if first < 0 {
			first = seq
		}
		if seq >= first+2 {
			break
		}
	}
	if ops == most {
		t.Fatalf("the WAL did not restart twice in %d batches", most)
	}
	var n int
	if err := s.View(ctx, func(ctx context.Context, tx ledger.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM ledger_facilities`).Scan(&n)
	}); err != nil || n != ops+1 {
		t.Fatalf("%d rows after %d batches, %v", n, ops+1, err)
	}
}

// walCheckpointSeq reads the checkpoint sequence number of a WAL file's
// header (bytes 12–15, big-endian), which SQLite increments each time it
// starts writing the WAL from its beginning again.
func walCheckpointSeq(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var h [16]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		t.Fatal(err)
	}
	return int64(binary.BigEndian.Uint32(h[12:16]))
}
