package ledger_test

import (
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"ipcs/internal/clock"
	"ipcs/internal/money"
	"ipcs/internal/sqldb"
	"ipcs/internal/testutil"
	"ipcs/ledger"
	"ipcs/ledger/sqlite"
)

// TestTwoNodesOneAccount runs 2 ledger instances × 50 goroutines
// reserving, extending and committing against one account on one
// PostgreSQL (and, for comparison, on one SQLite file): the balance never
// goes below zero, every grant is backed, and Check is clean.
func TestTwoNodesOneAccount(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		clk := clock.NewFake(t0)
		var nodes [2]*ledger.Ledger
		for i := range nodes {
			l, err := ledger.New(be.open(t), ledger.Config{NodeID: fmt.Sprintf("n%d", i)}, clk, nil)
			if err != nil {
				t.Fatal(err)
			}
			nodes[i] = l
		}
		const start = 100 * money.Dollar
		if err := nodes[0].OpenAccount(ctx, ledger.Account{ID: "r1", Facility: "fac"}); err != nil {
			t.Fatal(err)
		}
		if _, err := nodes[0].TransferFromTrust(ctx, ledger.TransferRequest{Key: "seed", AccountID: "r1", Amount: start}); err != nil {
			t.Fatal(err)
		}
		var (
			mu              sync.Mutex
			granted, commit money.Amount
			refused         int
		)
		var wg sync.WaitGroup
		for n := range nodes {
			for g := 0; g < 50; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					l := nodes[n]
					for i := 0; i < 8; i++ {
						key := fmt.Sprintf("n%d-g%d-%d", n, g, i)
						r, err := l.Reserve(ctx, ledger.ReserveRequest{Key: key, AccountID: "r1", SessionID: key, Want: 40 * money.Cent, Min: 10 * money.Cent})
						if errors.Is(err, ledger.ErrInsufficientFunds) {
							mu.Lock()
							refused++
							mu.Unlock()
							continue
						}
						if err != nil {
							t.Error(err)
							return
						}
						more, err := l.Extend(ctx, r.ID, 20*money.Cent)
						if err != nil && !errors.Is(err, ledger.ErrInsufficientFunds) {
							t.Error(err)
							return
						}
						used := (r.Granted + more) / 2
						if _, err := l.Commit(ctx, ledger.CommitRequest{ReservationID: r.ID, Amount: used, UsedSeconds: 30}); err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						granted += r.Granted + more
						commit += used
						mu.Unlock()
					}
				}()
			}
		}
		wg.Wait()
		b, err := nodes[1].Balance(ctx, "r1")
		if err != nil {
			t.Fatal(err)
		}
		if b.Available < 0 || b.Held != 0 || b.Available != start-commit {
			t.Fatalf("balance %+v, want available %s (charged %s, granted %s)", b, start-commit, commit, granted)
		}
		if refused == 0 {
			t.Fatalf("no reservation was refused: the account was never drained (charged %s)", commit)
		}
		rep, err := nodes[0].Check(ctx)
		if err != nil || !rep.Clean() {
			t.Fatalf("check: %+v %v", rep.Differences, err)
		}
	})
}

// TestGroupCommit drives many concurrent operations through the SQLite
// writer, checks batches formed, and that Close stops the writer.
func TestGroupCommit(t *testing.T) {
	testutil.CheckGoroutines(t)
	path := filepath.Join(t.TempDir(), "l.db")
	db, err := sqldb.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, err := sqlite.Open(ctx, db, sqlite.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.New(st, ledger.Config{}, clock.NewFake(t0), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		id := fmt.Sprint("r", i)
		l.OpenAccount(ctx, ledger.Account{ID: id, Facility: "f"})
		l.TransferFromTrust(ctx, ledger.TransferRequest{Key: id, AccountID: id, Amount: 10 * money.Dollar})
	}
	var wg sync.WaitGroup
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				key := fmt.Sprintf("g%d-%d", g, i)
				r, err := l.Reserve(ctx, ledger.ReserveRequest{Key: key, AccountID: fmt.Sprint("r", g%10), Want: money.Cent})
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := l.Commit(ctx, ledger.CommitRequest{ReservationID: r.ID, Amount: money.Cent}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	rep, err := l.Check(ctx)
	if err != nil || !rep.Clean() || rep.Totals["revenue"] != 64*20*money.Cent {
		t.Fatalf("check %+v %v", rep, err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Reserve(ctx, ledger.ReserveRequest{Key: "late", AccountID: "r1", Want: 1}); !errors.Is(err, ledger.ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}

// TestOverload fills the writer's bounded queue while the database is
// locked by another connection: the excess is refused at once with
// ErrOverload, the rest lands once the lock is gone.
func TestOverload(t *testing.T) {
	testutil.CheckGoroutines(t)
	path := filepath.Join(t.TempDir(), "l.db")
	db, err := sqldb.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, err := sqlite.Open(ctx, db, sqlite.Config{QueueLen: 2, MaxBatch: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l, _ := ledger.New(st, ledger.Config{}, clock.NewFake(t0), nil)
	l.OpenAccount(ctx, ledger.Account{ID: "r1", Facility: "f"})
	// Hold SQLite's write lock from the shared connection.
	lock, err := db.BeginTx(ctx, &sql.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.Exec(`INSERT INTO ledger_facilities (id, zone, deposit_max, weekly_max) VALUES ('x', 'UTC', 1, 1)`); err != nil {
		t.Fatal(err)
	}
	const n = 10
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			_, err := l.Credit(ctx, ledger.CreditRequest{Key: fmt.Sprint("c", i), AccountID: "r1", Amount: money.Cent, Reason: "t"})
			errs <- err
		}()
	}
	overloaded := 0
	deadline := clock.Real{}.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for overloaded < n-3 {
		select {
		case err := <-errs:
			if !errors.Is(err, ledger.ErrOverload) {
				t.Fatalf("while locked: %v", err)
			}
			overloaded++
		case <-deadline.C():
			t.Fatalf("only %d overloads", overloaded)
		}
	}
	lock.Rollback()
	landed := 0
	for i := overloaded; i < n; i++ {
		switch err := <-errs; {
		case err == nil:
			landed++
		case !errors.Is(err, ledger.ErrOverload):
			t.Fatal(err)
		}
	}
	if b, _ := l.Balance(ctx, "r1"); landed == 0 || b.Available != money.Amount(landed)*money.Cent {
		t.Fatalf("landed %d, balance %+v", landed, b)
	}
}

// TestBatchWithFailingWrite runs, concurrently (so that SQLite groups
// them into shared batches), deposits of which most fail after writing
// (the weekly limit is checked after the balance is credited) alongside
// reservations that succeed: the failing ones leave no trace, the others
// all land, and Check is clean.
func TestBatchWithFailingWrite(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		f := newFixture(t, be, ledger.Config{})
		f.account(t, "dep", "fac", 0)
		f.account(t, "res", "fac", 100*money.Dollar)
		var (
			wg                sync.WaitGroup
			mu                sync.Mutex
			landed, overLimit int
		)
		for g := 0; g < 40; g++ {
			wg.Add(2)
			go func() {
				defer wg.Done()
				_, err := f.l.Deposit(ctx, ledger.DepositRequest{Key: fmt.Sprint("d", g), AccountID: "dep", Amount: 50 * money.Dollar, DepositorID: "v"})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					landed++
				case errors.Is(err, ledger.ErrWeeklyLimit):
					overLimit++
				default:
					t.Error(err)
				}
			}()
			go func() {
				defer wg.Done()
				key := fmt.Sprint("s", g)
				r, err := f.l.Reserve(ctx, ledger.ReserveRequest{Key: key, AccountID: "res", SessionID: key, Want: money.Dollar})
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := f.l.Commit(ctx, ledger.CommitRequest{ReservationID: r.ID, Amount: money.Cent,
					CDR: &ledger.CDR{SessionID: key, Service: "audio"}}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if landed != 6 || overLimit != 34 {
			t.Fatalf("%d deposits landed, %d over the limit; want 6 and 34", landed, overLimit)
		}
		if b := f.balance(t, "dep"); b.Available != 300*money.Dollar {
			t.Fatalf("deposit account %+v", b)
		}
		if b := f.balance(t, "res"); b.Available != 100*money.Dollar-40*money.Cent || b.Held != 0 {
			t.Fatalf("reserve account %+v", b)
		}
		f.checkClean(t)
	})
}

// TestSameKeyConcurrently reserves with one key from many goroutines at
// once (on PostgreSQL they race across group-commit batches, where the
// losers' statements fail on the key and their batches run again
// without them): every caller gets the one reservation, one hold is
// taken, and Check is clean.
func TestSameKeyConcurrently(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		f := newFixture(t, be, ledger.Config{})
		f.account(t, "r1", "fac", 10*money.Dollar)
		f.account(t, "r2", "fac", 10*money.Dollar)
		const n = 32
		ids := make(chan string, n)
		var wg sync.WaitGroup
		for g := 0; g < n; g++ {
			wg.Add(2)
			go func() {
				defer wg.Done()
				r, err := f.l.Reserve(ctx, ledger.ReserveRequest{Key: "same", AccountID: "r1", SessionID: "s", Want: money.Dollar})
				if err != nil {
					t.Error(err)
					return
				}
				ids <- r.ID
			}()
			go func() { // other accounts' ops share the batches
				defer wg.Done()
				key := fmt.Sprint("other", g)
				r, err := f.l.Reserve(ctx, ledger.ReserveRequest{Key: key, AccountID: "r2", SessionID: key, Want: money.Cent})
				if err == nil {
					_, err = f.l.Commit(ctx, ledger.CommitRequest{ReservationID: r.ID, Amount: money.Cent})
				}
				if err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		close(ids)
		first := ""
		for id := range ids {
			if first == "" {
				first = id
			}
			if id != first {
				t.Fatalf("two reservations for one key: %s and %s", first, id)
			}
		}
		if b := f.balance(t, "r1"); b.Held != money.Dollar || b.Available != 9*money.Dollar {
			t.Fatalf("balance %+v, want one dollar held", b)
		}
		if b := f.balance(t, "r2"); b.Held != 0 || b.Available != 10*money.Dollar-n*money.Cent {
			t.Fatalf("other account %+v", b)
		}
		f.checkClean(t)
	})
}

// TestKeyReuseAcrossKinds uses one idempotency key for operations of
// different kinds: the second is a conflict whichever path (the
// one-statement fast path or a transaction) runs it, and writes nothing.
func TestKeyReuseAcrossKinds(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		f := newFixture(t, be, ledger.Config{})
		f.account(t, "r1", "fac", 10*money.Dollar)
		if _, err := f.l.Credit(ctx, ledger.CreditRequest{Key: "k-credit", AccountID: "r1", Amount: money.Cent, Reason: "t"}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.l.Reserve(ctx, ledger.ReserveRequest{Key: "k-credit", AccountID: "r1", Want: money.Dollar}); !errors.Is(err, ledger.ErrIdempotencyConflict) {
			t.Fatalf("reserve with a credit's key: %v", err)
		}
		if _, err := f.l.Reserve(ctx, ledger.ReserveRequest{Key: "k-res", AccountID: "r1", Want: money.Dollar}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.l.Charge(ctx, ledger.ChargeRequest{Key: "k-res", AccountID: "r1", Amount: money.Cent, Service: "stamp"}); !errors.Is(err, ledger.ErrIdempotencyConflict) {
			t.Fatalf("charge with a reservation's key: %v", err)
		}
		if _, err := f.l.Deposit(ctx, ledger.DepositRequest{Key: "k-res", AccountID: "r1", Amount: money.Dollar, DepositorID: "v"}); !errors.Is(err, ledger.ErrIdempotencyConflict) {
			t.Fatalf("deposit with a reservation's key: %v", err)
		}
		if b := f.balance(t, "r1"); b.Available != 9*money.Dollar+money.Cent || b.Held != money.Dollar {
			t.Fatalf("balance %+v", b)
		}
		f.checkClean(t)
	})
}
