package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"ipcs/internal/testutil"
	"ipcs/ledger"
)

// testDSN creates a schema of its own on the test PostgreSQL and returns
// an address selecting it; the schema is dropped when tb ends.
func testDSN(tb testing.TB) string {
	tb.Helper()
	return testutil.PostgresSchemaDSN(tb, "ledger_pg_test_")
}

// TestGroupCommitFailingOp puts ops into one batch (one writer, held on
// a row lock while they queue): the op whose statement fails gets its
// own error, an op whose statement returns no row gets ledger.ErrNoRow,
// and the others commit, before and after the failing one.
func TestGroupCommitFailingOp(t *testing.T) {
	testutil.CheckGoroutines(t)
	dsn := testDSN(t)
	ctx := context.Background()
	s, err := Open(ctx, dsn, Config{Writers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE t (k TEXT PRIMARY KEY, v BIGINT NOT NULL CHECK (v >= 0));
INSERT INTO t VALUES ('lock', 0)`); err != nil {
		t.Fatal(err)
	}
	// Hold the row the first op updates: the writer blocks on it while
	// the next ops queue up behind it.
	lock, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.Exec(ctx, `SELECT v FROM t WHERE k = 'lock' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	type result struct {
		k   string
		err error
	}
	// marker names this test's statement among the server's sessions
	// (other test runs may share the server).
	marker := fmt.Sprintf("gc-%d", rand.Int64())
	first := make(chan error, 1)
	go func() {
		var k string
		first <- s.QueryOne(ctx, "0", `UPDATE t SET v = v + 1 WHERE k = 'lock' /* `+marker+` */ RETURNING k`, nil, &k)
	}()
	// The writer has taken the first op once its statement waits on the
	// row lock; an empty queue alone could mean the op was not sent yet.
	testutil.WaitFor(t, "the writer to block on the first op", func() bool {
		// pg_stat_activity is a snapshot kept until the end of the
		// transaction asking; drop it so each look sees the present.
		if _, err := lock.Exec(ctx, `SELECT pg_stat_clear_snapshot()`); err != nil {
			return false
		}
		var n int
		err := lock.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
WHERE wait_event_type = 'Lock' AND query LIKE '%' || $1 || '%' AND pid <> pg_backend_pid()`, marker).Scan(&n)
		return err == nil && n == 1
	})
	ops := []struct {
		order, k string
		v        int64
		want     error // nil, ledger.ErrNoRow, or a check violation
	}{
		{"a", "a", 1, nil},
		{"b", "b", -1, errCheck}, // CHECK (v >= 0) fails
		{"c", "c", 3, nil},
		{"d", "d", 4, ledger.ErrNoRow}, // inserts nothing
		{"e", "e", 5, nil},
	}
	results := make([]chan result, len(ops))
	// Queue them out of order: the writer sorts a batch by order.
	for i := len(ops) - 1; i >= 0; i-- {
		op := ops[i]
		results[i] = make(chan result, 1)
		go func() {
			q := `INSERT INTO t (k, v) VALUES ($1, $2) RETURNING k`
			if op.want == ledger.ErrNoRow {
				q = `INSERT INTO t (k, v) SELECT $1, $2 WHERE false RETURNING k`
			}
			var k string
			err := s.QueryOne(ctx, op.order, q, []any{op.k, op.v}, &k)
			results[i] <- result{k, err}
		}()
	}
	testutil.WaitFor(t, "the ops to queue", func() bool { return len(s.queue) == len(ops) })
	if err := lock.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-first; err != nil {
		t.Fatalf("first op: %v", err)
	}
	for i, op := range ops {
		r := <-results[i]
		switch {
		case op.want == nil && (r.err != nil || r.k != op.k):
			t.Errorf("op %s: %q %v, want success", op.k, r.k, r.err)
		case op.want == ledger.ErrNoRow && !errors.Is(r.err, ledger.ErrNoRow):
			t.Errorf("op %s: %v, want ErrNoRow", op.k, r.err)
		case op.want == errCheck:
			var pe *pgconn.PgError
			if !errors.As(r.err, &pe) || pe.Code != "23514" {
				t.Errorf("op %s: %v, want a check violation", op.k, r.err)
			}
		}
	}
	rows, err := conn.Query(ctx, `SELECT k FROM t WHERE k <> 'lock' ORDER BY k`)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(keys, ",") != "a,c,e" {
		t.Fatalf("committed %v, want a, c and e", keys)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var k string
	if err := s.QueryOne(ctx, "x", `SELECT 'x'`, nil, &k); !errors.Is(err, ledger.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

var errCheck = errors.New("check violation")
