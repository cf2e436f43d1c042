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

// realStack is a hub on the real rating Book and Meter and a SQLite
// ledger, with account res1 funded with $1.00.
type realStack struct {
	h   *harness
	led *ledger.Ledger
	clk *clock.Fake
	m   *metrics.Metrics
	v   signaling.Visit
}

func newRealStack(t *testing.T, ctx context.Context, visitID string) *realStack {
	t.Helper()
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
	t.Cleanup(func() { db.Close() })
	store, err := sqlite.Open(ctx, db, sqlite.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
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
	t.Cleanup(func() { meter.Close() })

	v := signaling.Visit{ID: visitID, Facility: "fac1", ResidentID: "res1", Kind: signaling.KindRemote, Start: t0, End: t0.Add(30 * time.Minute)}
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
	h.url = startServer(t, hub)
	t.Cleanup(func() { hub.Close() }) // before the server, the meter and the ledger close
	return &realStack{h: h, led: led, clk: clk, m: m, v: v}
}

// waitMetering waits until the Meter has the visit's segment.
func waitMetering(tb testing.TB, ctx context.Context, m *metrics.Metrics) {
	tb.Helper()
	waitFor(tb, ctx, "metering", func() bool {
		var d dto.Metric
		_ = m.Meter.Live.Write(&d)
		return d.GetGauge().GetValue() == 1
	})
}

// TestRatingBillerRealStack runs a remote visit against the real rating
// Book and Meter and a SQLite ledger: $1.00 at $0.16/min per second lasts
// 375 s; the Meter extends the $0.80 first reservation, warns, and ends
// the visit at exhaustion; the ledger holds one CDR for $1.00 and the
// balance is zero.
func TestRatingBillerRealStack(t *testing.T) {
	testutil.CheckGoroutines(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rs := newRealStack(t, ctx, "rv1")
	h, led, clk, v := rs.h, rs.led, rs.clk, rs.v
	var err error

	visitor := h.dial(ctx, signaling.RoleVisitor, v.ID, true)
	resident := h.dial(ctx, signaling.RoleResident, v.ID, true)
	flowing(t, ctx, "resident", resident, 5)
	waitMetering(t, ctx, rs.m)

	// Past the Meter's extend-ahead point (3 min before the $0.80 grant
	// runs out): the ledger then holds the whole $1.00.
	clk.Advance(130 * time.Second)
	waitFor(t, ctx, "reservation extended", func() bool {
		b, err := led.Balance(ctx, "res1")
		return err == nil && b.Held == 1_000_000
	})
	// The ledger answers before the Meter applies the grant: wait for the
	// Meter to count the extension, or the next jump may see the old end.
	waitFor(t, ctx, "the Meter's extension", func() bool {
		var n float64
		for _, r := range []string{"ok", "partial"} {
			var d dto.Metric
			_ = rs.m.Meter.Extensions.WithLabelValues(r).Write(&d)
			n += d.GetCounter().GetValue()
		}
		return n >= 1
	})
	clk.Advance(130 * time.Second) // to 260 s: past the 2-minute warning
	for _, p := range []*signalingtest.Peer{visitor, resident} {
		if e := waitEvent(t, ctx, p, signaling.TypeWarning); e.Reason != "funds" || e.Remaining < 110 || e.Remaining > 120 {
			t.Errorf("warning %+v, want funds ~120 s", e)
		}
	}
	clk.Advance(115 * time.Second) // to 375 s
	endedWith(t, ctx, signaling.ReasonExhausted, "exhausted", visitor, resident)
	c := theCDR(t, ctx, led)
	if c.BilledSeconds != 375 || c.Amount != money.Amount(1_000_000) || c.TariffID != "video" || c.TariffVersion != 3 ||
		c.Cause != signaling.ReasonExhausted || c.Service != "video" || c.RecordingPath != "" {
		t.Errorf("CDR %+v", c)
	}
	b, err := led.Balance(ctx, "res1")
	if err != nil || b.Available != 0 || b.Held != 0 {
		t.Errorf("balance %+v, %v; want all spent, nothing held", b, err)
	}
}

// TestTopUpExtendsVisit: a deposit during a metered remote visit extends
// its reservation at once (Hub.TopUp, as the deposit hook calls it), not
// 120 s later at the Meter's extend-ahead point; the visit then runs past
// the 375 s the first $1.00 would have paid for.
func TestTopUpExtendsVisit(t *testing.T) {
	testutil.CheckGoroutines(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rs := newRealStack(t, ctx, "rv2")
	h, led, clk, v := rs.h, rs.led, rs.clk, rs.v

	visitor := h.dial(ctx, signaling.RoleVisitor, v.ID, true)
	resident := h.dial(ctx, signaling.RoleResident, v.ID, true)
	flowing(t, ctx, "resident", resident, 5)
	waitMetering(t, ctx, rs.m)
	h.hub.TopUp("someone-else") // no live visit: nothing happens
	b, err := led.Balance(ctx, "res1")
	if err != nil || b.Held != 800_000 {
		t.Fatalf("balance %+v, %v; want the first slice ($0.80) held", b, err)
	}

	clk.Advance(10 * time.Second)
	if _, err := led.Credit(ctx, ledger.CreditRequest{Key: "deposit", AccountID: "res1", Amount: 5_000_000, Reason: "deposit", StaffID: "t"}); err != nil {
		t.Fatal(err)
	}
	h.hub.TopUp("res1")
	// The clock does not move: only the top-up can extend the grant by one
	// 5-minute slice to 600 s ($1.60).
	waitFor(t, ctx, "reservation extended by the top-up", func() bool {
		b, err := led.Balance(ctx, "res1")
		// The Meter counts the extension once its grant covers 600 s; the
		// ledger's hold grows just before that.
		return err == nil && b.Held == 1_600_000 && counter(rs.m.Meter.Extensions.WithLabelValues("ok")) == 1
	})

	clk.Advance(390 * time.Second) // to 400 s: past the old 375 s exhaustion
	if err := h.hub.End(v.ID, ""); err != nil {
		t.Fatalf("visit no longer live at 400 s after the top-up: %v", err)
	}
	endedWith(t, ctx, signaling.ReasonOfficer, "officer (not exhausted)", visitor, resident)
	c := theCDR(t, ctx, led)
	if c.BilledSeconds != 400 || c.Amount != money.Amount(1_066_667) && c.Amount != money.Amount(1_066_666) {
		t.Errorf("CDR %+v, want 400 s at $0.16/min", c)
	}
	b, err = led.Balance(ctx, "res1")
	if err != nil || b.Held != 0 || b.Available != 6_000_000-c.Amount {
		t.Errorf("balance %+v, %v; want $6.00 less the charge, nothing held", b, err)
	}
}

// endedWith waits for every peer's ended event and checks its reason
// (want describes it in the failure).
func endedWith(t *testing.T, ctx context.Context, reason, want string, peers ...*signalingtest.Peer) {
	t.Helper()
	for _, p := range peers {
		if e := waitEvent(t, ctx, p, signaling.TypeEnded); e.Reason != reason {
			t.Errorf("ended %+v, want %s", e, want)
		}
	}
}

// theCDR waits until the ledger holds exactly one CDR for res1 and
// returns it.
func theCDR(t *testing.T, ctx context.Context, led *ledger.Ledger) ledger.CDR {
	t.Helper()
	var cdrs []ledger.CDR
	waitFor(t, ctx, "the CDR", func() bool {
		var err error
		cdrs, _, err = led.CDRs(ctx, ledger.CDRQuery{AccountID: "res1"}, 0)
		return err == nil && len(cdrs) == 1
	})
	return cdrs[0]
}
