package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"ipcs/internal/clock"
	"ipcs/internal/money"
	"ipcs/internal/sqldb"
	"ipcs/ledger"
)

const behindAccounts = 5

// behindFixture is a Ledger on a Store that indexes behind the writes
// every indexRows rows, on a file the test can read directly.
type behindFixture struct {
	db *sqldb.DB
	s  *Store
	l  *ledger.Ledger
}

func openBehind(t *testing.T, path string, indexRows int) *behindFixture {
	t.Helper()
	ctx := context.Background()
	db, err := sqldb.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, db, Config{IndexRows: indexRows}, nil)
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	l, err := ledger.New(s, ledger.Config{}, clock.Real{}, nil)
	if err != nil {
		s.Close()
		db.Close()
		t.Fatal(err)
	}
	f := &behindFixture{db: db, s: s, l: l}
	t.Cleanup(f.close)
	return f
}

func (f *behindFixture) close() {
	if f.s != nil {
		f.s.Close()
		f.db.Close()
		f.s = nil
	}
}

// sessions runs n reserve+commit pairs with CDRs from 16 goroutines,
// spread over the accounts, after a seed transfer into each.
func (f *behindFixture) sessions(t *testing.T, prefix string, n int) {
	t.Helper()
	ctx := context.Background()
	for a := 0; a < behindAccounts; a++ {
		id := fmt.Sprintf("r%d", a)
		if err := f.l.OpenAccount(ctx, ledger.Account{ID: id, Facility: "f"}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.l.TransferFromTrust(ctx, ledger.TransferRequest{Key: prefix + "seed-" + id, AccountID: id, Amount: 1000 * money.Dollar}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += 16 {
				key := fmt.Sprintf("%s%d", prefix, i)
				r, err := f.l.Reserve(ctx, ledger.ReserveRequest{Key: key, AccountID: fmt.Sprintf("r%d", i%behindAccounts), SessionID: key, Want: money.Dollar})
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := f.l.Commit(ctx, ledger.CommitRequest{ReservationID: r.ID, Amount: 5 * money.Cent, UsedSeconds: 50,
					CDR: &ledger.CDR{SessionID: key, Service: "audio", Facility: "f", Cause: "bye", BilledSeconds: 50}}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

// ids runs q (one int64 column) on the file.
func (f *behindFixture) ids(t *testing.T, q string, args ...any) []int64 {
	t.Helper()
	rows, err := f.db.Query(q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func (f *behindFixture) one(t *testing.T, q string) int64 {
	t.Helper()
	v := f.ids(t, q)
	if len(v) != 1 {
		t.Fatalf("%s: %d rows", q, len(v))
	}
	return v[0]
}

// checkPostings checks the index tables against the rows they index:
// every row at or below its mark is in exactly one posting of its own
// account, and none above it is.
func (f *behindFixture) checkPostings(t *testing.T) {
	t.Helper()
	for _, c := range []struct{ table, posting, list, key, mark string }{
		{"ledger_journal", "ledger_journal_by_account", "entries", "id", "journal"},
		{"ledger_cdrs", "ledger_cdrs_by_account", "seqs", "seq", "cdrs"},
	} {
		mark := f.one(t, `SELECT upto FROM ledger_index_marks WHERE name = '`+c.mark+`'`)
		want := f.ids(t, `SELECT `+c.key+` FROM `+c.table+` WHERE `+c.key+` <= ? ORDER BY 1`, mark)
		got := f.ids(t, `SELECT r.`+c.key+` FROM `+c.posting+` p, json_each(p.`+c.list+`) e JOIN `+c.table+` r ON r.`+c.key+` = e.value
WHERE r.account_id = p.account AND e.value BETWEEN p.first AND p.last ORDER BY 1`)
		if !slices.Equal(got, want) {
			t.Fatalf("%s: postings hold %d rows, want the %d at or below mark %d", c.table, len(got), len(want), mark)
		}
		if n := f.one(t, `SELECT COUNT(*) FROM `+c.posting+` p, json_each(p.`+c.list+`) e`); n != int64(len(want)) {
			t.Fatalf("%s: %d posting entries for %d rows", c.table, n, len(want))
		}
	}
}

// checkReads pages through each account's statement and CDRs, in pages
// of 7, and compares them with the rows the file holds for it.
func (f *behindFixture) checkReads(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	for a := 0; a < behindAccounts; a++ {
		id := fmt.Sprintf("r%d", a)
		want := f.ids(t, `SELECT id FROM ledger_journal WHERE account_id = ? ORDER BY id`, id)
		var got []int64
		var after int64
		for {
			es, err := f.l.Statement(ctx, id, ledger.StatementQuery{After: after, Limit: 7})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range es {
				if e.AccountID != id {
					t.Fatalf("statement of %s holds an entry of %s", id, e.AccountID)
				}
				got = append(got, e.ID)
			}
			if len(es) < 7 {
				break
			}
			after = es[len(es)-1].ID
		}
		if !slices.Equal(got, want) {
			t.Fatalf("statement of %s: %d entries %v…, want %d %v…", id, len(got), head(got), len(want), head(want))
		}
		// A window of time: the second half of the account's rows.
		mid := f.one(t, fmt.Sprintf(`SELECT at_us FROM ledger_journal WHERE account_id = '%s' ORDER BY id LIMIT 1 OFFSET %d`, id, len(want)/2))
		wantWin := f.ids(t, `SELECT id FROM ledger_journal WHERE account_id = ? AND at_us >= ? ORDER BY id LIMIT 1000`, id, mid)
		es, err := f.l.Statement(ctx, id, ledger.StatementQuery{Since: time.UnixMicro(mid), Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		gotWin := make([]int64, 0, len(es))
		for _, e := range es {
			gotWin = append(gotWin, e.ID)
		}
		if !slices.Equal(gotWin, wantWin) {
			t.Fatalf("statement of %s since %d: %d entries, want %d", id, mid, len(gotWin), len(wantWin))
		}

		wantCDR := f.ids(t, `SELECT seq FROM ledger_cdrs WHERE account_id = ? ORDER BY seq`, id)
		var gotCDR []int64
		var cur int64
		for {
			cs, next, err := f.l.CDRs(ctx, ledger.CDRQuery{AccountID: id, Limit: 7}, cur)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range cs {
				if c.AccountID != id {
					t.Fatalf("CDRs of %s hold one of %s", id, c.AccountID)
				}
			}
			got := f.ids(t, `SELECT seq FROM ledger_cdrs WHERE account_id = ? AND seq > ? ORDER BY seq LIMIT 7`, id, cur)
			if len(got) != len(cs) {
				t.Fatalf("CDRs of %s after %d: %d, want %d", id, cur, len(cs), len(got))
			}
			gotCDR = append(gotCDR, got...)
			if len(cs) < 7 {
				break
			}
			cur = next
		}
		if !slices.Equal(gotCDR, wantCDR) {
			t.Fatalf("CDRs of %s: %d, want %d", id, len(gotCDR), len(wantCDR))
		}
	}
}

func head(v []int64) []int64 { return v[:min(len(v), 5)] }

// TestIndexesBehind writes sessions from many goroutines on a store that
// indexes every 50 rows: the postings stay exact, and every account's
// statement and CDRs, read page by page across the index and the tail,
// are its rows, no more, no fewer.
func TestIndexesBehind(t *testing.T) {
	f := openBehind(t, filepath.Join(t.TempDir(), "l.db"), 50)
	f.sessions(t, "s", 400)
	// More rows, one per batch, until one is left above the mark (the
	// first may complete a fill, if the sessions left 49 rows waiting).
	var mark, top int64
	for i := 0; mark == 0 || mark >= top; i++ {
		if i == 60 {
			t.Fatalf("journal mark %d, last id %d: want both postings and a tail", mark, top)
		}
		if _, err := f.l.TransferFromTrust(context.Background(), ledger.TransferRequest{Key: fmt.Sprint("last", i), AccountID: "r0", Amount: money.Dollar}); err != nil {
			t.Fatal(err)
		}
		mark = f.one(t, `SELECT upto FROM ledger_index_marks WHERE name = 'journal'`)
		top = f.one(t, `SELECT MAX(id) FROM ledger_journal`)
	}
	f.checkPostings(t)
	f.checkReads(t)
}

// TestOldFileIndexedAtOpen opens a file laid out as before the postings
// (SQL indexes on account_id, no index tables): Open drops the indexes,
// indexes the whole journal and every CDR, and reads are exact.
func TestOldFileIndexedAtOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l.db")
	f := openBehind(t, path, 1<<20)
	f.sessions(t, "s", 100)
	f.close()
	db, err := sqldb.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`DROP TABLE ledger_journal_by_account`, `DROP TABLE ledger_cdrs_by_account`, `DROP TABLE ledger_index_marks`,
		`CREATE INDEX ledger_journal_account ON ledger_journal (account_id, at_us)`,
		`CREATE INDEX ledger_cdrs_account ON ledger_cdrs (account_id, seq)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	f = openBehind(t, path, 1<<20)
	if n := f.one(t, `SELECT COUNT(*) FROM sqlite_master WHERE name IN ('ledger_journal_account', 'ledger_cdrs_account')`); n != 0 {
		t.Fatalf("%d old indexes left", n)
	}
	if mark, top := f.one(t, `SELECT upto FROM ledger_index_marks WHERE name = 'journal'`), f.one(t, `SELECT MAX(id) FROM ledger_journal`); mark != top {
		t.Fatalf("journal mark %d after open, want every row (%d)", mark, top)
	}
	f.checkPostings(t)
	f.checkReads(t)
}
