package ledger_test

import (
	"testing"

	"ipcs/internal/money"
	"ipcs/ledger"
)

// TestStaleHints changes an account and a reservation behind a Ledger's
// back (through a second node on the same database), so that the first
// node's hints of the available balance and of the hold are wrong: its
// next reserve must grant exactly what is available (a partial grant,
// not what the hint promised), its commit must release the extended
// hold, and Check stays clean (hint.go: a hint is only ever a condition).
func TestStaleHints(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		a := newFixture(t, be, ledger.Config{NodeID: "a"})
		b, err := ledger.New(be.open(t), ledger.Config{NodeID: "b"}, a.clk, nil)
		if err != nil {
			t.Fatal(err)
		}
		a.account(t, "r1", "fac", 10*money.Dollar)
		// a learns r1's balance (9.00 left) and r's hold (1.00).
		r, err := a.l.Reserve(ctx, ledger.ReserveRequest{Key: "k1", AccountID: "r1", SessionID: "s1", Want: money.Dollar})
		if err != nil || r.Granted != money.Dollar {
			t.Fatalf("reserve: %+v %v", r, err)
		}
		// b charges 8.50 and grows r's hold by 0.20 (to 1.20), leaving 0.30: both
		// hints of a are stale now.
		if _, err := b.Charge(ctx, ledger.ChargeRequest{Key: "c1", AccountID: "r1", Amount: 850 * money.Cent, Service: "stamps"}); err != nil {
			t.Fatal(err)
		}
		if g, err := b.Extend(ctx, r.ID, 20*money.Cent); err != nil || g != 20*money.Cent {
			t.Fatalf("extend: %s %v", g, err)
		}
		if got := a.balance(t, "r1"); got.Available != 30*money.Cent || got.Held != 120*money.Cent {
			t.Fatalf("before: %+v", got)
		}
		// a's hint says 9.00 available: the grant must be the 0.30 there is.
		r2, err := a.l.Reserve(ctx, ledger.ReserveRequest{Key: "k2", AccountID: "r1", SessionID: "s2", Want: money.Dollar, Min: money.Cent})
		if err != nil || r2.Granted != 30*money.Cent {
			t.Fatalf("reserve with a stale hint: %+v %v, want 0.30 granted", r2, err)
		}
		// a's hint says the hold is 1.00: the commit must release 1.20 - 0.50.
		rc, err := a.l.Commit(ctx, ledger.CommitRequest{ReservationID: r.ID, Amount: 50 * money.Cent, UsedSeconds: 60})
		if err != nil || rc.Released != 70*money.Cent {
			t.Fatalf("commit with a stale hint: %+v %v, want 0.70 released", rc, err)
		}
		// Replays still answer the first results.
		if rp, err := a.l.Reserve(ctx, ledger.ReserveRequest{Key: "k2", AccountID: "r1", SessionID: "s2", Want: money.Dollar, Min: money.Cent}); err != nil || !rp.Replayed || rp.ID != r2.ID {
			t.Fatalf("replay: %+v %v", rp, err)
		}
		if rp, err := a.l.Commit(ctx, ledger.CommitRequest{ReservationID: r.ID, Amount: 50 * money.Cent, UsedSeconds: 60}); err != nil || !rp.Replayed || rp.Released != 70*money.Cent {
			t.Fatalf("commit replay: %+v %v", rp, err)
		}
		if got := a.balance(t, "r1"); got.Available != 70*money.Cent || got.Held != 30*money.Cent {
			t.Fatalf("after: %+v, want 0.70 available and 0.30 held", got)
		}
		// The hint of 0.70 is right again, and a reserve beyond it fails.
		if _, err := a.l.Reserve(ctx, ledger.ReserveRequest{Key: "k3", AccountID: "r1", Want: money.Dollar, Min: money.Dollar}); err == nil {
			t.Fatal("reserve above the balance succeeded")
		}
		if r4, err := a.l.Reserve(ctx, ledger.ReserveRequest{Key: "k4", AccountID: "r1", Want: money.Dollar}); err != nil || r4.Granted != 70*money.Cent {
			t.Fatalf("reserve: %+v %v", r4, err)
		}
		if got := a.balance(t, "r1"); got.Available != 0 || got.Held != money.Dollar {
			t.Fatalf("end: %+v", got)
		}
		a.checkClean(t)
	})
}
