package callswitch

import (
	"context"
	"strings"
	"testing"
	"time"

	"ipcs/internal/money"
	"ipcs/internal/testutil"
)

func TestAnsweredCallBilledFromAnswer(t *testing.T) {
	for _, tp := range []string{"udp", "tcp"} {
		t.Run(tp, func(t *testing.T) {
			testutil.CheckGoroutines(t)
			e := newEnv(t, envOpts{})
			p := e.phone("phone-101", tp)
			pc, err := e.call(p, "1001", "+13125550123")
			if err != nil {
				t.Fatal(err)
			}
			if got := pc.Provisional; len(got) != 1 || got[0] != 180 {
				t.Errorf("provisional answers = %v, want [180]", got)
			}
			e.eventually(func() bool { return e.trunk.Calls() == 1 }, "the trunk to hold the call")
			e.clk.Advance(90 * time.Second) // billing runs on the switch's clock from the trunk's 200
			if err := pc.Hangup(context.Background()); err != nil {
				t.Fatal(err)
			}
			cdrs := e.cdrs("r-1001", 1)
			c := cdrs[0]
			if c.BilledSeconds != 90 || c.Amount != 90*money.Dollar*6/100/60 || c.Cause != "caller_hangup" {
				t.Errorf("CDR = %+v, want 90 s, $0.09, caller_hangup", c)
			}
			if c.Destination != "+13125550123" || c.TariffID != "demo-audio" || c.Privileged {
				t.Errorf("CDR = %+v", c)
			}
			e.eventually(func() bool { return e.trunk.Calls() == 0 }, "the trunk leg to be hung up")
			b := e.balance("r-1001")
			if want := 20*money.Dollar - 90_000; b.Available != want || b.Held != 0 {
				t.Errorf("balance = %v held %v, want %v held 0", b.Available, b.Held, want)
			}
			if e.attempts("answered") != 1 {
				t.Errorf("answered attempts = %v", e.attempts("answered"))
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	testutil.CheckGoroutines(t)
	e := newEnv(t, envOpts{})
	p := e.phone("phone-101", "udp")
	strict := e.phone("phone-201", "udp")
	for _, tc := range []struct {
		name    string
		phone   *Phone
		pin, to string
		status  int
		reason  string
		outcome string
	}{
		{"bad PIN", p, "9999", "+13125550123", 403, "invalid PIN", "rejected_pin"},
		{"no funds", p, "1003", "+13125550123", 402, "insufficient balance", "payment_required"},
		{"blocked facility-wide", p, "1001", "+15555550100", 403, "number blocked", "rejected_policy"},
		{"blocked for resident", p, "1005", "+13125550111", 403, "number blocked", "rejected_policy"},
		{"suspended resident", p, "1004", "+13125550123", 403, "account not active", "rejected_policy"},
		{"invalid destination", p, "1001", "123", 404, "invalid destination", "invalid_destination"},
		{"not on allowed list", strict, "2001", "+13125550999", 403, "number not allowed", "rejected_policy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.attempts(tc.outcome)
			_, err := e.call(tc.phone, tc.pin, tc.to)
			ce := callError(t, err)
			if ce.Status != tc.status || !strings.Contains(ce.Reason, tc.reason) {
				t.Errorf("got %d %q, want %d with Reason %q", ce.Status, ce.Reason, tc.status, tc.reason)
			}
			if got := e.attempts(tc.outcome) - before; got != 1 {
				t.Errorf("attempts{%s} grew by %v, want 1", tc.outcome, got)
			}
		})
	}
	if n := e.trunk.Calls(); n != 0 {
		t.Errorf("trunk got %d calls", n)
	}
	for _, acct := range []string{"r-1001", "r-1003"} {
		if b := e.balance(acct); b.Held != 0 {
			t.Errorf("%s holds %v after refusals", acct, b.Held)
		}
	}
}
