package callswitch

import (
	"bufio"
	"bytes"
	"context"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"ipcs/internal/testutil"
)

// switchGoroutines counts the goroutines carrying the switch's profile
// label (set on its listeners and inherited by every goroutine sipgo
// starts from them), so the test's own phone and trunk do not count.
func switchGoroutines(t *testing.T) int {
	t.Helper()
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		t.Fatal(err)
	}
	// debug=1 groups identical stacks: "N @ 0x…", then "# labels: {…}".
	n, group := 0, 0
	sc := bufio.NewScanner(&buf)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if count, _, ok := strings.Cut(line, " @ "); ok {
			group, _ = strconv.Atoi(count)
			continue
		}
		if strings.HasPrefix(line, "# labels:") && strings.Contains(line, `"component":"callswitch"`) {
			n += group
			group = 0
		}
	}
	return n
}

// An answered call holds no goroutine of the switch: after the phone's ACK
// the INVITE handler returns and the call waits for its events.
func TestAnsweredCallsHoldNoGoroutine(t *testing.T) {
	testutil.CheckGoroutines(t)
	e := newEnv(t, envOpts{trunk: TrunkConfig{RingDelay: time.Microsecond}})
	p := e.phone("phone-101", "udp")
	// A first call warms up sipgo's and the switch's long-lived goroutines.
	pc, err := e.call(p, "1001", "+15555550199")
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Hangup(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.eventually(func() bool { return e.sw.ActiveCalls() == 0 }, "the first call to end")
	before := switchGoroutines(t)

	const calls = 40
	live := make([]*PhoneCall, 0, calls)
	for range calls {
		pc, err := e.call(p, "1001", "+15555550199") // privileged: free, no hold
		if err != nil {
			t.Fatal(err)
		}
		live = append(live, pc)
	}
	e.eventually(func() bool { return e.sw.ActiveCalls() == calls }, "%d live calls", calls)
	// Handler goroutines of the last requests may still be returning.
	deadline := time.Now().Add(5 * time.Second)
	for during := switchGoroutines(t); during-before >= calls/4; during = switchGoroutines(t) {
		if time.Now().After(deadline) {
			t.Fatalf("%d switch goroutines with %d answered calls, %d before: the calls hold goroutines", during, calls, before)
		}
		time.Sleep(20 * time.Millisecond)
	}

	for _, pc := range live {
		if err := pc.Hangup(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	e.eventually(func() bool { return e.sw.ActiveCalls() == 0 }, "calls to end")
	if got := len(e.cdrs("r-1001", calls+1)); got != calls+1 {
		t.Fatalf("%d CDRs, want %d", got, calls+1)
	}
}

// The digest challenge is answered statelessly: the same unauthenticated
// INVITE sent twice (a retransmission whose 401 was lost) is challenged
// twice, and the ACK for a 401 that matches no transaction is absorbed.
func TestChallengeIsStateless(t *testing.T) {
	testutil.CheckGoroutines(t)
	e := newEnv(t, envOpts{})
	inv := sipMsg("INVITE", "sip:1001*13125550123@127.0.0.1", "stateless-1",
		"Contact: <sip:phone-101@127.0.0.1:5999>")
	for i := range 2 {
		if got := rawUDP(t, e.sw.Addr(), inv, 2*time.Second); !strings.HasPrefix(got, "SIP/2.0 401") {
			t.Fatalf("INVITE #%d: %q, want a 401 challenge", i+1, got)
		}
	}
	ack := strings.Replace(sipMsg("ACK", "sip:1001*13125550123@127.0.0.1", "stateless-1"), "To: <sip:x@127.0.0.1>", "To: <sip:x@127.0.0.1>;tag=t1", 1)
	if got := rawUDP(t, e.sw.Addr(), ack, 300*time.Millisecond); got != "" {
		t.Fatalf("ACK answered %q, want no answer", got)
	}
	// The switch still serves calls.
	pc, err := e.call(e.phone("phone-102", "udp"), "1001", "+13125550123")
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Hangup(context.Background()); err != nil {
		t.Errorf("hangup: %v", err)
	}
}
