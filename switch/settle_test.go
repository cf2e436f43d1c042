package callswitch

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"ipcs/internal/money"
	"ipcs/internal/testutil"
	"ipcs/ledger"
	"ipcs/metrics"
)

// flakyLedger is the real ledger whose settling calls (Commit, Release,
// RecordCDR) fail the first fails[op] times with errs[op] before they
// reach it, as ledger/sqlite does with ledger.ErrOverload when its writer
// queue is full (ledger/postgres at MaxInFlight). It counts the calls.
type flakyLedger struct {
	Accounts
	// mu guards fails and calls.
	mu    sync.Mutex
	fails map[string]int
	errs  map[string]error
	calls map[string]int
}

func (l *flakyLedger) fail(op string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls[op]++
	if l.fails[op] == 0 {
		return nil
	}
	l.fails[op]--
	return l.errs[op]
}

func (l *flakyLedger) count(op string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls[op]
}

func (l *flakyLedger) Commit(ctx context.Context, req ledger.CommitRequest) (ledger.CommitReceipt, error) {
	if err := l.fail("commit"); err != nil {
		return ledger.CommitReceipt{}, err
	}
	return l.Accounts.Commit(ctx, req)
}

func (l *flakyLedger) Release(ctx context.Context, id string) error {
	if err := l.fail("release"); err != nil {
		return err
	}
	return l.Accounts.Release(ctx, id)
}

func (l *flakyLedger) RecordCDR(ctx context.Context, c ledger.CDR) error {
	if err := l.fail("record_cdr"); err != nil {
		return err
	}
	return l.Accounts.RecordCDR(ctx, c)
}

// TestSettleRetriesTemporaryLedgerFailures proves that a call's
// settlement survives a ledger that is briefly overloaded (or fails in a
// way it does not name): Commit, Release and RecordCDR are idempotent and
// made again after a short real-time backoff, so the answered call is
// charged what it used with its own CDR and the unanswered one releases
// its hold at once, instead of the hold staying frozen until the ledger's
// SettleStale (which charges only the last checkpoint and writes a bare
// "settled" CDR). A final refusal (ErrInvalid) is not retried, and a
// ledger that stays overloaded is given up on after
// ledger.RetryAttempts attempts, so Close never waits long for it.
func TestSettleRetriesTemporaryLedgerFailures(t *testing.T) {
	errDisk := errors.New("disk I/O error")
	tries := ledger.RetryAttempts
	for _, tc := range []struct {
		name     string
		answered bool
		op       string
		err      error
		fails    int
		calls    int  // of op
		settled  bool // closed by the switch, with its CDR
	}{
		{"commit overloaded once", true, "commit", ledger.ErrOverload, 1, 2, true},
		{"commit overloaded three times", true, "commit", ledger.ErrOverload, 3, 4, true},
		{"commit unnamed store error", true, "commit", errDisk, 1, 2, true},
		{"commit invalid is final", true, "commit", ledger.ErrInvalid, 1, 1, false},
		{"commit overloaded for good", true, "commit", ledger.ErrOverload, 100, tries, false},
		{"release overloaded", false, "release", ledger.ErrOverload, 2, 3, true},
		{"record CDR overloaded", false, "record_cdr", ledger.ErrOverload, 2, 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testutil.CheckGoroutines(t)
			e := newEnv(t, envOpts{trunk: scriptedTrunk()})
			led := &flakyLedger{Accounts: e.led,
				fails: map[string]int{tc.op: tc.fails}, errs: map[string]error{tc.op: tc.err}, calls: map[string]int{}}
			sw := flakySwitch(t, e, led)
			ph, err := NewPhone(PhoneConfig{Switch: sw.Addr(), PhoneID: "phone-101", Password: "demo"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ph.Close() })
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if tc.answered {
				pc, err := ph.Call(ctx, "1006", "+13125550123") // $0.10 at $0.06/min
				if err != nil {
					t.Fatal(err)
				}
				e.clk.Advance(20 * time.Second)
				if err := pc.Hangup(ctx); err != nil {
					t.Fatal(err)
				}
			} else if _, err := ph.Call(ctx, "1006", numBusy); callError(t, err).Status != 486 {
				t.Fatalf("busy call: %v", err)
			}
			e.eventually(func() bool { return sw.ActiveCalls() == 0 }, "the call to end")
			if n := led.count(tc.op); n != tc.calls {
				t.Errorf("%s called %d times, want %d", tc.op, n, tc.calls)
			}
			if tc.op == "record_cdr" && led.count("release") != 1 {
				t.Errorf("release called %d times, want once: it succeeded", led.count("release"))
			}
			b := e.balance("r-1006")
			cdrs, _, err := e.led.CDRs(context.Background(), ledger.CDRQuery{AccountID: "r-1006"}, 0)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.settled {
				if b.Held != 10*money.Cent || len(cdrs) != 0 {
					t.Errorf("held %v, %d CDRs: want the hold left to SettleStale", b.Held, len(cdrs))
				}
				return
			}
			want := ledger.CDR{Cause: "busy"}
			if tc.answered {
				want = ledger.CDR{Cause: "caller_hangup", BilledSeconds: 20, Amount: 2 * money.Cent}
			}
			if len(cdrs) != 1 || cdrs[0].Cause != want.Cause || cdrs[0].BilledSeconds != want.BilledSeconds ||
				cdrs[0].Amount != want.Amount || cdrs[0].Answered.IsZero() == tc.answered {
				t.Errorf("CDRs = %+v, want one %s, %d s, %s", cdrs, want.Cause, want.BilledSeconds, want.Amount)
			}
			if b.Held != 0 || b.Available != 10*money.Cent-want.Amount {
				t.Errorf("balance %v held %v, want %v and nothing held", b.Available, b.Held, 10*money.Cent-want.Amount)
			}
		})
	}
}

// flakySwitch is a second switch on e's directory, Book, Meter, clock and
// trunk whose ledger is acc.
func flakySwitch(tb testing.TB, e *env, acc Accounts) *Switch {
	tb.Helper()
	dir, err := NewDirectory(demoDirectory())
	if err != nil {
		tb.Fatal(err)
	}
	cfg := Config{Listen: "127.0.0.1:0", Trunk: e.trunk.URI()}
	sw, err := New(cfg, dir, e.sw.rater, acc, e.meter, metrics.New().Calls, WithClock(e.clk))
	if err != nil {
		tb.Fatal(err)
	}
	if err := sw.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { sw.Close() })
	return sw
}
