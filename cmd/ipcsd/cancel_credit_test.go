package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	dto "github.com/prometheus/client_model/go"

	"ipcs/internal/clock"
	"ipcs/internal/sqldb"
	"ipcs/internal/token"
	"ipcs/ledger"
	lsqlite "ipcs/ledger/sqlite"
	"ipcs/metrics"
	"ipcs/rating"
	"ipcs/scheduler"
	"ipcs/signaling"
	"ipcs/signaling/signalingtest"
)

// flakyCommit is the real ledger whose Commit fails: the first one with
// a transient error (the writer queue was full) when transient, every one
// (a store that keeps failing) otherwise.
type flakyCommit struct {
	*ledger.Ledger
	transient bool
	failed    atomic.Bool
}

func (f *flakyCommit) Commit(ctx context.Context, req ledger.CommitRequest) (ledger.CommitReceipt, error) {
	if !f.transient {
		return ledger.CommitReceipt{}, errors.New("disk I/O error")
	}
	if f.failed.CompareAndSwap(false, true) {
		return ledger.CommitReceipt{}, ledger.ErrOverload
	}
	return f.Ledger.Commit(ctx, req)
}

// TestCancelCreditAfterFailedCommit wires the daemon's own visitCrediter
// and visitEnder to a real scheduler, hub, Meter and SQLite ledger. A
// direct-dial visit is connected for two minutes and staff cancel it
// while its final Commit fails. It proves the resident never pays for
// the cancelled visit:
//   - transient: the Commit is retried (it is idempotent), so the first
//     cancellation commits the visit's CDR and credits it in full;
//   - lost: the Commit fails for good; EndAndWait reports it, so the
//     cancellation returns an error and credit_due stays set; a retry
//     while the hold is still open refuses to credit; once the ledger
//     settled the hold (from the checkpoint of the connected time), the
//     next retry credits exactly what the settlement charged.
func TestCancelCreditAfterFailedCommit(t *testing.T) {
	for _, tc := range []struct {
		name      string
		transient bool
	}{{"transient", true}, {"lost", false}} {
		t.Run(tc.name, func(t *testing.T) { testCancelCredit(t, tc.transient) })
	}
}

func testCancelCredit(t *testing.T, transient bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	clk := clock.NewFake(time.Date(2026, 3, 10, 15, 0, 0, 0, time.UTC))
	m := metrics.New()
	db, err := sqldb.Open(ctx, filepath.Join(t.TempDir(), "ipcs.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store, err := lsqlite.Open(ctx, db, lsqlite.Config{}, m.Ledger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	led, err := ledger.New(store, ledger.Config{}, clk, m.Ledger)
	if err != nil {
		t.Fatal(err)
	}
	if err := led.SetFacility(ctx, ledger.Facility{ID: "demo", Zone: "America/Chicago"}); err != nil {
		t.Fatal(err)
	}
	if err := seedLedger(ctx, led); err != nil {
		t.Fatal(err)
	}
	book, err := rating.ParseBook(demoTariffs, "demo_tariffs.yaml")
	if err != nil {
		t.Fatal(err)
	}
	meter, err := rating.NewMeter(rating.MeterConfig{}, led, clk, m.Meter)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meter.Close() })
	signer, _ := token.NewSigner([]byte(strings.Repeat("k", 32)))

	d := &daemon{}
	sched, err := scheduler.New(ctx, scheduler.Config{PasswordIterations: 1000}, db, signer, clk, m.Scheduler,
		scheduler.WithCrediter(visitCrediter{led}), scheduler.WithEnder(visitEnder{d}))
	if err != nil {
		t.Fatal(err)
	}
	visitor, err := sched.Seed(ctx, scheduler.DemoSpec{})
	if err != nil {
		t.Fatal(err)
	}
	accounts := &flakyCommit{Ledger: led, transient: transient}
	hub, err := signaling.New(signaling.Config{IncludeLoopback: true}, signer, signaling.SchedulerVisits(sched),
		signaling.NewRatingBiller(book, meter, accounts, clk), m.Visits,
		signaling.WithClock(clk), signaling.WithSettingEngine(signaling.LoopbackOnly))
	if err != nil {
		t.Fatal(err)
	}
	d.hub = hub
	mux := http.NewServeMux()
	mux.Handle("/ws", hub)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { hub.Close() })
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"

	b, err := sched.DirectDial(ctx, "r-1001", visitor.ID)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := sched.JoinToken(ctx, b.Visit.ID, scheduler.RoleResident, "r-1001")
	if err != nil {
		t.Fatal(err)
	}
	api, _ := signalingtest.NewAPI()
	vp, err := signalingtest.Dial(ctx, api, signalingtest.Options{URL: wsURL, Token: b.Visitor.Token, Publish: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(vp.Close)
	rp, err := signalingtest.Dial(ctx, api, signalingtest.Options{URL: wsURL, Token: rt.Token, Publish: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rp.Close)
	for _, p := range []*signalingtest.Peer{vp, rp} {
		waitUntil(t, ctx, "peers connected", func() bool { return p.PC.ConnectionState() == webrtc.PeerConnectionStateConnected })
	}
	waitUntil(t, ctx, "visit started", func() bool {
		v, _ := sched.Visit(ctx, b.Visit.ID)
		return v.Status == scheduler.StatusStarted
	})
	// Two minutes connected; the Meter checkpoints every 30 s.
	for i := 1; i <= 4; i++ {
		clk.Advance(30 * time.Second)
		waitUntil(t, ctx, "the Meter's checkpoint", func() bool {
			var d dto.Metric
			_ = m.Ledger.Ops.WithLabelValues("checkpoint", "ok").Write(&d)
			return d.GetCounter().GetValue() >= float64(i)
		})
	}

	c, err := sched.CancelByFacility(ctx, b.Visit.ID, "lockdown")
	if transient {
		after, _ := led.Balance(ctx, "r-1001")
		if err != nil || !c.Credited || c.Visit.CreditDue || after.Available != 20_000_000 || after.Held != 0 {
			t.Fatalf("cancel: %+v, %v; balance %+v; want credited in full", c, err, after)
		}
		return
	}
	if err == nil || c.Credited || !c.Visit.CreditDue {
		t.Fatalf("cancel with a lost commit: %+v, %v; want an error and credit_due set", c, err)
	}
	// Staff retry at once: the hold is still open, nothing is credited.
	if c, err := sched.CancelByFacility(ctx, b.Visit.ID, "lockdown"); err == nil || c.Credited || !c.Visit.CreditDue {
		t.Fatalf("retry while the hold is open: %+v, %v; want an error and credit_due set", c, err)
	}

	// The ledger's Run settles the reservation once it expires.
	clk.Advance(3 * time.Minute)
	if n, err := led.SettleStale(ctx); err != nil || n != 1 {
		t.Fatalf("SettleStale: %d, %v; want the visit's hold settled", n, err)
	}
	cdrs, _, err := led.CDRs(ctx, ledger.CDRQuery{AccountID: "r-1001"}, 0)
	if err != nil || len(cdrs) != 1 || cdrs[0].Cause != "settled" || cdrs[0].BilledSeconds != 120 || cdrs[0].Amount == 0 {
		t.Fatalf("CDRs %+v, %v; want the settlement's, charging the 120 connected seconds", cdrs, err)
	}
	// Staff retry the cancellation: the settled charge is credited.
	c, err = sched.CancelByFacility(ctx, b.Visit.ID, "lockdown")
	after, _ := led.Balance(ctx, "r-1001")
	if err != nil || !c.Credited || c.Visit.CreditDue || after.Available != 20_000_000 || after.Held != 0 {
		t.Errorf("retry after settlement: %+v, %v; balance %+v; want credited in full", c, err, after)
	}
}
