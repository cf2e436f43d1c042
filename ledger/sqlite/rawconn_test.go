package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
)

// rawFile makes a SQLite file holding table t and opens the writer's
// kind of connection on it.
func rawFile(t *testing.T) *wconn {
	t.Helper()
	path := filepath.Join(t.TempDir(), "raw.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.ExecContext(context.Background(), `CREATE TABLE t (k TEXT PRIMARY KEY, a TEXT, b TEXT, n INTEGER, f REAL, blob BLOB) WITHOUT ROWID`)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := openRaw(path, "PRAGMA busy_timeout = 1000")
	if err != nil {
		t.Fatal(err)
	}
	wc := newWConn(raw)
	t.Cleanup(wc.close)
	return wc
}

// TestRawConnBindsAndReads checks the writer's own binding: several text
// arguments of one statement land in their own columns (they share the
// statement's buffer), a text longer than the buffer grows it, an empty
// string is ” and not NULL, nil is NULL, and every type reads back as
// it was written.
func TestRawConnBindsAndReads(t *testing.T) {
	wc := rawFile(t)
	tx := wc.newTx()
	ctx := context.Background()
	const ins = `INSERT INTO t (k, a, b, n, f, blob) VALUES (?, ?, ?, ?, ?, ?)`
	long := strings.Repeat("é-", 3000) // 9,000 bytes, past minBuf
	rows := []struct {
		k, a, b string
		n       int64
		f       float64
		blob    []byte
	}{
		{"k1", "first", "second", 7, 1.5, []byte{0, 1, 2}},
		{"k2", "", "", -1, 0, []byte{}},
		{"k3", long, "ünïcode", 1 << 62, -2.25, bytes.Repeat([]byte{0xff}, 5000)},
		{"k4", "short again", "x", 0, 3, nil},
	}
	for _, r := range rows {
		var blob any = r.blob
		if r.blob == nil {
			blob = nil
		}
		n, err := tx.Exec(ctx, ins, r.k, r.a, r.b, r.n, r.f, blob)
		if err != nil || n != 1 {
			t.Fatalf("insert %s: %d rows, %v", r.k, n, err)
		}
	}
	for _, r := range rows {
		var a, b, ta, tblob string
		var n int64
		err := tx.QueryRow(ctx, `SELECT a, b, n, typeof(a), typeof(blob) FROM t WHERE k = ?`, r.k).Scan(&a, &b, &n, &ta, &tblob)
		if err != nil {
			t.Fatalf("%s: %v", r.k, err)
		}
		if a != r.a || b != r.b || n != r.n || ta != "text" {
			t.Fatalf("%s: read %q %q %d (%s), wrote %q %q %d", r.k, a, b, n, ta, r.a, r.b, r.n)
		}
		wantBlob := "blob"
		if r.blob == nil {
			wantBlob = "null"
		}
		if tblob != wantBlob {
			t.Fatalf("%s: blob stored as %s, want %s", r.k, tblob, wantBlob)
		}
		s, err := wc.prepared(`SELECT f, blob FROM t WHERE k = ?`, []any{r.k})
		if err != nil {
			t.Fatal(err)
		}
		if row, err := s.st.step(); !row || err != nil {
			t.Fatalf("%s: no row (%v)", r.k, err)
		}
		vals := make([]any, 2)
		s.st.row(vals)
		s.st.reset()
		if vals[0] != r.f {
			t.Fatalf("%s: f = %v, want %v", r.k, vals[0], r.f)
		}
		got, _ := vals[1].([]byte)
		if !bytes.Equal(got, r.blob) || (r.blob == nil) != (vals[1] == nil) {
			t.Fatalf("%s: blob = %v, want %v", r.k, vals[1], r.blob)
		}
	}
	if err := tx.QueryRow(ctx, `SELECT a FROM t WHERE k = ?`, "none").Scan(new(string)); err == nil || !strings.Contains(err.Error(), "no row") {
		t.Fatalf("missing row: %v", err)
	}
}

// TestRawConnErrors checks that a failed statement reports SQLite's
// message and leaves its statement usable, that a wrong argument count
// and several statements in one query are refused, that a statement
// whose rows are open cannot run again until they are closed, and that
// UPDATE … RETURNING through exec reports the rows it changed.
func TestRawConnErrors(t *testing.T) {
	wc := rawFile(t)
	tx := wc.newTx()
	ctx := context.Background()
	const ins = `INSERT INTO t (k, a, b, n, f, blob) VALUES (?, '', '', ?, 0, NULL)`
	for i, k := range []string{"a", "b", "c"} {
		if _, err := tx.Exec(ctx, ins, k, int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tx.Exec(ctx, ins, "a", int64(9)); err == nil || !strings.Contains(err.Error(), "UNIQUE constraint failed") {
		t.Fatalf("duplicate key: %v", err)
	}
	if n, err := tx.Exec(ctx, ins, "d", int64(3)); err != nil || n != 1 {
		t.Fatalf("insert after a failed one: %d, %v", n, err)
	}
	if _, err := tx.Exec(ctx, ins, "e"); err == nil || !strings.Contains(err.Error(), "1 arguments for 2 parameters") {
		t.Fatalf("missing argument: %v", err)
	}
	if _, err := tx.Exec(ctx, `SELECT 1; SELECT 2`); err == nil || !strings.Contains(err.Error(), "more than one statement") {
		t.Fatalf("two statements: %v", err)
	}
	const list = `SELECT k FROM t WHERE n >= ? ORDER BY k`
	rows, err := tx.Query(ctx, list, int64(1))
	if err != nil {
		t.Fatal(err)
	}
	if !rows.Next() {
		t.Fatal("no first row")
	}
	if _, err := tx.Query(ctx, list, int64(0)); err == nil || !strings.Contains(err.Error(), "before its rows were closed") {
		t.Fatalf("statement run while its rows are open: %v", err)
	}
	var keys []string
	for ok := true; ok; ok = rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	rows.Close()
	rows.Close() // twice is harmless
	if rows.Err() != nil || strings.Join(keys, ",") != "b,c,d" {
		t.Fatalf("rows %v, %v", keys, rows.Err())
	}
	n, err := tx.Exec(ctx, `UPDATE t SET n = n + 10 WHERE n >= ? RETURNING k`, int64(2))
	if err != nil || n != 2 {
		t.Fatalf("UPDATE … RETURNING: %d rows, %v", n, err)
	}
	var sum int64
	if err := tx.QueryRow(ctx, `SELECT sum(n) FROM t`).Scan(&sum); err != nil || sum != 0+1+12+13 {
		t.Fatalf("sum %d, %v", sum, err)
	}
}
