package sqldb

import (
	"context"
	"path/filepath"
	"testing"
)

func TestRebind(t *testing.T) {
	pg := &DB{Dialect: Postgres}
	lite := &DB{Dialect: SQLite}
	q := "SELECT a FROM t WHERE b = ? AND c = '?' AND d = ?"
	if got, want := pg.Rebind(q), "SELECT a FROM t WHERE b = $1 AND c = '?' AND d = $2"; got != want {
		t.Fatalf("postgres Rebind = %q, want %q", got, want)
	}
	if got := lite.Rebind(q); got != q {
		t.Fatalf("sqlite Rebind changed the query: %q", got)
	}
}

func TestOpenSQLiteCreatesFileInWAL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ipcs.db")
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Fatalf("journal_mode = %q, want wal", mode)
	}
}
