package ledger_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"ipcs/internal/clock"
	"ipcs/internal/money"
	"ipcs/ledger"
	"ipcs/ledger/postgres"
)

// pgLocks opens Ledgers on a PostgreSQL schema of the test's own, whose
// connections carry an application name of their own, so that the test
// can wait until one of them waits for a lock (waitLocked), and a
// raw connection to it that can hold row locks, as another node's
// transaction in flight does.
type pgLocks struct {
	dsn, app string
	raw, obs *pgx.Conn
}

func newPGLocks(t *testing.T) *pgLocks {
	t.Helper()
	dsn := pgSchemaDSN(t)
	app := fmt.Sprintf("ledger_test_%x", rand.Uint64())
	raw, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close(ctx) })
	obs, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { obs.Close(ctx) })
	return &pgLocks{dsn: dsn, app: app, raw: raw, obs: obs}
}

func (p *pgLocks) ledger(t *testing.T, node string, clk clock.Clock) *ledger.Ledger {
	t.Helper()
	s, err := postgres.Open(ctx, p.dsn+"&application_name="+p.app, postgres.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	l, err := ledger.New(s, ledger.Config{NodeID: node}, clk, nil)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// reservedAndHeld opens a Ledger (node "a", fake clock) with account r1
// of facility fac holding $10.00 and a $1.00 reservation for session
// call-1, and begins a raw transaction that holds r1's row, as another
// operation on the account in flight does for a moment.
func (p *pgLocks) reservedAndHeld(t *testing.T) (*ledger.Ledger, ledger.Reservation, pgx.Tx) {
	t.Helper()
	l := p.ledger(t, "a", clock.NewFake(t0))
	if err := l.OpenAccount(ctx, ledger.Account{ID: "r1", Facility: "fac"}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.TransferFromTrust(ctx, ledger.TransferRequest{Key: "seed", AccountID: "r1", Amount: 10 * money.Dollar}); err != nil {
		t.Fatal(err)
	}
	r, err := l.Reserve(ctx, ledger.ReserveRequest{Key: "k1", AccountID: "r1", SessionID: "call-1", Want: money.Dollar})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := p.raw.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback(ctx) })
	if _, err := tx.Exec(ctx, `SELECT 1 FROM ledger_accounts WHERE id = 'r1' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	return l, r, tx
}

// waitLocked waits until n of the Ledgers' connections wait for a lock.
func (p *pgLocks) waitLocked(t *testing.T, n int) {
	t.Helper()
	for i := 0; i < 2000; i++ {
		var got int
		if err := p.obs.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`, p.app).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got >= n {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("fewer than %d ledger connections wait for a lock", n)
}

// TestPGCommitRacingExtend: on PostgreSQL, a Commit (the one-statement
// fast path) that waited for its reservation while an Extend of the same
// reservation held it failed with a CHECK violation instead of committing
// (the extension was granted, the hold covers the amount): the statement
// computed the account's new hold from the row version it began with.
// Such a failure now sends the Commit down the Update path. The raw
// connection only holds the account row for a moment, as any other
// operation on the account in flight does, so that the Extend is still
// in progress when the Commit's statement starts.
func TestPGCommitRacingExtend(t *testing.T) {
	p := newPGLocks(t)
	l, r, tx := p.reservedAndHeld(t)
	type extended struct {
		g   money.Amount
		err error
	}
	ext := make(chan extended, 1)
	go func() {
		g, err := l.Extend(ctx, r.ID, 20*money.Cent) // holds the reservation, waits for the account
		ext <- extended{g, err}
	}()
	p.waitLocked(t, 1)
	type committed struct {
		rc  ledger.CommitReceipt
		err error
	}
	com := make(chan committed, 1)
	go func() {
		rc, err := l.Commit(ctx, ledger.CommitRequest{ReservationID: r.ID, Amount: 50 * money.Cent, UsedSeconds: 60})
		com <- committed{rc, err}
	}()
	p.waitLocked(t, 2) // the commit waits for the reservation
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	e := <-ext
	c := <-com
	if e.err != nil || e.g != 20*money.Cent {
		t.Fatalf("extend: %s %v", e.g, e.err)
	}
	if c.err != nil {
		t.Fatalf("commit after a granted extension: %v", c.err)
	}
	if c.rc.Released != 70*money.Cent {
		t.Fatalf("commit %+v, want 0.70 released", c.rc)
	}
}

// TestPGCDRPagingSeesLateCommit: on PostgreSQL, a commit's CDR (and
// journal rows) took their seq (ids) before the statement waited for the
// resident's account row, which another operation on the account held
// for a moment; a CDR of the same resident written meanwhile got a higher
// seq and committed first, and a reader paging the resident's CDRs by the
// seq cursor passed the late one for good. Now both wait for the row and
// take their seq in turn.
func TestPGCDRPagingSeesLateCommit(t *testing.T) {
	p := newPGLocks(t)
	l, r, tx := p.reservedAndHeld(t)
	committed := make(chan error, 1)
	go func() {
		_, err := l.Commit(ctx, ledger.CommitRequest{ReservationID: r.ID, Amount: 30 * money.Cent, UsedSeconds: 60,
			CDR: &ledger.CDR{SessionID: "call-1", Service: "audio", Facility: "fac", Cause: "bye"}})
		committed <- err
	}()
	p.waitLocked(t, 1)
	// A free session of the same resident ends meanwhile.
	recorded := make(chan error, 1)
	go func() {
		recorded <- l.RecordCDR(ctx, ledger.CDR{SessionID: "visit-1", Service: "video", Facility: "fac", AccountID: "r1", Cause: "free"})
	}()
	seen := map[string]bool{}
	page := func(after int64) int64 {
		cdrs, next, err := l.CDRs(ctx, ledger.CDRQuery{AccountID: "r1"}, after)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cdrs {
			seen[c.SessionID] = true
		}
		return next
	}
	// Page while one of the two may be committed and the other not.
	cursor := page(0)
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []chan error{committed, recorded} {
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
	for {
		next := page(cursor)
		if next == cursor {
			break
		}
		cursor = next
	}
	all, _, err := l.CDRs(ctx, ledger.CDRQuery{AccountID: "r1"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 {
		t.Fatalf("%d CDRs stored, want 2", len(all))
	}
	for _, c := range all {
		if !seen[c.SessionID] {
			t.Errorf("CDR %s never paged: %d CDRs stored, %d seen", c.SessionID, len(all), len(seen))
		}
	}
}

// TestReplayReturnsTheFirstInstant: a retried deposit, commit or reserve
// returns the first result; with a clock that has nanoseconds (the real
// clock always has), the first answer carried them and the replay, read
// back from the microsecond columns, did not. The Ledger now takes its
// time at the microsecond.
func TestReplayReturnsTheFirstInstant(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		f := newFixture(t, be, ledger.Config{})
		f.clk.Set(t0.Add(123456789 * time.Nanosecond))
		f.account(t, "r1", "fac", 10*money.Dollar)
		dep := ledger.DepositRequest{Key: "d1", AccountID: "r1", Amount: money.Dollar, DepositorID: "v1"}
		first, err := f.l.Deposit(ctx, dep)
		if err != nil {
			t.Fatal(err)
		}
		again, err := f.l.Deposit(ctx, dep)
		if err != nil || !again.Replayed {
			t.Fatalf("replay %+v %v", again, err)
		}
		if !again.At.Equal(first.At) {
			t.Errorf("deposit: first answer at %s, replay at %s", first.At.Format(time.RFC3339Nano), again.At.Format(time.RFC3339Nano))
		}
		req := ledger.ReserveRequest{Key: "s1", AccountID: "r1", SessionID: "call-1", Want: money.Dollar}
		r, err := f.l.Reserve(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := f.l.Reserve(ctx, req)
		if err != nil || !r2.Replayed {
			t.Fatalf("reserve replay %+v %v", r2, err)
		}
		if !r2.Expires.Equal(r.Expires) {
			t.Errorf("reserve: first answer expires %s, replay %s", r.Expires.Format(time.RFC3339Nano), r2.Expires.Format(time.RFC3339Nano))
		}
		rc, err := f.l.Commit(ctx, ledger.CommitRequest{ReservationID: r.ID, Amount: 10 * money.Cent})
		if err != nil {
			t.Fatal(err)
		}
		rc2, err := f.l.Commit(ctx, ledger.CommitRequest{ReservationID: r.ID, Amount: 10 * money.Cent})
		if err != nil || !rc2.Replayed {
			t.Fatalf("commit replay %+v %v", rc2, err)
		}
		if !rc2.At.Equal(rc.At) {
			t.Errorf("commit: first answer at %s, replay at %s", rc.At.Format(time.RFC3339Nano), rc2.At.Format(time.RFC3339Nano))
		}
	})
}

// TestSettledCDRNamesTheFacility: the CDR that SettleStale stored for a
// session it charged named no facility, so a facility's CDRs (the export
// of a facility-scoped admin) left out sessions charged by settlement.
func TestSettledCDRNamesTheFacility(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		f := newFixture(t, be, ledger.Config{HoldTTL: time.Minute})
		f.account(t, "r1", "fac", 10*money.Dollar)
		r, err := f.l.Reserve(ctx, ledger.ReserveRequest{Key: "s1", AccountID: "r1", SessionID: "call-1", Want: money.Dollar})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.l.Checkpoint(ctx, r.ID, 30, 25*money.Cent); err != nil {
			t.Fatal(err)
		}
		f.clk.Advance(2 * time.Minute)
		if n, err := f.l.SettleStale(ctx); err != nil || n != 1 {
			t.Fatalf("settle %d %v", n, err)
		}
		mine, _, err := f.l.CDRs(ctx, ledger.CDRQuery{AccountID: "r1"}, 0)
		if err != nil || len(mine) != 1 || mine[0].Amount != 25*money.Cent {
			t.Fatalf("account CDRs %+v %v", mine, err)
		}
		fac, _, err := f.l.CDRs(ctx, ledger.CDRQuery{Facility: "fac"}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(fac) != 1 {
			t.Errorf("facility fac lists %d CDRs; the settled session (charged %s) has facility %q", len(fac), mine[0].Amount, mine[0].Facility)
		}
	})
}

// TestPGStatementPagingSeesEveryEntry: on PostgreSQL, a resident's
// statement paged by its cursor (StatementQuery.After, the API's
// next_after) while sessions of that resident kept committing left 5–10 %
// of the entries out: a commit's journal rows took their ids before the
// commit statement locked the account row, so rows with lower ids became
// visible after rows with higher ones. Only ledger operations run; no
// lock is held by the test.
func TestPGStatementPagingSeesEveryEntry(t *testing.T) {
	p := newPGLocks(t)
	l := p.ledger(t, "a", clock.NewFake(t0))
	if err := l.OpenAccount(ctx, ledger.Account{ID: "r1", Facility: "fac"}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.TransferFromTrust(ctx, ledger.TransferRequest{Key: "seed", AccountID: "r1", Amount: 100 * money.Dollar}); err != nil {
		t.Fatal(err)
	}
	var (
		wg   sync.WaitGroup
		done = make(chan struct{})
	)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 60; i++ {
				key := fmt.Sprintf("g%d-%d", g, i)
				r, err := l.Reserve(ctx, ledger.ReserveRequest{Key: key, AccountID: "r1", SessionID: key, Want: money.Cent})
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := l.Commit(ctx, ledger.CommitRequest{ReservationID: r.ID, Amount: money.Cent / 2}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	var (
		paged []int64
		after int64
	)
	next := func() int {
		es, err := l.Statement(ctx, "r1", ledger.StatementQuery{After: after, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			paged = append(paged, e.ID)
			after = e.ID
		}
		return len(es)
	}
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		next()
	}
	for next() > 0 {
	}
	if t.Failed() {
		t.FailNow()
	}
	var stored []int64
	rows, err := p.obs.Query(ctx, `SELECT id FROM ledger_journal WHERE account_id = 'r1' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		stored = append(stored, id)
	}
	rows.Close()
	seen := map[int64]bool{}
	for _, id := range paged {
		seen[id] = true
	}
	var missed []int64
	for _, id := range stored {
		if !seen[id] {
			missed = append(missed, id)
		}
	}
	if len(missed) > 0 {
		t.Fatalf("paging the statement by its cursor returned %d of the %d entries; never returned: %v", len(paged), len(stored), missed)
	}
}
