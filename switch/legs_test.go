package callswitch

import (
	"context"
	"strings"
	"testing"
	"time"

	"ipcs/internal/testutil"
)

// Destinations the scripted trunk treats specially.
const (
	numRingForever = "+13125550100"
	numBusy        = "+13125550186"
	numUnavail     = "+13125550103"
)

func scriptedTrunk() TrunkConfig {
	return TrunkConfig{Answer: func(dest string) int {
		switch dest {
		case numRingForever:
			return 0
		case numBusy:
			return 486
		case numUnavail:
			return 503
		}
		return 200
	}}
}

func TestByeFromTrunkEndsPhone(t *testing.T) {
	testutil.CheckGoroutines(t)
	e := newEnv(t, envOpts{})
	pc, err := e.call(e.phone("phone-101", "udp"), "1001", "+13125550123")
	if err != nil {
		t.Fatal(err)
	}
	e.eventually(func() bool { return e.trunk.Calls() == 1 }, "the trunk to hold the call")
	e.clk.Advance(30 * time.Second)
	if n, err := e.trunk.Hangup(context.Background(), ""); n != 1 || err != nil {
		t.Fatalf("trunk hangup: %d, %v", n, err)
	}
	select {
	case <-pc.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("phone was not hung up")
	}
	if r := pc.EndReason(); !strings.Contains(r, "called party hung up") {
		t.Errorf("Reason = %q", r)
	}
	c := e.cdrs("r-1001", 1)[0]
	if c.Cause != "called_hangup" || c.BilledSeconds != 30 {
		t.Errorf("CDR = %+v", c)
	}
}

// TestSlowByeAnswerIsNotBilled hangs up a call whose trunk takes two
// minutes to confirm the switch's BYE: the resident pays for the call
// up to the hang-up, not for the wait.
func TestSlowByeAnswerIsNotBilled(t *testing.T) {
	testutil.CheckGoroutines(t)
	inBye, release := make(chan struct{}, 1), make(chan struct{})
	tc := scriptedTrunk()
	tc.BeforeByeAnswer = func() {
		inBye <- struct{}{}
		<-release
	}
	e := newEnv(t, envOpts{trunk: tc})
	pc, err := e.call(e.phone("phone-101", "udp"), "1001", "+13125550123")
	if err != nil {
		t.Fatal(err)
	}
	e.eventually(func() bool { return e.trunk.Calls() == 1 }, "the trunk to hold the call")
	e.clk.Advance(30 * time.Second)
	hungUp := make(chan error, 1)
	go func() { hungUp <- pc.Hangup(context.Background()) }()
	select {
	case <-inBye:
	case <-time.After(10 * time.Second):
		t.Fatal("the switch sent the trunk no BYE")
	}
	e.clk.Advance(2 * time.Minute)
	close(release)
	if err := <-hungUp; err != nil {
		t.Fatal(err)
	}
	c := e.cdrs("r-1001", 1)[0]
	if c.Cause != "caller_hangup" || c.BilledSeconds != 30 || c.Ended.Sub(c.Answered) != 30*time.Second {
		t.Errorf("CDR = %+v, want 30 s billed, ended at the hang-up", c)
	}
}

func TestTrunkFailuresPassThroughAndCostNothing(t *testing.T) {
	testutil.CheckGoroutines(t)
	e := newEnv(t, envOpts{trunk: scriptedTrunk()})
	p := e.phone("phone-101", "udp")
	for _, tc := range []struct {
		to      string
		status  int
		outcome string
	}{
		{numBusy, 486, "busy"},
		{numUnavail, 503, "trunk_failure"},
	} {
		_, err := e.call(p, "1001", tc.to)
		if ce := callError(t, err); ce.Status != tc.status {
			t.Errorf("%s: status %d, want %d", tc.to, ce.Status, tc.status)
		}
		e.eventually(func() bool { return e.attempts(tc.outcome) == 1 }, "attempts{%s}", tc.outcome)
	}
	cdrs := e.cdrs("r-1001", 2)
	for _, c := range cdrs {
		if c.Amount != 0 || c.BilledSeconds != 0 || !c.Answered.IsZero() {
			t.Errorf("unanswered call billed: %+v", c)
		}
	}
	if b := e.balance("r-1001"); b.Held != 0 || b.Available != 20_000_000 {
		t.Errorf("balance %v held %v", b.Available, b.Held)
	}
}

func TestCancelBeforeAnswer(t *testing.T) {
	testutil.CheckGoroutines(t)
	e := newEnv(t, envOpts{trunk: scriptedTrunk()})
	p := e.phone("phone-101", "udp")
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := p.Call(ctx, "1001", numRingForever)
		errc <- err
	}()
	// Cancel once the switch has the call ringing on the trunk.
	e.eventually(func() bool { return e.sw.ActiveCalls() == 1 && value(e.met.Calls.Active) == 1 }, "the call to ring")
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("cancelled call was answered")
	}
	c := e.cdrs("r-1001", 1)[0]
	if c.Cause != "cancelled" || c.Amount != 0 {
		t.Errorf("CDR = %+v", c)
	}
	e.eventually(func() bool { return e.attempts("cancelled") == 1 && e.sw.ActiveCalls() == 0 }, "the cancel to be counted")
	if b := e.balance("r-1001"); b.Held != 0 {
		t.Errorf("held %v after cancel", b.Held)
	}
}

func TestNoAnswerTimeout(t *testing.T) {
	testutil.CheckGoroutines(t)
	e := newEnv(t, envOpts{trunk: scriptedTrunk(), cfg: Config{NoAnswerTimeout: 30 * time.Second}})
	p := e.phone("phone-101", "udp")
	errc := make(chan error, 1)
	go func() {
		_, err := e.call(p, "1001", numRingForever)
		errc <- err
	}()
	e.eventually(func() bool { return e.sw.ActiveCalls() == 1 }, "the call to ring")
	e.clk.Advance(31 * time.Second)
	ce := callError(t, <-errc)
	if ce.Status != 480 || !strings.Contains(ce.Reason, "no answer") {
		t.Errorf("got %d %q, want 480 no answer", ce.Status, ce.Reason)
	}
	if c := e.cdrs("r-1001", 1)[0]; c.Cause != "no_answer" || c.Amount != 0 {
		t.Errorf("CDR = %+v", c)
	}
}

func TestPrivilegedNumberIsFreeAndFlagged(t *testing.T) {
	testutil.CheckGoroutines(t)
	e := newEnv(t, envOpts{})
	pc, err := e.call(e.phone("phone-101", "udp"), "1001", "+15555550199")
	if err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(10 * time.Minute)
	if err := pc.Hangup(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := e.cdrs("r-1001", 1)[0]
	if !c.Privileged || c.Amount != 0 {
		t.Errorf("CDR = %+v, want privileged and free", c)
	}
}

func TestCloseHangsUpBothLegs(t *testing.T) {
	testutil.CheckGoroutines(t)
	e := newEnv(t, envOpts{})
	pc, err := e.call(e.phone("phone-101", "tcp"), "1001", "+13125550123")
	if err != nil {
		t.Fatal(err)
	}
	e.eventually(func() bool { return e.trunk.Calls() == 1 }, "the trunk to hold the call")
	e.clk.Advance(5 * time.Second)
	if err := e.sw.Close(); err != nil {
		t.Fatal(err)
	}
	<-pc.Done()
	if r := pc.EndReason(); !strings.Contains(r, "shutdown") {
		t.Errorf("Reason = %q", r)
	}
	if e.trunk.Calls() != 0 {
		t.Error("trunk leg still up after Close")
	}
	if c := e.cdrs("r-1001", 1)[0]; c.Cause != "shutdown" || c.BilledSeconds != 5 {
		t.Errorf("CDR = %+v", c)
	}
	if v := value(e.met.Calls.Cutoffs.WithLabelValues("shutdown")); v != 1 {
		t.Errorf("cutoffs{shutdown} = %v", v)
	}
}

func TestOverloadAnswers503(t *testing.T) {
	testutil.CheckGoroutines(t)
	e := newEnv(t, envOpts{cfg: Config{MaxCalls: 1}})
	p := e.phone("phone-101", "udp")
	pc, err := e.call(p, "1001", "+13125550123")
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.call(p, "1005", "+13125550124")
	if ce := callError(t, err); ce.Status != 503 {
		t.Errorf("status %d, want 503", ce.Status)
	}
	if e.attempts("overload") != 1 {
		t.Errorf("overload attempts = %v", e.attempts("overload"))
	}
	if err := pc.Hangup(context.Background()); err != nil {
		t.Errorf("hangup: %v", err)
	}
}

// A released resident's account refuses every call, paid (the reservation
// refuses it) and free (the account is read), with 403, and holds nothing.
func TestReleasedResidentIsRefused(t *testing.T) {
	testutil.CheckGoroutines(t)
	e := newEnv(t, envOpts{})
	if err := e.led.ReleaseAccount(context.Background(), "r-1001", e.clk.Now()); err != nil {
		t.Fatal(err)
	}
	p := e.phone("phone-101", "udp")
	for _, to := range []string{"+13125550123", "+15555550199"} {
		_, err := e.call(p, "1001", to)
		if ce := callError(t, err); ce.Status != 403 {
			t.Errorf("call to %s: status %d, want 403", to, ce.Status)
		}
	}
	if b := e.balance("r-1001"); b.Held != 0 {
		t.Errorf("held %v after refused calls, want 0", b.Held)
	}
	if e.attempts("rejected_policy") < 2 {
		t.Errorf("refusals not counted as rejected_policy")
	}
}
