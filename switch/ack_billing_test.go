package callswitch

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"ipcs/internal/clock"
	"ipcs/internal/money"
	"ipcs/internal/testutil"
	"ipcs/ledger"
)

// Billing between the trunk's 200 and the phone's ACK. The Meter starts
// at the trunk's 200; the INVITE handler then holds the call until the
// phone ACKs the switch's 200, which sipgo retransmits for up to 64*T1
// (32 s). These tests use a phone that ACKs exactly when told to.

// rawPhone is a housing-phone gateway on a trusted network that speaks
// SIP by hand over UDP, so a test controls exactly when (or whether) it
// ACKs the switch's 200. It answers the switch's BYE and INFO with 200.
type rawPhone struct {
	tb     testing.TB
	conn   *net.UDPConn
	sw     string
	callID string
	ftag   string
	body   string

	// mu guards ok and byes.
	mu      sync.Mutex
	ok      *sip.Response // the 200 to the INVITE
	byes    []string      // Reason headers of the BYEs received
	gotOK   chan struct{} // closed at the first 200
	gotBye  chan struct{}
	stopped chan struct{}
}

func newRawPhone(tb testing.TB, sw string) *rawPhone {
	tb.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	p := &rawPhone{tb: tb, conn: conn, sw: sw, callID: "raw-" + sip.GenerateTagN(10), ftag: sip.GenerateTagN(8),
		body: string(DefaultSDP), gotOK: make(chan struct{}), gotBye: make(chan struct{}, 4), stopped: make(chan struct{})}
	go p.read()
	tb.Cleanup(func() {
		conn.Close()
		<-p.stopped
	})
	return p
}

func (p *rawPhone) port() int { return p.conn.LocalAddr().(*net.UDPAddr).Port }

func (p *rawPhone) send(s string) {
	addr, err := net.ResolveUDPAddr("udp", p.sw)
	if err != nil {
		p.tb.Error(err)
		return
	}
	if _, err := p.conn.WriteToUDP([]byte(s), addr); err != nil {
		p.tb.Error(err)
	}
}

func (p *rawPhone) read() {
	defer close(p.stopped)
	buf := make([]byte, 65535)
	for {
		n, from, err := p.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		msg, err := sip.ParseMessage(append([]byte(nil), buf[:n]...))
		if err != nil {
			continue
		}
		switch m := msg.(type) {
		case *sip.Response:
			if cs := m.CSeq(); cs != nil && cs.MethodName == sip.INVITE && m.StatusCode == 200 {
				p.mu.Lock()
				if p.ok == nil {
					p.ok = m
					close(p.gotOK)
				}
				p.mu.Unlock()
			}
		case *sip.Request:
			res := sip.NewResponseFromRequest(m, 200, "OK", nil)
			_, _ = p.conn.WriteToUDP([]byte(res.String()), from)
			if m.Method == sip.BYE {
				r := ""
				if h := m.GetHeader("Reason"); h != nil {
					r = h.Value()
				}
				p.mu.Lock()
				p.byes = append(p.byes, r)
				p.mu.Unlock()
				select {
				case p.gotBye <- struct{}{}:
				default:
				}
			}
		}
	}
}

// invite sends PIN*to from a trusted gateway (no digest).
func (p *rawPhone) invite(pin, to string) {
	ruri := fmt.Sprintf("sip:%s*%s@%s", pin, to, p.sw)
	lines := []string{
		"INVITE " + ruri + " SIP/2.0",
		fmt.Sprintf("Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s;rport", p.port(), sip.GenerateTagN(12)),
		"From: <sip:phone-101@127.0.0.1>;tag=" + p.ftag,
		"To: <" + ruri + ">",
		"Call-ID: " + p.callID,
		"CSeq: 1 INVITE",
		fmt.Sprintf("Contact: <sip:phone-101@127.0.0.1:%d>", p.port()),
		"Max-Forwards: 70",
		"Content-Type: application/sdp",
		fmt.Sprintf("Content-Length: %d", len(p.body)),
	}
	p.send(strings.Join(lines, "\r\n") + "\r\n\r\n" + p.body)
}

func (p *rawPhone) waitOK() {
	p.tb.Helper()
	select {
	case <-p.gotOK:
	case <-time.After(10 * time.Second):
		p.tb.Fatal("no 200 for the INVITE")
	}
}

// ack confirms the switch's 200.
func (p *rawPhone) ack() {
	p.mu.Lock()
	ok := p.ok
	p.mu.Unlock()
	lines := []string{
		"ACK " + ok.Contact().Address.String() + " SIP/2.0",
		fmt.Sprintf("Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s;rport", p.port(), sip.GenerateTagN(12)),
		"From: " + ok.From().Value(),
		"To: " + ok.To().Value(),
		"Call-ID: " + p.callID,
		"CSeq: 1 ACK",
		"Max-Forwards: 70",
		"Content-Length: 0",
	}
	p.send(strings.Join(lines, "\r\n") + "\r\n\r\n")
}

// receivedByes returns the Reason headers of the BYEs received so far.
func (p *rawPhone) receivedByes() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.byes...)
}

// waitBye waits for the switch's BYE and returns its Reason.
func (p *rawPhone) waitBye() string {
	p.tb.Helper()
	select {
	case <-p.gotBye:
	case <-time.After(10 * time.Second):
		p.tb.Fatal("the switch sent the phone no BYE")
	}
	byes := p.receivedByes()
	return byes[len(byes)-1]
}

// trustedEnv is newEnv with 127.0.0.0/8 a gateway of facility demo, so
// that a rawPhone needs no digest.
func trustedEnv(tb testing.TB, o envOpts) *env {
	tb.Helper()
	o.cfg.TrustedNetworks = []TrustedNetwork{{CIDR: "127.0.0.0/8", Facility: "demo"}}
	return newEnv(tb, o)
}

// waitCDRs is env.cdrs with a bound of max real time, for a call that
// ends on sipgo's real-time 64*T1 (32 s).
func (e *env) waitCDRs(account string, n int, max time.Duration) []ledger.CDR {
	e.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), max)
	defer cancel()
	tick := clock.Real{}.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		got, _, err := e.led.CDRs(context.Background(), ledger.CDRQuery{AccountID: account}, 0)
		if err == nil && len(got) >= n {
			return got
		}
		select {
		case <-ctx.Done():
			e.tb.Fatalf("timed out waiting for %d CDRs of %s", n, account)
		case <-tick.C():
		}
	}
}

// TestTrunkByeBeforePhoneAckBillsUntilTheBye proves that a call the
// called party hangs up while the phone's ACK is outstanding is billed up
// to the trunk's BYE, not up to the ACK: the trunk hangs up 5 s after
// answering, the ACK comes 25 s later, and the CDR says 5 s, ended at
// the BYE. It also proves the SIP flow stays right: the phone gets no BYE
// before its ACK (RFC 3261 §15), and one with the trunk's cause after.
func TestTrunkByeBeforePhoneAckBillsUntilTheBye(t *testing.T) {
	testutil.CheckGoroutines(t)
	e := trustedEnv(t, envOpts{})
	p := newRawPhone(t, e.sw.Addr())
	p.invite("1001", "+13125550123")
	p.waitOK()
	e.eventually(func() bool { return e.trunk.Calls() == 1 }, "the trunk to hold the call")
	e.clk.Advance(5 * time.Second)
	if n, err := e.trunk.Hangup(context.Background(), ""); n != 1 || err != nil {
		t.Fatalf("trunk hangup: %d, %v", n, err)
	}
	// The switch answered the trunk's BYE: the called party is gone.
	e.clk.Advance(25 * time.Second)
	if byes := p.receivedByes(); len(byes) != 0 {
		t.Errorf("the phone got a BYE before its ACK: %q", byes)
	}
	p.ack()
	if r := p.waitBye(); !strings.Contains(r, "called party hung up") {
		t.Errorf("BYE Reason = %q", r)
	}
	c := e.cdrs("r-1001", 1)[0]
	if c.Cause != "called_hangup" || c.BilledSeconds != 5 || c.Amount != 5*money.Cent/10 || c.Ended.Sub(c.Answered) != 5*time.Second {
		t.Errorf("CDR = %+v, want called_hangup, 5 s, $0.005, ended 5 s after answer", c)
	}
	if b := e.balance("r-1001"); b.Held != 0 || b.Available != 20*money.Dollar-5*money.Cent/10 {
		t.Errorf("balance %v held %v", b.Available, b.Held)
	}
}

// TestOfficerHangupBeforePhoneAckBillsUntilTheHangup proves that an
// officer's hang-up while the phone's ACK is outstanding stops billing at
// once: the officer acts 3 s after answer, the ACK comes 20 s later, and
// the CDR says 3 s (cause officer); the phone gets its BYE after the ACK.
func TestOfficerHangupBeforePhoneAckBillsUntilTheHangup(t *testing.T) {
	testutil.CheckGoroutines(t)
	e := trustedEnv(t, envOpts{})
	p := newRawPhone(t, e.sw.Addr())
	p.invite("1001", "+13125550123")
	p.waitOK()
	e.clk.Advance(3 * time.Second)
	var id string
	e.sw.mu.Lock()
	for k := range e.sw.live {
		id = k
	}
	e.sw.mu.Unlock()
	if !e.sw.Hangup(id) {
		t.Fatal("call not live")
	}
	e.clk.Advance(20 * time.Second)
	p.ack()
	if r := p.waitBye(); !strings.Contains(r, "terminated by officer") {
		t.Errorf("BYE Reason = %q", r)
	}
	c := e.cdrs("r-1001", 1)[0]
	if c.Cause != "officer" || c.BilledSeconds != 3 || c.Ended.Sub(c.Answered) != 3*time.Second {
		t.Errorf("CDR = %+v, want officer, 3 s, ended 3 s after answer", c)
	}
	e.eventually(func() bool { return e.trunk.Calls() == 0 }, "the trunk leg to be hung up")
	if v := value(e.met.Calls.Cutoffs.WithLabelValues("officer")); v != 1 {
		t.Errorf("cutoffs{officer} = %v", v)
	}
}

// TestNoAckCallCostsNothing proves that a call whose phone never ACKs the
// switch's 200 costs nothing (DESIGN.md: never bill a call that did not
// connect): after sipgo gives up (64*T1), the CDR says no_ack, 0 s, $0,
// the whole reservation is back, and the trunk leg is hung up.
//
// It waits sipgo's real Timer H, 32 s: sipgo's timers are package
// globals that tests must not set (STYLE.md), so -short skips it.
func TestNoAckCallCostsNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("waits sipgo's real 64*T1 (32 s)")
	}
	testutil.CheckGoroutines(t)
	e := trustedEnv(t, envOpts{})
	p := newRawPhone(t, e.sw.Addr())
	p.invite("1001", "+13125550123")
	p.waitOK()
	e.eventually(func() bool { return e.trunk.Calls() == 1 }, "the trunk to hold the call")
	e.clk.Advance(20 * time.Second) // while sipgo retransmits the 200
	c := e.waitCDRs("r-1001", 1, 50*time.Second)[0]
	if c.Cause != "no_ack" || c.Amount != 0 || c.BilledSeconds != 0 {
		t.Errorf("CDR = %+v, want no_ack, 0 s, $0", c)
	}
	e.eventually(func() bool { return e.trunk.Calls() == 0 }, "the trunk leg to be hung up")
	if b := e.balance("r-1001"); b.Held != 0 || b.Available != 20*money.Dollar {
		t.Errorf("balance %v held %v, want $20.00 and nothing held", b.Available, b.Held)
	}
}
