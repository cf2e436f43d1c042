package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"ipcs/internal/sqldb"
	"ipcs/internal/testutil"
	"ipcs/ledger"
	"ipcs/metrics"
)

func openTestStore(t *testing.T, cfg Config, m *metrics.Ledger) *Store {
	t.Helper()
	ctx := context.Background()
	db, err := sqldb.Open(ctx, filepath.Join(t.TempDir(), "l.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := Open(ctx, db, cfg, m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestBatchesGroupWithinMaxBatch runs many concurrent callers, each
// queueing its next operation as soon as the last is answered (what the
// writer lingers for): operations share batches, no batch carries more
// than MaxBatch, every operation is answered once and its write kept.
func TestBatchesGroupWithinMaxBatch(t *testing.T) {
	testutil.CheckGoroutines(t)
	m := metrics.New().Ledger
	s := openTestStore(t, Config{MaxBatch: 4}, m)
	ctx := context.Background()
	const callers, each = 32, 20
	var wg sync.WaitGroup
	errs := make(chan error, callers*each)
	for c := 0; c < callers; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				errs <- s.Update(ctx, func(ctx context.Context, tx ledger.Tx) error {
					_, err := tx.Exec(ctx, `INSERT INTO ledger_facilities (id, zone, deposit_max, weekly_max) VALUES (?, 'UTC', 1, 1)`,
						fmt.Sprintf("f%d-%d", c, i))
					return err
				})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := s.View(ctx, func(ctx context.Context, tx ledger.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM ledger_facilities`).Scan(&n)
	}); err != nil || n != callers*each {
		t.Fatalf("%d rows, %v", n, err)
	}
	var h dto.Metric
	if err := m.BatchSize.Write(&h); err != nil {
		t.Fatal(err)
	}
	count, sum := h.GetHistogram().GetSampleCount(), h.GetHistogram().GetSampleSum()
	if sum != callers*each {
		t.Fatalf("batches carried %v operations, want %d", sum, callers*each)
	}
	for _, b := range h.GetHistogram().GetBucket() {
		if b.GetUpperBound() == 4 && b.GetCumulativeCount() != count {
			t.Fatalf("%d of %d batches carried more than MaxBatch (4)", count-b.GetCumulativeCount(), count)
		}
	}
	if count >= callers*each {
		t.Fatalf("%d batches for %d operations: none shared", count, callers*each)
	}
}

// TestStmtCacheByText checks that the writer's statement cache finds a
// statement by a query equal to, but not the same string as, the one it
// was prepared with, and stays right when byText is emptied.
func TestStmtCacheByText(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (v INTEGER)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	raw, err := openRaw(path)
	if err != nil {
		t.Fatal(err)
	}
	wc := newWConn(raw)
	defer wc.close()
	err = func() error {
		const q = `INSERT INTO t (v) VALUES (?)`
		first, err := wc.stmt(q)
		if err != nil {
			return err
		}
		for i := 0; i < 2*maxByText+3; i++ {
			// A query built at run time: equal text, new bytes.
			built := strings.Clone(q)
			s, err := wc.stmt(built)
			if err != nil {
				return err
			}
			if s != first {
				return fmt.Errorf("query %d: another statement for the same text", i)
			}
			if len(wc.byText) > maxByText {
				return fmt.Errorf("byText holds %d entries, bound %d", len(wc.byText), maxByText)
			}
		}
		// Another text at a recycled address is never taken for q.
		other := `SELECT count(*) FROM t`
		s, err := wc.stmt(other)
		if err != nil {
			return err
		}
		if s == first || s.q != other {
			return fmt.Errorf("statement %q for %q", s.q, other)
		}
		if len(wc.stmts) != 2 {
			return fmt.Errorf("%d statements prepared, want 2", len(wc.stmts))
		}
		return nil
	}()
	if err != nil {
		t.Fatal(err)
	}
}
