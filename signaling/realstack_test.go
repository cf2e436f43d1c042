package signaling_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"ipcs/internal/clock"
	"ipcs/internal/money"
	"ipcs/internal/sqldb"
	"ipcs/internal/testutil"
	"ipcs/internal/token"
	"ipcs/ledger"
	"ipcs/ledger/sqlite"
	"ipcs/metrics"
	"ipcs/rating"
	"ipcs/signaling"
	"ipcs/signaling/signalingtest"
)

const videoBook = `
facilities:
  - id: fac1
    name: Test Prison
    zone: America/Chicago
    type: prison
    adp: 1200
    state: IL
    visit_limit: 60m
    reserve: 5m
tariffs:
  - id: video
    version: 3
    facility: fac1
    service: video
    effective: "2026-01-01"
    increment: 1/1
    rates:
      remote: {rate: "0.16"}
      direct_dial: {rate: "0.16"}
      in_facility: {rate: "0"}
`

// TestRatingBillerRealStack runs a remote visit against the real rating
// Book and Meter and a SQLite ledger: $1.00 at $0.16/min per second lasts
// 375 s; the Meter extends the $0.80 first reservation, warns, and ends
// the visit at exhaustion; the ledger holds one CDR for $1.00 and the
// balance is zero.
func TestRatingBillerRealStack(t *testing.T) {
	testutil.CheckGoroutines(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	clk := clock.NewFake(t0)
	m := metrics.New()
	book, err := rating.ParseBook([]byte(videoBook), "video.yaml")
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqldb.Open(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store, err := sqlite.Open(ctx, db, sqlite.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	led, err := ledger.New(store, ledger.Config{}, clk, m.Ledger)
	if err != nil {
		t.Fatal(err)
	}
	if err := led.OpenAccount(ctx, ledger.Account{ID: "res1", Facility: "fac1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := led.Credit(ctx, ledger.CreditRequest{Key: "seed", AccountID: "res1", Amount: 1_000_000, Reason: "test", StaffID: "t"}); err != nil {
		t.Fatal(err)
	}
	meter, err := rating.NewMeter(rating.MeterConfig{}, led, clk, m.Meter)
	if err != nil {
		t.Fatal(err)
	}
	defer meter.Close()

	v := signaling.Visit{ID: "rv1", Facility: "fac1", ResidentID: "res1", Kind: signaling.KindRemote, Start: t0, End: t0.Add(30 * time.Minute)}
	signer, _ := token.NewSigner([]byte(strings.Repeat("k", 32)))
	hub, err := signaling.New(signaling.Config{IncludeLoopback: true}, signer,
		signaling.VisitsFunc(func(context.Context, string) (signaling.Visit, error) { return v, nil }),
		signaling.NewRatingBiller(book, meter, led, clk), m.Visits,
		signaling.WithClock(clk), signaling.WithSettingEngine(signaling.LoopbackOnly))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, clk: clk, signer: signer, hub: hub, m: m}
	h.api, _ = signalingtest.NewAPI()
	srv := startServer(t, hub)
	h.url = srv
	defer hub.Close()

	visitor := h.dial(ctx, signaling.RoleVisitor, v.ID, true)
	resident := h.dial(ctx, signaling.RoleResident, v.ID, true)
	flowing(t, ctx, "resident", resident, 5)
	waitFor(t, ctx, "metering", func() bool {
		var d dto.Metric
		_ = m.Meter.Live.Write(&d)
		return d.GetGauge().GetValue() == 1
	})

	// Past the Meter's extend-ahead point (3 min before the $0.80 grant
	// runs out): the ledger then holds the whole $1.00.
	clk.Advance(130 * time.Second)
	waitFor(t, ctx, "reservation extended", func() bool {
		b, err := led.Balance(ctx, "res1")
		return err == nil && b.Held == 1_000_000
	})
	clk.Advance(130 * time.Second) // to 260 s: past the 2-minute warning
	for _, p := range []*signalingtest.Peer{visitor, resident} {
		if e := waitEvent(t, ctx, p, signaling.TypeWarning); e.Reason != "funds" || e.Remaining < 110 || e.Remaining > 120 {
			t.Errorf("warning %+v, want funds ~120 s", e)
		}
	}
	clk.Advance(115 * time.Second) // to 375 s
	for _, p := range []*signalingtest.Peer{visitor, resident} {
		if e := waitEvent(t, ctx, p, signaling.TypeEnded); e.Reason != signaling.ReasonExhausted {
			t.Errorf("ended %+v, want exhausted", e)
		}
	}
	var cdrs []ledger.CDR
	waitFor(t, ctx, "the CDR", func() bool {
		cdrs, _, err = led.CDRs(ctx, ledger.CDRQuery{AccountID: "res1"}, 0)
		return err == nil && len(cdrs) == 1
	})
	c := cdrs[0]
	if c.BilledSeconds != 375 || c.Amount != money.Amount(1_000_000) || c.TariffID != "video" || c.TariffVersion != 3 ||
		c.Cause != signaling.ReasonExhausted || c.Service != "video" || c.RecordingPath != "" {
		t.Errorf("CDR %+v", c)
	}
	b, err := led.Balance(ctx, "res1")
	if err != nil || b.Available != 0 || b.Held != 0 {
		t.Errorf("balance %+v, %v; want all spent, nothing held", b, err)
	}
}
