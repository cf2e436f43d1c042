package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"ipcs/internal/money"
	"ipcs/ledger"
)

var ctx = context.Background()

func usd(s string) money.Amount {
	a, err := money.Parse(s, 6)
	if err != nil {
		panic(err)
	}
	return a
}

func TestDeposit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		f := newFixture(t, be, ledger.Config{})
		f.account(t, "r1", "fac", 0)
		dep := func(key, amt string) (ledger.Receipt, error) {
			return f.l.Deposit(ctx, ledger.DepositRequest{Key: key, AccountID: "r1", Amount: usd(amt), DepositorID: "v1"})
		}
		steps := []struct {
			name, key, amt string
			err            error
			replay         bool
		}{
			{"first", "k1", "20.00", nil, false},
			{"retry lands once", "k1", "20.00", nil, true},
			{"same key other amount", "k1", "21.00", ledger.ErrIdempotencyConflict, false},
			{"above per-transaction max", "k2", "50.01", ledger.ErrPerTransactionLimit, false},
			{"at per-transaction max", "k3", "50.00", nil, false},
		}
		var first ledger.Receipt
		for _, s := range steps {
			rc, err := dep(s.key, s.amt)
			if !errors.Is(err, s.err) {
				t.Fatalf("%s: err %v, want %v", s.name, err, s.err)
			}
			if err == nil && rc.Replayed != s.replay {
				t.Fatalf("%s: replayed %v, want %v", s.name, rc.Replayed, s.replay)
			}
			if s.name == "first" {
				first = rc
			}
			if s.replay && (rc.ID != first.ID || rc.Amount != first.Amount || !rc.At.Equal(first.At)) {
				t.Fatalf("replay %+v differs from first %+v", rc, first)
			}
		}
		if b := f.balance(t, "r1"); b.Available != usd("70") {
			t.Fatalf("available %s, want 70.00", b.Available)
		}
		if _, err := f.l.Deposit(ctx, ledger.DepositRequest{Key: "k9", AccountID: "nobody", Amount: usd("1"), DepositorID: "v1"}); !errors.Is(err, ledger.ErrNotFound) {
			t.Fatalf("deposit to unknown account: %v", err)
		}
		for _, bad := range []money.Amount{0, -1, ledger.MaxAmount + 1} {
			if _, err := f.l.Deposit(ctx, ledger.DepositRequest{Key: "kb", AccountID: "r1", Amount: bad, DepositorID: "v1"}); !errors.Is(err, ledger.ErrInvalid) {
				t.Fatalf("deposit %d: %v", bad, err)
			}
		}
		f.checkClean(t)
	})
}

// TestWeeklyLimitEdges deposits the weekly maximum during one calendar
// week and tries one more at Saturday 23:59:59 (refused) and at Sunday
// 00:00:00 (accepted), in the facility's zone, in two zones.
func TestWeeklyLimitEdges(t *testing.T) {
	zones := []struct {
		zone string
		// a Saturday in that zone
		sat time.Time
	}{
		{"America/Chicago", time.Date(2026, 3, 7, 0, 0, 0, 0, time.UTC)}, // the night before the DST change
		{"Asia/Kolkata", time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)},
	}
	forEachBackend(t, func(t *testing.T, be backend) {
		for _, z := range zones {
			t.Run(z.zone, func(t *testing.T) {
				f := newFixture(t, be, ledger.Config{})
				loc, _ := time.LoadLocation(z.zone)
				if err := f.l.SetFacility(ctx, ledger.Facility{ID: "fac", Zone: z.zone, DepositMax: usd("100"), WeeklyMax: usd("250")}); err != nil {
					t.Fatal(err)
				}
				acct := "r-" + z.zone
				f.account(t, acct, "fac", 0)
				y, m, d := z.sat.Date()
				sunday := time.Date(y, m, d-6, 0, 0, 0, 0, loc) // start of the week
				satLast := time.Date(y, m, d, 23, 59, 59, 0, loc)
				next := time.Date(y, m, d+1, 0, 0, 0, 0, loc)
				if !sunday.After(f.clk.Now()) {
					t.Fatalf("fixture clock %v is after %v", f.clk.Now(), sunday)
				}
				f.clk.Set(sunday) // first instant of the week counts
				deposit := func(key, amt string) error {
					_, err := f.l.Deposit(ctx, ledger.DepositRequest{Key: z.zone + key, AccountID: acct, Amount: usd(amt), DepositorID: "v1"})
					return err
				}
				if err := deposit("a", "100"); err != nil {
					t.Fatal(err)
				}
				if err := deposit("b", "100"); err != nil {
					t.Fatal(err)
				}
				if err := deposit("per-tx", "100.01"); !errors.Is(err, ledger.ErrPerTransactionLimit) {
					t.Fatalf("per-transaction: %v", err)
				}
				f.clk.Set(satLast)
				if err := deposit("c", "50.01"); !errors.Is(err, ledger.ErrWeeklyLimit) {
					t.Fatalf("Saturday 23:59:59 %s: %v, want weekly limit", z.zone, err)
				}
				if err := deposit("d", "50"); err != nil {
					t.Fatalf("Saturday up to the max: %v", err)
				}
				if err := deposit("e", "0.01"); !errors.Is(err, ledger.ErrWeeklyLimit) {
					t.Fatalf("Saturday above the max: %v", err)
				}
				f.clk.Set(next)
				if err := deposit("e2", "100"); err != nil {
					t.Fatalf("Sunday 00:00:00 %s: %v", z.zone, err)
				}
				if got := ledger.WeekStart(next, loc); !got.Equal(next) {
					t.Fatalf("WeekStart(%v) = %v", next, got)
				}
				f.checkClean(t)
			})
		}
	})
}

func TestReserveCommit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		f := newFixture(t, be, ledger.Config{})
		f.account(t, "r1", "fac", usd("10"))

		r, err := f.l.Reserve(ctx, ledger.ReserveRequest{Key: "s1", AccountID: "r1", SessionID: "call-1", Want: usd("4"), Min: usd("0.25")})
		if err != nil || r.Granted != usd("4") {
			t.Fatalf("reserve: %+v %v", r, err)
		}
		if r2, err := f.l.Reserve(ctx, ledger.ReserveRequest{Key: "s1", AccountID: "r1", SessionID: "call-1", Want: usd("4"), Min: usd("0.25")}); err != nil || r2.ID != r.ID || !r2.Replayed {
			t.Fatalf("reserve replay: %+v %v", r2, err)
		}
		if _, err := f.l.Reserve(ctx, ledger.ReserveRequest{Key: "s1", AccountID: "r1", SessionID: "call-1", Want: usd("5")}); !errors.Is(err, ledger.ErrIdempotencyConflict) {
			t.Fatalf("reserve conflict: %v", err)
		}
		// Want more than available: grant what is there.
		r3, err := f.l.Reserve(ctx, ledger.ReserveRequest{Key: "s2", AccountID: "r1", SessionID: "call-2", Want: usd("8"), Min: usd("1")})
		if err != nil || r3.Granted != usd("6") {
			t.Fatalf("partial reserve: %+v %v", r3, err)
		}
		if _, err := f.l.Reserve(ctx, ledger.ReserveRequest{Key: "s3", AccountID: "r1", Want: usd("1")}); !errors.Is(err, ledger.ErrInsufficientFunds) {
			t.Fatalf("reserve on empty: %v", err)
		}
		if b := f.balance(t, "r1"); b.Available != 0 || b.Held != usd("10") {
			t.Fatalf("balance %+v", b)
		}
		cdr := &ledger.CDR{SessionID: "call-1", Service: "audio", Facility: "fac", Destination: "+15551234567",
			TariffID: "t", TariffVersion: 3, Rate: usd("0.06"), IncrementFirst: 60, IncrementNext: 60, Cause: "bye"}
		if _, err := f.l.Commit(ctx, ledger.CommitRequest{ReservationID: r.ID, Amount: usd("4.01"), UsedSeconds: 60, CDR: cdr}); !errors.Is(err, ledger.ErrOverHold) {
			t.Fatalf("over-hold commit: %v", err)
		}
		rc, err := f.l.Commit(ctx, ledger.CommitRequest{ReservationID: r.ID, Amount: usd("0.18"), UsedSeconds: 150, CDR: cdr})
		if err != nil || rc.Charged != usd("0.18") || rc.Released != usd("3.82") || rc.Replayed {
			t.Fatalf("commit: %+v %v", rc, err)
		}
		rc2, err := f.l.Commit(ctx, ledger.CommitRequest{ReservationID: r.ID, Amount: usd("0.18"), UsedSeconds: 150, CDR: cdr})
		if err != nil || !rc2.Replayed || rc2.Charged != rc.Charged || rc2.Released != rc.Released || !rc2.At.Equal(rc.At) {
			t.Fatalf("commit replay: %+v %v", rc2, err)
		}
		if _, err := f.l.Commit(ctx, ledger.CommitRequest{ReservationID: r.ID, Amount: usd("0.12")}); !errors.Is(err, ledger.ErrIdempotencyConflict) {
			t.Fatalf("commit with another amount: %v", err)
		}
		if _, err := f.l.Extend(ctx, r.ID, usd("1")); !errors.Is(err, ledger.ErrReservationClosed) {
			t.Fatalf("extend after commit: %v", err)
		}
		if err := f.l.Release(ctx, r.ID); err != nil {
			t.Fatalf("release after commit: %v", err)
		}
		if err := f.l.Release(ctx, r3.ID); err != nil {
			t.Fatal(err)
		}
		if err := f.l.Release(ctx, "r-none"); !errors.Is(err, ledger.ErrNotFound) {
			t.Fatalf("release unknown: %v", err)
		}
		if _, err := f.l.Commit(ctx, ledger.CommitRequest{ReservationID: r3.ID, Amount: 1}); !errors.Is(err, ledger.ErrReservationClosed) {
			t.Fatalf("commit after release: %v", err)
		}
		if b := f.balance(t, "r1"); b.Available != usd("9.82") || b.Held != 0 {
			t.Fatalf("balance after commit %+v", b)
		}
		cdrs, _, err := f.l.CDRs(ctx, ledger.CDRQuery{AccountID: "r1"}, 0)
		if err != nil || len(cdrs) != 1 || cdrs[0].Amount != usd("0.18") || cdrs[0].ReservationID != r.ID || cdrs[0].TariffVersion != 3 || cdrs[0].BilledSeconds != 150 {
			t.Fatalf("CDRs %+v %v", cdrs, err)
		}
		if err := f.l.RecordCDR(ctx, ledger.CDR{SessionID: "visit-9", Service: "video", AccountID: "r1", Cause: "free"}); err != nil {
			t.Fatal(err)
		}
		st, err := f.l.Statement(ctx, "r1", ledger.StatementQuery{})
		if err != nil {
			t.Fatal(err)
		}
		var avail money.Amount
		for _, e := range st {
			avail += e.AvailableDelta()
		}
		if avail != usd("9.82") {
			t.Fatalf("statement sums to %s: %+v", avail, st)
		}
		rep := f.checkClean(t)
		if rep.Totals["revenue"] != usd("0.18") || rep.Totals["trust"] != -usd("10") {
			t.Fatalf("totals %v", rep.Totals)
		}
	})
}

func TestExtendCheckpointSettle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		f := newFixture(t, be, ledger.Config{HoldTTL: time.Minute})
		f.account(t, "r1", "fac", usd("3"))
		r, err := f.l.Reserve(ctx, ledger.ReserveRequest{Key: "s1", AccountID: "r1", SessionID: "call-1", Want: usd("1")})
		if err != nil {
			t.Fatal(err)
		}
		if !r.Expires.Equal(t0.Add(time.Minute)) {
			t.Fatalf("expires %v", r.Expires)
		}
		g, err := f.l.Extend(ctx, r.ID, usd("1.5"))
		if err != nil || g != usd("1.5") {
			t.Fatalf("extend: %s %v", g, err)
		}
		g, err = f.l.Extend(ctx, r.ID, usd("1"))
		if err != nil || g != usd("0.5") {
			t.Fatalf("partial extend: %s %v", g, err)
		}
		if g, err := f.l.Extend(ctx, r.ID, usd("1")); !errors.Is(err, ledger.ErrInsufficientFunds) || g != 0 {
			t.Fatalf("extend on empty: %s %v", g, err)
		}
		f.clk.Advance(50 * time.Second)
		if err := f.l.Checkpoint(ctx, r.ID, 50, usd("0.9")); err != nil {
			t.Fatal(err)
		}
		// The checkpoint pushed the expiry to t0+50s+1m.
		f.clk.Advance(59 * time.Second)
		if n, err := f.l.SettleStale(ctx); err != nil || n != 0 {
			t.Fatalf("settled a live reservation: %d %v", n, err)
		}
		f.clk.Advance(time.Second)
		if n, err := f.l.SettleStale(ctx); err != nil || n != 1 {
			t.Fatalf("settle: %d %v", n, err)
		}
		if n, err := f.l.SettleStale(ctx); err != nil || n != 0 {
			t.Fatalf("settle again: %d %v", n, err)
		}
		if _, err := f.l.Commit(ctx, ledger.CommitRequest{ReservationID: r.ID, Amount: usd("0.9")}); !errors.Is(err, ledger.ErrReservationClosed) {
			t.Fatalf("commit after settle: %v", err)
		}
		if err := f.l.Checkpoint(ctx, r.ID, 60, usd("1")); !errors.Is(err, ledger.ErrReservationClosed) {
			t.Fatalf("checkpoint after settle: %v", err)
		}
		if b := f.balance(t, "r1"); b.Available != usd("2.1") || b.Held != 0 {
			t.Fatalf("balance after settle %+v", b)
		}
		cdrs, _, _ := f.l.CDRs(ctx, ledger.CDRQuery{AccountID: "r1"}, 0)
		if len(cdrs) != 1 || cdrs[0].Cause != "settled" || cdrs[0].Amount != usd("0.9") || cdrs[0].BilledSeconds != 50 {
			t.Fatalf("settlement CDR %+v", cdrs)
		}
		f.checkClean(t)
	})
}

func TestRecoverOwnNodeOnly(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		a := newFixture(t, be, ledger.Config{NodeID: "a"})
		b, err := ledger.New(be.open(t), ledger.Config{NodeID: "b"}, a.clk, nil)
		if err != nil {
			t.Fatal(err)
		}
		a.account(t, "r1", "fac", usd("10"))
		ra, _ := a.l.Reserve(ctx, ledger.ReserveRequest{Key: "a1", AccountID: "r1", Want: usd("2")})
		rb, _ := b.Reserve(ctx, ledger.ReserveRequest{Key: "b1", AccountID: "r1", Want: usd("3")})
		if err := a.l.Checkpoint(ctx, ra.ID, 10, usd("0.5")); err != nil {
			t.Fatal(err)
		}
		// Node a restarts: a new Ledger with the same NodeID.
		a2, err := ledger.New(be.open(t), ledger.Config{NodeID: "a"}, a.clk, nil)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := a2.Recover(ctx); err != nil || n != 1 {
			t.Fatalf("recover: %d %v", n, err)
		}
		// 10 - 2 (a) - 3 (b) + 1.5 (a's hold less its checkpoint)
		if bal := a.balance(t, "r1"); bal.Available != usd("6.5") || bal.Held != usd("3") {
			t.Fatalf("balance after recover %+v", bal)
		}
		if _, err := b.Commit(ctx, ledger.CommitRequest{ReservationID: rb.ID, Amount: usd("1")}); err != nil {
			t.Fatalf("node b's live reservation: %v", err)
		}
		a.checkClean(t)
	})
}

func TestCreditChargeRefund(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		f := newFixture(t, be, ledger.Config{})
		if err := f.l.SetFacility(ctx, ledger.Facility{ID: "fac", Zone: "America/Los_Angeles"}); err != nil {
			t.Fatal(err)
		}
		f.account(t, "r1", "fac", usd("5"))
		if _, err := f.l.Charge(ctx, ledger.ChargeRequest{Key: "stamp1", AccountID: "r1", Amount: usd("5.01"), Service: "message"}); !errors.Is(err, ledger.ErrInsufficientFunds) {
			t.Fatalf("charge above balance: %v", err)
		}
		if _, err := f.l.Charge(ctx, ledger.ChargeRequest{Key: "stamp1", AccountID: "r1", Amount: usd("0.50"), Service: "message"}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.l.Credit(ctx, ledger.CreditRequest{Key: "rerate:call-1", AccountID: "r1", Amount: usd("0.25"), Reason: "re-rated tariff v3", Ref: "call-1"}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.l.Credit(ctx, ledger.CreditRequest{Key: "x", AccountID: "r1", Amount: usd("1")}); !errors.Is(err, ledger.ErrInvalid) {
			t.Fatalf("credit without reason: %v", err)
		}
		refund := func(key string) (ledger.Receipt, error) {
			return f.l.ReleaseRefund(ctx, ledger.RefundRequest{Key: key, AccountID: "r1", StaffID: "admin"})
		}
		if _, err := refund("early"); !errors.Is(err, ledger.ErrAccountActive) {
			t.Fatalf("refund while held: %v", err)
		}
		release := time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC) // a day
		if err := f.l.ReleaseAccount(ctx, "r1", release); err != nil {
			t.Fatal(err)
		}
		if _, err := f.l.Deposit(ctx, ledger.DepositRequest{Key: "d", AccountID: "r1", Amount: usd("1"), DepositorID: "v"}); !errors.Is(err, ledger.ErrAccountReleased) {
			t.Fatalf("deposit after release: %v", err)
		}
		if _, err := f.l.Reserve(ctx, ledger.ReserveRequest{Key: "s", AccountID: "r1", Want: usd("1")}); !errors.Is(err, ledger.ErrAccountReleased) {
			t.Fatalf("reserve after release: %v", err)
		}
		if _, err := f.l.TransferFromTrust(ctx, ledger.TransferRequest{Key: "t", AccountID: "r1", Amount: usd("1")}); !errors.Is(err, ledger.ErrAccountReleased) {
			t.Fatalf("transfer after release: %v", err)
		}
		la, _ := time.LoadLocation("America/Los_Angeles")
		steps := []struct {
			name string
			at   time.Time
			err  error
		}{
			{"day 29 at 23:59 local", time.Date(2026, 4, 2, 23, 59, 0, 0, la), ledger.ErrRefundWindow},
			{"day 30 at 00:00 local", time.Date(2026, 4, 3, 0, 0, 0, 0, la), nil},
		}
		for _, s := range steps {
			f.clk.Set(s.at)
			rc, err := refund("refund-" + s.name)
			if !errors.Is(err, s.err) {
				t.Fatalf("%s: %v, want %v", s.name, err, s.err)
			}
			if err == nil && rc.Amount != usd("4.75") {
				t.Fatalf("refund %s", rc.Amount)
			}
		}
		if _, err := refund("again"); !errors.Is(err, ledger.ErrInsufficientFunds) {
			t.Fatalf("second refund: %v", err)
		}
		// A credit after the refund, then the last day of the window.
		if _, err := f.l.Credit(ctx, ledger.CreditRequest{Key: "late", AccountID: "r1", Amount: usd("1"), Reason: "failed visit"}); err != nil {
			t.Fatal(err)
		}
		f.clk.Set(time.Date(2027, 3, 4, 23, 0, 0, 0, la))
		if _, err := refund("last-day"); err != nil {
			t.Fatalf("last day: %v", err)
		}
		f.clk.Set(time.Date(2027, 3, 5, 0, 0, 0, 0, la))
		if _, err := f.l.Credit(ctx, ledger.CreditRequest{Key: "late2", AccountID: "r1", Amount: usd("1"), Reason: "failed visit"}); err != nil {
			t.Fatal(err)
		}
		if _, err := refund("too-late"); !errors.Is(err, ledger.ErrRefundWindow) {
			t.Fatalf("after 12 months: %v", err)
		}
		rep := f.checkClean(t)
		if rep.Totals["refunds"] != usd("5.75") {
			t.Fatalf("totals %v", rep.Totals)
		}
	})
}

func TestCheckFindsTampering(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		f := newFixture(t, be, ledger.Config{})
		f.account(t, "r1", "fac", usd("5"))
		f.checkClean(t)
		be.exec(t, `UPDATE ledger_accounts SET available = available + 1000000 WHERE id = 'r1'`)
		rep, err := f.l.Check(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Differences) != 1 || rep.Differences[0].Field != "available" || rep.Differences[0].Cached-rep.Differences[0].Journal != money.Dollar {
			t.Fatalf("differences %+v", rep.Differences)
		}
		if got := gauge(t, f, "ipcs_ledger_check_differences"); got != 1 {
			t.Fatalf("gauge %v", got)
		}
		// The journal is append-only.
		func() {
			defer func() { recover() }()
			tb := &fatalRecorder{TB: t}
			be.exec(tb, `DELETE FROM ledger_journal`)
			if !tb.failed {
				t.Fatal("journal rows could be deleted")
			}
		}()
	})
}

// fatalRecorder turns Fatal into a recorded failure and a panic, to
// assert that a helper fails.
type fatalRecorder struct {
	testing.TB
	failed bool
}

func (f *fatalRecorder) Fatal(args ...any) { f.failed = true; panic(fmt.Sprint(args...)) }

func gauge(t *testing.T, f *fixture, name string) float64 {
	t.Helper()
	fams, err := f.m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range fams {
		if fam.GetName() == name {
			return fam.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return -1
}
