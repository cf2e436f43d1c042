package ledger_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"ipcs/internal/clock"
	"ipcs/internal/money"
	"ipcs/internal/sqldb"
	"ipcs/internal/testutil"
	"ipcs/ledger"
	"ipcs/ledger/postgres"
	"ipcs/ledger/sqlite"
	"ipcs/metrics"
)

// backend opens stores of one kind on one database for a test.
type backend struct {
	name string
	// open returns a new Store on the test's database; several calls
	// share it (two nodes).
	open func(tb testing.TB) ledger.Store
	// exec runs raw SQL on the database, to tamper with it.
	exec func(tb testing.TB, q string)
}

// backendKinds names the backends every behaviour test runs against;
// the benchmarks run bench, the store as the daemon configures it.
var backendKinds = []struct {
	name      string
	mk, bench func(testing.TB) backend
}{
	{"sqlite", sqliteBackend, sqliteWith(sqlite.Config{})},
	{"postgres", postgresBackend, postgresBackend},
}

// sqliteBackend indexes every few rows behind the writes (instead of
// every 4096), so that the tests' reads of one account meet both the
// index tables and the tail above them.
var sqliteBackend = sqliteWith(sqlite.Config{IndexRows: 3})

func sqliteWith(cfg sqlite.Config) func(testing.TB) backend {
	return func(tb testing.TB) backend {
		tb.Helper()
		return openSQLite(tb, cfg)
	}
}

func openSQLite(tb testing.TB, cfg sqlite.Config) backend {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "ledger.db")
	db, err := sqldb.Open(context.Background(), path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return backend{
		name: "sqlite",
		open: func(tb testing.TB) ledger.Store {
			s, err := sqlite.Open(context.Background(), db, cfg, nil)
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(func() { s.Close() })
			return s
		},
		exec: func(tb testing.TB, q string) {
			if _, err := db.Exec(q); err != nil {
				tb.Fatal(err)
			}
		},
	}
}

// pgSchemaDSN creates a schema of its own for tb on the test PostgreSQL
// and returns an address whose search_path selects it; the schema is
// dropped when tb ends.
func pgSchemaDSN(tb testing.TB) string {
	tb.Helper()
	return testutil.PostgresSchemaDSN(tb, "ledger_test_")
}

func postgresBackend(tb testing.TB) backend {
	tb.Helper()
	dsn := pgSchemaDSN(tb)
	return backend{
		name: "postgres",
		open: func(tb testing.TB) ledger.Store {
			s, err := postgres.Open(context.Background(), dsn, postgres.Config{})
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(func() { s.Close() })
			return s
		},
		exec: func(tb testing.TB, q string) {
			ctx := context.Background()
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				tb.Fatal(err)
			}
			defer conn.Close(ctx)
			if _, err := conn.Exec(ctx, q); err != nil {
				tb.Fatal(err)
			}
		},
	}
}

// forEachBackend runs fn once per backend, as subtests named after them.
func forEachBackend(t *testing.T, fn func(t *testing.T, be backend)) {
	for _, k := range backendKinds {
		t.Run(k.name, func(t *testing.T) {
			testutil.CheckGoroutines(t) // the SQLite writer and the pgx pool must stop
			fn(t, k.mk(t))
		})
	}
}

// fixture is a ledger on a backend with a fake clock, a facility and one
// funded account.
type fixture struct {
	be  backend
	l   *ledger.Ledger
	clk *clock.Fake
	m   *metrics.Metrics
}

var t0 = time.Date(2026, 1, 7, 15, 0, 0, 0, time.UTC) // a Wednesday

func newFixture(t *testing.T, be backend, cfg ledger.Config) *fixture {
	t.Helper()
	clk := clock.NewFake(t0)
	m := metrics.New()
	l, err := ledger.New(be.open(t), cfg, clk, m.Ledger)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{be: be, l: l, clk: clk, m: m}
}

func (f *fixture) account(t *testing.T, id, facility string, balance money.Amount) {
	t.Helper()
	ctx := context.Background()
	if err := f.l.OpenAccount(ctx, ledger.Account{ID: id, Facility: facility}); err != nil {
		t.Fatal(err)
	}
	if balance > 0 {
		if _, err := f.l.TransferFromTrust(ctx, ledger.TransferRequest{Key: "seed:" + id, AccountID: id, Amount: balance, StaffID: "test"}); err != nil {
			t.Fatal(err)
		}
	}
}

func (f *fixture) balance(t *testing.T, id string) ledger.Balance {
	t.Helper()
	b, err := f.l.Balance(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (f *fixture) checkClean(t *testing.T) ledger.CheckReport {
	t.Helper()
	rep, err := f.l.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Clean() {
		t.Fatalf("check found differences: %+v", rep.Differences)
	}
	var sum money.Amount
	for _, v := range rep.Totals {
		sum += v
	}
	if sum != 0 {
		t.Fatalf("journal totals do not balance: %v", rep.Totals)
	}
	return rep
}
