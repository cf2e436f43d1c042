package callswitch

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"ipcs/internal/money"
	"ipcs/internal/testutil"
)

// advanceUntil moves the fake clock a second at a time (the Meter's wheel
// turns once a second) until done is closed or max has passed, and
// returns how far it went.
func (e *env) advanceUntil(done <-chan struct{}, max time.Duration) time.Duration {
	e.tb.Helper()
	var d time.Duration
	for d < max {
		select {
		case <-done:
			return d
		default:
		}
		// One wheel turn per second: wait until the Meter has processed
		// this tick before the next, or it would catch up in one jump.
		n := e.meterTicks()
		e.clk.Advance(time.Second)
		d += time.Second
		e.eventually(func() bool { return e.meterTicks() > n }, "the meter to tick")
	}
	return d
}

func (e *env) meterTicks() uint64 {
	var d dto.Metric
	if err := e.met.Meter.TickSeconds.(prometheus.Metric).Write(&d); err != nil {
		e.tb.Fatal(err)
	}
	return d.GetHistogram().GetSampleCount()
}

func TestExhaustionCutsBothLegs(t *testing.T) {
	testutil.CheckGoroutines(t)
	e := newEnv(t, envOpts{})
	p := e.phone("phone-101", "udp")
	pc, err := e.call(p, "1002", "+13125550123") // $0.02 at $0.06/min per second: 20 s
	if err != nil {
		t.Fatal(err)
	}
	e.eventually(func() bool { return e.trunk.Calls() == 1 }, "the trunk to hold the call")
	e.advanceUntil(pc.Done(), 40*time.Second)
	select {
	case <-pc.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the switch did not hang up the phone")
	}
	if r := pc.EndReason(); !strings.Contains(r, "balance exhausted") {
		t.Errorf("BYE Reason = %q", r)
	}
	e.eventually(func() bool { return e.trunk.Calls() == 0 }, "the trunk leg to be hung up")
	c := e.cdrs("r-1002", 1)[0]
	if c.BilledSeconds != 20 || c.Amount != 2*money.Cent || c.Cause != "exhausted" {
		t.Errorf("CDR = %+v, want 20 s, $0.02, exhausted", c)
	}
	if b := e.balance("r-1002"); b.Available != 0 || b.Held != 0 {
		t.Errorf("balance %v held %v, want 0", b.Available, b.Held)
	}
	if v := value(e.met.Calls.Cutoffs.WithLabelValues("exhausted")); v != 1 {
		t.Errorf("cutoffs{exhausted} = %v", v)
	}
}

func TestTimeLimitWarnsThenCuts(t *testing.T) {
	testutil.CheckGoroutines(t)
	e := newEnv(t, envOpts{})
	p := e.phone("phone-101", "udp")
	pc, err := e.call(p, "1005", "+13125550123") // resident limit 3 min
	if err != nil {
		t.Fatal(err)
	}
	e.advanceUntil(pc.Done(), 4*time.Minute)
	<-pc.Done()
	if r := pc.EndReason(); !strings.Contains(r, "time limit") {
		t.Errorf("BYE Reason = %q", r)
	}
	var warns []string
	for len(pc.Warnings()) > 0 {
		warns = append(warns, <-pc.Warnings())
	}
	if strings.Join(warns, "|") != "2 minutes remaining|1 minute remaining" {
		t.Errorf("warnings = %q", warns)
	}
	c := e.cdrs("r-1005", 1)[0]
	if c.BilledSeconds != 180 || c.Cause != "limit" || c.Amount != 18*money.Cent {
		t.Errorf("CDR = %+v, want 180 s, $0.18, limit", c)
	}
}

func TestTopUpExtendsCall(t *testing.T) {
	testutil.CheckGoroutines(t)
	e := newEnv(t, envOpts{})
	p := e.phone("phone-101", "udp")
	pc, err := e.call(p, "1006", "+13125550123") // $0.10: 100 s
	if err != nil {
		t.Fatal(err)
	}
	e.advanceUntil(pc.Done(), 50*time.Second)
	e.deposit("r-1006", "5.00")
	e.sw.TopUp("r-1006")
	if d := e.advanceUntil(pc.Done(), 150*time.Second); d < 150*time.Second {
		t.Fatalf("call ended after %v more despite the top-up (reason %q)", d, pc.EndReason())
	}
	if err := pc.Hangup(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := e.cdrs("r-1006", 1)[0]
	if c.BilledSeconds != 200 || c.Amount != 20*money.Cent || c.Cause != "caller_hangup" {
		t.Errorf("CDR = %+v, want 200 s, $0.20", c)
	}
	if b := e.balance("r-1006"); b.Available != 5*money.Dollar+10*money.Cent-20*money.Cent || b.Held != 0 {
		t.Errorf("balance %v held %v", b.Available, b.Held)
	}
}

// strictDir puts r-1006 ($0.10) in the strict facility: 60/60 at $0.05/min.
func strictDir() *DirectoryConfig {
	d := demoDirectory()
	for i := range d.Residents {
		if d.Residents[i].ID == "r-1006" {
			d.Residents[i].Facility = "strict"
			d.Residents[i].PIN = "2006"
			d.Residents[i].Allowed = []string{"+13125550123"}
		}
	}
	return &d
}

// TestSixtySixtyBillsStartedMinutes proves the 60/60 increment: a 61 s
// call bills two started minutes, 120 s, $0.10.
func TestSixtySixtyBillsStartedMinutes(t *testing.T) {
	testutil.CheckGoroutines(t)
	e := newEnv(t, envOpts{dir: strictDir()})
	pc, err := e.call(e.phone("phone-201", "udp"), "2006", "+13125550123")
	if err != nil {
		t.Fatal(err)
	}
	e.advanceUntil(pc.Done(), 61*time.Second)
	if err := pc.Hangup(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := e.cdrs("r-1006", 1)[0]
	if c.BilledSeconds != 120 || c.Amount != 10*money.Cent {
		t.Errorf("61 s on 60/60: CDR = %+v, want 120 s, $0.10", c)
	}
}

// TestSixtySixtyExhaustionCutsAtPaidMinute proves that with $0.10 on
// 60/60 at $0.05/min the call is cut at the end of the second paid
// minute (120 s, not later), billed $0.10 with cause exhausted, and
// nothing stays held.
func TestSixtySixtyExhaustionCutsAtPaidMinute(t *testing.T) {
	testutil.CheckGoroutines(t)
	e := newEnv(t, envOpts{dir: strictDir()})
	pc, err := e.call(e.phone("phone-201", "udp"), "2006", "+13125550123")
	if err != nil {
		t.Fatal(err)
	}
	d := e.advanceUntil(pc.Done(), 4*time.Minute)
	select {
	case <-pc.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the switch did not cut the call")
	}
	c := e.cdrs("r-1006", 1)[0]
	if c.BilledSeconds != 120 || c.Amount != 10*money.Cent || c.Cause != "exhausted" || !strings.Contains(pc.EndReason(), "exhausted") {
		t.Errorf("CDR = %+v, reason %q; want 120 s, $0.10, exhausted", c, pc.EndReason())
	}
	if d > 122*time.Second {
		t.Errorf("cut %v after answer, later than the paid 120 s", d)
	}
	if b := e.balance("r-1006"); b.Available != 0 || b.Held != 0 {
		t.Errorf("balance %v held %v, want 0", b.Available, b.Held)
	}
}
