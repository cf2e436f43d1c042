package signaling_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"ipcs/internal/money"
	"ipcs/internal/testutil"
	"ipcs/ledger"
	"ipcs/metrics"
	"ipcs/rating"
	"ipcs/signaling"
)

// keepAliveEvery is the RatingBiller's keep-alive period for the ledger's
// default HoldTTL (2 min): a quarter of it.
const keepAliveEvery = 30 * time.Second

// checkpoints counts the ledger's successful checkpoints.
func checkpoints(m *metrics.Metrics) float64 {
	return counter(m.Ledger.Ops.WithLabelValues("checkpoint", "ok"))
}

// gauge reads a gauge's value.
func gauge(g prometheus.Gauge) float64 {
	var m dto.Metric
	_ = g.Write(&m)
	return m.GetGauge().GetValue()
}

// unmetered advances the clock by d while the visit is open but not
// metered, one keep-alive period at a time, and runs the ledger's
// settlement of expired holds after each step, as Run does every 30 s:
// the visit's hold must be kept alive, so it settles nothing.
func unmetered(tb testing.TB, ctx context.Context, rs *realStack, d time.Duration) {
	tb.Helper()
	base := checkpoints(rs.m)
	for i := 1; i <= int(d/keepAliveEvery); i++ {
		rs.clk.Advance(keepAliveEvery)
		waitFor(tb, ctx, "the hold's keep-alive", func() bool { return checkpoints(rs.m) >= base+float64(i) })
		n, err := rs.led.SettleStale(ctx)
		if err != nil || n != 0 {
			tb.Fatalf("SettleStale after %v unmetered: settled %d, %v; want the visit's hold kept alive", time.Duration(i)*keepAliveEvery, n, err)
		}
	}
}

// TestHoldKeptAliveUnmetered proves that a visit's reservation survives
// the time nobody is metered, longer than the ledger's HoldTTL (2 min):
// the resident waits 3 minutes for a late visitor, they talk 200 s, the
// visitor drops for 3 minutes and comes back for 200 s more. The ledger's
// settlement of expired holds never closes the visit's hold, the Meter
// extends it past the first $0.80 slice (the visit is not cut off as
// exhausted), and the visit's own CDR charges the 400 connected seconds.
func TestHoldKeptAliveUnmetered(t *testing.T) {
	testutil.CheckGoroutines(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rs := newRealStack(t, ctx, "rv-hold")
	h, led, clk, v := rs.h, rs.led, rs.clk, rs.v
	if _, err := led.Credit(ctx, ledger.CreditRequest{Key: "more", AccountID: "res1", Amount: 5_000_000, Reason: "deposit", StaffID: "t"}); err != nil {
		t.Fatal(err)
	}

	resident := h.dial(ctx, signaling.RoleResident, v.ID, true)
	waitFor(t, ctx, "the first slice reserved", func() bool {
		b, err := led.Balance(ctx, "res1")
		return err == nil && b.Held == 800_000
	})
	unmetered(t, ctx, rs, 3*time.Minute) // the visitor is late

	visitor := h.dial(ctx, signaling.RoleVisitor, v.ID, true)
	flowing(t, ctx, "resident", resident, 5)
	waitMetering(t, ctx, rs.m)
	clk.Advance(130 * time.Second) // past the Meter's extend-ahead point
	waitFor(t, ctx, "the Meter's extension", func() bool {
		b, err := led.Balance(ctx, "res1")
		return err == nil && b.Held == 1_600_000 && counter(rs.m.Meter.Extensions.WithLabelValues("ok")) == 1
	})
	clk.Advance(70 * time.Second) // 200 s connected

	visitor.Close() // the visitor drops
	waitFor(t, ctx, "metering paused", func() bool { return gauge(rs.m.Meter.Live) == 0 })
	unmetered(t, ctx, rs, 3*time.Minute)

	visitor = h.dial(ctx, signaling.RoleVisitor, v.ID, true)
	flowing(t, ctx, "visitor", visitor, 5)
	waitMetering(t, ctx, rs.m)
	clk.Advance(200 * time.Second) // 400 s connected in all
	if err := h.hub.End(v.ID, ""); err != nil {
		t.Fatalf("visit not live after 400 s connected: %v", err)
	}
	endedWith(t, ctx, signaling.ReasonOfficer, "officer (not exhausted)", visitor, resident)
	c := theCDR(t, ctx, led)
	if c.Cause != signaling.ReasonOfficer || c.BilledSeconds != 400 || c.Amount < 1_066_666 || c.Amount > 1_066_667 ||
		signaling.SessionOf(c.SessionID) != v.ID {
		t.Errorf("CDR %+v, want the visit's own: 400 s at $0.16/min", c)
	}
	b, err := led.Balance(ctx, "res1")
	if err != nil || b.Held != 0 || b.Available != 6_000_000-c.Amount {
		t.Errorf("balance %+v, %v; want $6.00 less the charge, nothing held", b, err)
	}
}

// failingCommit makes every Commit fail for good, as a process that dies
// before committing: the reservation stays open.
type failingCommit struct{ *ledger.Ledger }

func (failingCommit) Commit(context.Context, ledger.CommitRequest) (ledger.CommitReceipt, error) {
	return ledger.CommitReceipt{}, errors.New("process died")
}

// TestVisitReopenedAfterRestart proves that a visit opened again after a
// restart gets a reservation and a CDR of its own. On node 1 the visit is
// connected 60 s, the visitor drops and reconnects for 60 s more, and the
// final commit never happens (a crash): the ledger settles the open hold
// from the checkpoint of both segments (120 s, $0.32). Both rejoin the
// same visit inside its slot on node 2: its Reserve uses a new key, so it
// does not replay the settled reservation; the visit runs 400 s without
// being cut off, and its own CDR charges them.
func TestVisitReopenedAfterRestart(t *testing.T) {
	testutil.CheckGoroutines(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rs := newRealStack(t, ctx, "rv-restart")
	h, led, clk, v := rs.h, rs.led, rs.clk, rs.v
	if _, err := led.Credit(ctx, ledger.CreditRequest{Key: "more", AccountID: "res1", Amount: 5_000_000, Reason: "deposit", StaffID: "t"}); err != nil {
		t.Fatal(err)
	}
	h1 := otherNode(t, rs, failingCommit{led})
	hub1 := h1.hub

	// Node 1: two segments of 60 s, then it "crashes" at the commit.
	twoSegments(t, ctx, h1, v.ID)
	clk.Advance(60 * time.Second)
	if err := hub1.EndAndWait(ctx, v.ID, signaling.ReasonShutdown); err == nil {
		t.Error("EndAndWait: nil, want the failed commit's error")
	}
	hub1.Close()

	// The restart: the hold expired and is settled from its checkpoint.
	clk.Advance(3 * time.Minute)
	if n, err := led.SettleStale(ctx); err != nil || n != 1 {
		t.Fatalf("SettleStale: %d, %v; want node 1's hold settled", n, err)
	}
	cdrs, _, err := led.CDRs(ctx, ledger.CDRQuery{AccountID: "res1"}, 0)
	if err != nil || len(cdrs) != 1 || cdrs[0].Cause != "settled" || cdrs[0].BilledSeconds != 120 || cdrs[0].Amount != 320_000 {
		t.Fatalf("CDRs %+v, %v; want node 1's settled at 120 s, $0.32 (both segments)", cdrs, err)
	}
	first := cdrs[0]

	// Node 2: both rejoin inside the slot.
	visitor := h.dial(ctx, signaling.RoleVisitor, v.ID, true)
	resident := h.dial(ctx, signaling.RoleResident, v.ID, true)
	flowing(t, ctx, "resident", resident, 5)
	waitMetering(t, ctx, rs.m)
	if b, err := led.Balance(ctx, "res1"); err != nil || b.Held != 800_000 {
		t.Fatalf("balance %+v, %v; want a new first slice ($0.80) held", b, err)
	}
	clk.Advance(130 * time.Second)
	waitFor(t, ctx, "the Meter's extension", func() bool {
		return counter(rs.m.Meter.Extensions.WithLabelValues("ok")) == 1
	})
	clk.Advance(270 * time.Second) // 400 s: past the first slice
	if err := h.hub.EndAndWait(ctx, v.ID, ""); err != nil {
		t.Fatalf("EndAndWait after 400 s: %v", err)
	}
	endedWith(t, ctx, signaling.ReasonOfficer, "officer (not exhausted)", visitor, resident)
	cdrs, _, err = led.CDRs(ctx, ledger.CDRQuery{AccountID: "res1"}, 0)
	if err != nil || len(cdrs) != 2 {
		t.Fatalf("CDRs %+v, %v; want node 1's and node 2's", cdrs, err)
	}
	c := cdrs[1]
	if c.Cause != signaling.ReasonOfficer || c.BilledSeconds != 400 || c.Amount < 1_066_666 || c.Amount > 1_066_667 ||
		c.SessionID == first.SessionID || signaling.SessionOf(c.SessionID) != v.ID || signaling.SessionOf(first.SessionID) != v.ID ||
		!strings.HasPrefix(c.SessionID, v.ID) {
		t.Errorf("CDR %+v, want the second opening's own: 400 s at $0.16/min", c)
	}
	b, err := led.Balance(ctx, "res1")
	if err != nil || b.Held != 0 || b.Available != 6_000_000-first.Amount-c.Amount {
		t.Errorf("balance %+v, %v; want $6.00 less both charges, nothing held", b, err)
	}
}

// dyingAccounts is the ledger as a process sees it that dies once dead
// is set: its commits and checkpoints fail from then on. The Meter,
// which checkpoints on the ledger itself, has done its work before.
type dyingAccounts struct {
	*ledger.Ledger
	dead *atomic.Bool
}

func (d dyingAccounts) Commit(ctx context.Context, req ledger.CommitRequest) (ledger.CommitReceipt, error) {
	if d.dead.Load() {
		return ledger.CommitReceipt{}, errors.New("process died")
	}
	return d.Ledger.Commit(ctx, req)
}

func (d dyingAccounts) Checkpoint(ctx context.Context, id string, secs int64, used money.Amount) error {
	if d.dead.Load() {
		return errors.New("process died")
	}
	return d.Ledger.Checkpoint(ctx, id, secs, used)
}

// TestCrashDuringLaterSegmentSettlesEverySegment proves that the Meter's
// checkpoints in a visit's second segment count the first: the visit is
// connected 60 s, the visitor drops and reconnects, and 40 s into that
// second segment (the Meter checkpointed at 30 s) the process dies before
// anything else reaches the ledger. The ledger's settlement of the open
// hold charges 90 s ($0.24), both segments up to the last checkpoint,
// not the second segment's 30 s alone.
func TestCrashDuringLaterSegmentSettlesEverySegment(t *testing.T) {
	testutil.CheckGoroutines(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rs := newRealStack(t, ctx, "rv-crash")
	led, clk, v := rs.led, rs.clk, rs.v
	var dead atomic.Bool
	h1 := otherNode(t, rs, dyingAccounts{led, &dead})
	hub1, m1 := h1.hub, h1.m
	twoSegments(t, ctx, h1, v.ID)
	base := counter(m1.Meter.Checkpoints.WithLabelValues("ok"))
	clk.Advance(30 * time.Second)
	waitFor(t, ctx, "the Meter's checkpoint", func() bool { return counter(m1.Meter.Checkpoints.WithLabelValues("ok")) > base })
	clk.Advance(10 * time.Second)
	dead.Store(true)
	if err := hub1.EndAndWait(ctx, v.ID, signaling.ReasonShutdown); err == nil {
		t.Error("EndAndWait: nil, want the dead process's error")
	}
	hub1.Close()

	clk.Advance(3 * time.Minute)
	if n, err := led.SettleStale(ctx); err != nil || n != 1 {
		t.Fatalf("SettleStale: %d, %v; want the visit's hold settled", n, err)
	}
	cdrs, _, err := led.CDRs(ctx, ledger.CDRQuery{AccountID: "res1"}, 0)
	if err != nil || len(cdrs) != 1 || cdrs[0].Cause != "settled" || cdrs[0].BilledSeconds != 90 || cdrs[0].Amount != 240_000 {
		t.Fatalf("CDRs %+v, %v; want the hold settled at 90 s, $0.24 (both segments to the last checkpoint)", cdrs, err)
	}
}

// otherNode starts a second hub on rs's ledger and clock, a node whose
// RatingBiller reaches the ledger through accounts (its Meter reaches the
// ledger itself), and a harness for it.
func otherNode(t *testing.T, rs *realStack, accounts signaling.Accounts) *harness {
	t.Helper()
	book, err := rating.ParseBook([]byte(videoBook), "video.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	meter, err := rating.NewMeter(rating.MeterConfig{}, rs.led, rs.clk, m.Meter)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meter.Close() })
	v := rs.v
	hub, err := signaling.New(signaling.Config{IncludeLoopback: true}, rs.h.signer,
		signaling.VisitsFunc(func(context.Context, string) (signaling.Visit, error) { return v, nil }),
		signaling.NewRatingBiller(book, meter, accounts, rs.clk), m.Visits,
		signaling.WithClock(rs.clk), signaling.WithSettingEngine(signaling.LoopbackOnly))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Close() })
	h := &harness{t: t, clk: rs.clk, signer: rs.h.signer, hub: hub, m: m, api: rs.h.api}
	h.url = startServer(t, hub)
	return h
}

// twoSegments connects a visitor and the resident to h's hub for 60 s,
// drops the visitor and reconnects it, and returns when the second
// segment is metered.
func twoSegments(t *testing.T, ctx context.Context, h *harness, visitID string) {
	t.Helper()
	a := h.dial(ctx, signaling.RoleVisitor, visitID, true)
	r := h.dial(ctx, signaling.RoleResident, visitID, true)
	flowing(t, ctx, "resident", r, 5)
	waitMetering(t, ctx, h.m)
	h.clk.Advance(60 * time.Second)
	a.Close()
	waitFor(t, ctx, "metering paused", func() bool { return gauge(h.m.Meter.Live) == 0 })
	a = h.dial(ctx, signaling.RoleVisitor, visitID, true)
	flowing(t, ctx, "visitor", a, 5)
	waitMetering(t, ctx, h.m)
}
