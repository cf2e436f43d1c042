package signaling_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"ipcs/internal/money"
	"ipcs/internal/testutil"
	"ipcs/signaling"
	"ipcs/signaling/signalingtest"
)

func waitResumed(tb testing.TB, ctx context.Context, h *harness) {
	tb.Helper()
	select {
	case <-h.biller.resumed:
	case <-ctx.Done():
		tb.Fatal("metering did not start")
	}
}

func waitCDR(tb testing.TB, ctx context.Context, h *harness) billed {
	tb.Helper()
	select {
	case b := <-h.biller.cdrs:
		return b
	case <-ctx.Done():
		tb.Fatal("no CDR")
	}
	return billed{}
}

// TestEndsAtExhaustion: a $0.75 balance at $0.25/min lasts 180 s; the
// funds warning comes at 120 s and the visit ends at 180 s, billed $0.75.
func TestEndsAtExhaustion(t *testing.T) {
	testutil.CheckGoroutines(t)
	h := newHarness(t, signaling.Config{})
	h.biller.balance = money.Amount(750_000)
	v := h.book("v2", signaling.KindDirectDial, 30*time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	visitor := h.dial(ctx, signaling.RoleVisitor, v.ID, true)
	resident := h.dial(ctx, signaling.RoleResident, v.ID, true)
	waitResumed(t, ctx, h)
	flowing(t, ctx, "visitor", visitor, 5)

	h.clk.Advance(120 * time.Second)
	for _, p := range []*signalingtest.Peer{visitor, resident} {
		if e := waitEvent(t, ctx, p, signaling.TypeWarning); e.Reason != "funds" || e.Remaining != 60 {
			t.Errorf("warning %+v, want funds 60", e)
		}
	}
	h.clk.Advance(60 * time.Second)
	for _, p := range []*signalingtest.Peer{visitor, resident} {
		if e := waitEvent(t, ctx, p, signaling.TypeEnded); e.Reason != signaling.ReasonExhausted {
			t.Errorf("ended %+v, want exhausted", e)
		}
	}
	b := waitCDR(t, ctx, h)
	if b.cdr.Seconds != 180 || b.charge.Amount != money.Amount(750_000) || b.cdr.Reason != signaling.ReasonExhausted {
		t.Errorf("cdr %+v charge %+v, want 180 s, $0.75, exhausted", b.cdr, b.charge)
	}
	if got := counter(h.m.Visits.Cutoffs.WithLabelValues("exhausted")); got != 1 {
		t.Errorf("cutoffs{exhausted} = %v", got)
	}
}

// TestNotBilledWhileOneSideIsAway: metering pauses when the visitor's
// connection goes and resumes when they rejoin; only the time both sides
// were connected is billed.
func TestNotBilledWhileOneSideIsAway(t *testing.T) {
	testutil.CheckGoroutines(t)
	h := newHarness(t, signaling.Config{})
	v := h.book("v3", signaling.KindRemote, 30*time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	visitor := h.dial(ctx, signaling.RoleVisitor, v.ID, true)
	resident := h.dial(ctx, signaling.RoleResident, v.ID, true)
	waitResumed(t, ctx, h)
	h.clk.Advance(30 * time.Second)

	visitor.Close() // the visitor's network drops: no leave
	e := waitEvent(t, ctx, resident, signaling.TypeParticipant)
	if e.Event != "left" {
		t.Fatalf("resident saw %+v, want left", e)
	}
	h.clk.Advance(5 * time.Minute) // not billed

	visitor2 := h.dial(ctx, signaling.RoleVisitor, v.ID, true)
	waitResumed(t, ctx, h)
	flowing(t, ctx, "visitor (rejoined)", visitor2, 5)
	h.clk.Advance(45 * time.Second)

	if err := visitor2.Leave(); err != nil {
		t.Fatal(err)
	}
	if err := resident.Leave(); err != nil {
		t.Fatal(err)
	}
	b := waitCDR(t, ctx, h)
	if b.cdr.Seconds != 75 || b.charge.Seconds != 75 || b.cdr.Reason != signaling.ReasonCompleted {
		t.Errorf("cdr %+v charge %+v, want 75 s completed", b.cdr, b.charge)
	}
	if want := money.Amount(250_000 * 75 / 60); b.charge.Amount != want {
		t.Errorf("charge %v, want %v", b.charge.Amount, want)
	}
}

// TestOfficerEndsVisit: a monitor's end message ends the visit for all;
// a visitor may not end it; Hub.End works for the API.
func TestOfficerEndsVisit(t *testing.T) {
	testutil.CheckGoroutines(t)
	h := newHarness(t, signaling.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	v := h.book("v4", signaling.KindInFacility, 30*time.Minute)
	visitor := h.dial(ctx, signaling.RoleVisitor, v.ID, true)
	resident := h.dial(ctx, signaling.RoleResident, v.ID, true)
	officer := h.dial(ctx, signaling.RoleOfficer, v.ID, false)
	if err := visitor.Send(map[string]string{"type": "end"}); err != nil {
		t.Fatal(err)
	}
	if e := waitEvent(t, ctx, visitor, signaling.TypeError); e.Code != "forbidden" {
		t.Errorf("visitor end: %+v, want forbidden", e)
	}
	if err := officer.Send(map[string]string{"type": "end", "reason": "conduct"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*signalingtest.Peer{visitor, resident, officer} {
		if e := waitEvent(t, ctx, p, signaling.TypeEnded); e.Reason != signaling.ReasonOfficer {
			t.Errorf("ended %+v, want officer", e)
		}
	}
	b := waitCDR(t, ctx, h)
	if !b.charge.Free || b.charge.Amount != 0 || b.cdr.Reason != signaling.ReasonOfficer {
		t.Errorf("in-facility visit: cdr %+v charge %+v, want free", b.cdr, b.charge)
	}
	// An ended visit cannot be joined again.
	if _, err := signalingtest.Dial(ctx, h.api, signalingtest.Options{URL: h.url, Token: h.token(signaling.RoleVisitor, v.ID)}); err == nil || !strings.Contains(err.Error(), "window") {
		t.Errorf("rejoin after end: %v, want refused window", err)
	}

	// Hub.End, as the API calls it.
	v5 := h.book("v5", signaling.KindRemote, 30*time.Minute)
	p5 := h.dial(ctx, signaling.RoleVisitor, v5.ID, true)
	if err := h.hub.End(v5.ID, ""); err != nil {
		t.Fatal(err)
	}
	if e := waitEvent(t, ctx, p5, signaling.TypeEnded); e.Reason != signaling.ReasonOfficer {
		t.Errorf("ended %+v", e)
	}
	b = waitCDR(t, ctx, h)
	if b.cdr.Seconds != 0 || b.charge.Amount != 0 {
		t.Errorf("never connected on both sides, billed %+v", b.charge)
	}
	if err := h.hub.End("nope", ""); !errors.Is(err, signaling.ErrUnknownVisit) {
		t.Errorf("End(unknown) = %v", err)
	}
}

// TestEndAndWaitSettlesFirst: a facility's cancellation ends a live,
// metered visit and returns only once its bill is closed (the CDR is
// there), so the credit that follows sees the charge.
func TestEndAndWaitSettlesFirst(t *testing.T) {
	testutil.CheckGoroutines(t)
	h := newHarness(t, signaling.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v := h.book("v6", signaling.KindRemote, 30*time.Minute)
	visitor := h.dial(ctx, signaling.RoleVisitor, v.ID, true)
	resident := h.dial(ctx, signaling.RoleResident, v.ID, true)
	flowing(t, ctx, "resident", resident, 10)
	if err := h.hub.EndAndWait(ctx, v.ID, signaling.ReasonCancelled); err != nil {
		t.Fatal(err)
	}
	select { // already there: EndAndWait returned after Close
	case b := <-h.biller.cdrs:
		if b.cdr.Reason != signaling.ReasonCancelled || b.cdr.VisitID != v.ID {
			t.Errorf("cdr %+v, want the visit's, reason cancelled", b.cdr)
		}
	default:
		t.Fatal("EndAndWait returned before the visit's bill was closed")
	}
	for _, p := range []*signalingtest.Peer{visitor, resident} {
		if e := waitEvent(t, ctx, p, signaling.TypeEnded); e.Reason != signaling.ReasonCancelled {
			t.Errorf("ended %+v, want cancelled", e)
		}
	}
	if err := h.hub.EndAndWait(ctx, v.ID, signaling.ReasonCancelled); !errors.Is(err, signaling.ErrUnknownVisit) {
		t.Errorf("EndAndWait after the end = %v, want ErrUnknownVisit", err)
	}
}

// TestPrivilegedVisit: an attorney visit cannot be monitored and is not
// recorded.
func TestPrivilegedVisit(t *testing.T) {
	testutil.CheckGoroutines(t)
	rec := t.TempDir()
	h := newHarness(t, signaling.Config{RecordDir: rec})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v := h.book("v6", signaling.KindRemote, 30*time.Minute)
	h.setPrivileged(v.ID)
	visitor := h.dial(ctx, signaling.RoleVisitor, v.ID, true)
	resident := h.dial(ctx, signaling.RoleResident, v.ID, true)
	flowing(t, ctx, "resident", resident, 5)
	_, err := signalingtest.Dial(ctx, h.api, signalingtest.Options{URL: h.url, Token: h.token(signaling.RoleOfficer, v.ID)})
	if err == nil || !strings.Contains(err.Error(), "privileged") {
		t.Errorf("monitor join: %v, want refused privileged", err)
	}
	_ = visitor.Leave()
	_ = resident.Leave()
	b := waitCDR(t, ctx, h)
	if b.cdr.RecordingPath != "" || !b.cdr.Privileged {
		t.Errorf("cdr %+v: privileged visit recorded", b.cdr)
	}
	if got := h.refused("privileged"); got != 1 {
		t.Errorf("refused{privileged} = %v", got)
	}
}
