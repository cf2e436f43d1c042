package callswitch

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"ipcs/internal/testutil"
)

// rawUDP sends one datagram to the switch and returns the first answer
// line, or "" if none came within the wait.
func rawUDP(t *testing.T, addr, msg string, wait time.Duration) string {
	t.Helper()
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for {
		conn.SetReadDeadline(time.Now().Add(wait))
		n, err := conn.Read(buf)
		if err != nil {
			return ""
		}
		line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
		if !strings.HasPrefix(line, "SIP/2.0 100") {
			return line
		}
	}
}

func sipMsg(method, ruri, callID string, extra ...string) string {
	lines := []string{
		method + " " + ruri + " SIP/2.0",
		"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK" + callID + ";rport",
		"From: <sip:phone-101@127.0.0.1>;tag=f" + callID,
		"To: <sip:x@127.0.0.1>",
		"Call-ID: " + callID,
		"CSeq: 1 " + method,
		"Max-Forwards: 70",
	}
	lines = append(lines, extra...)
	return strings.Join(lines, "\r\n") + "\r\nContent-Length: 0\r\n\r\n"
}

func TestUnknownDialogGets481(t *testing.T) {
	testutil.CheckGoroutines(t)
	e := newEnv(t, envOpts{})
	bye := strings.Replace(sipMsg("BYE", "sip:ipcs@"+e.sw.Addr(), "nodialog1"), "To: <sip:x@127.0.0.1>", "To: <sip:x@127.0.0.1>;tag=gone", 1)
	if got := rawUDP(t, e.sw.Addr(), bye, 5*time.Second); !strings.HasPrefix(got, "SIP/2.0 481") {
		t.Errorf("BYE for unknown dialog: %q, want 481", got)
	}
	info := strings.Replace(sipMsg("INFO", "sip:ipcs@"+e.sw.Addr(), "nodialog2"), "To: <sip:x@127.0.0.1>", "To: <sip:x@127.0.0.1>;tag=gone", 1)
	if got := rawUDP(t, e.sw.Addr(), info, 5*time.Second); !strings.HasPrefix(got, "SIP/2.0 481") {
		t.Errorf("INFO for unknown dialog: %q, want 481", got)
	}
	if got := rawUDP(t, e.sw.Addr(), sipMsg("CANCEL", "sip:1001*13125550123@"+e.sw.Addr(), "nocancel"), 5*time.Second); !strings.HasPrefix(got, "SIP/2.0 481") {
		t.Errorf("CANCEL for no INVITE: %q, want 481", got)
	}
}

func TestHostileInputIsRefusedAndCounted(t *testing.T) {
	testutil.CheckGoroutines(t)
	e := newEnv(t, envOpts{})
	addr := e.sw.Addr()
	contact := "Contact: <sip:phone-101@127.0.0.1:5999>"
	for _, tc := range []struct {
		name, msg, want string
	}{
		{"header injection in dial string", sipMsg("INVITE", "sip:1001*1312%0D%0AX-Evil:1@"+addr, "inj1", contact), "SIP/2.0 400"},
		{"letters in dial string", sipMsg("INVITE", "sip:1001*1312555abcd@"+addr, "inj2", contact), "SIP/2.0 400"},
		{"oversized dial string", sipMsg("INVITE", "sip:1001*"+strings.Repeat("1", 60)+"@"+addr, "inj3", contact), "SIP/2.0 400"},
		{"no Contact", sipMsg("INVITE", "sip:1001*13125550123@"+addr, "nocontact"), "SIP/2.0 400"},
		{"no CSeq", strings.Replace(sipMsg("INVITE", "sip:1001*13125550123@"+addr, "nocseq", contact), "CSeq: 1 INVITE\r\n", "", 1), "SIP/2.0 400"},
		{"no credentials", sipMsg("INVITE", "sip:1001*13125550123@"+addr, "noauth", contact), "SIP/2.0 401"},
		{"garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 hello", ""},
		{"oversized", "INVITE sip:x@y SIP/2.0\r\n" + strings.Repeat("X-Pad: "+strings.Repeat("a", 900)+"\r\n", 12) + "\r\n", ""},
		{"unparsable", "INVITE sip:x@y SIP/2.0\r\nVia: nonsense\r\nCSeq: x\r\n\r\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wait := 3 * time.Second
			if tc.want == "" {
				wait = 300 * time.Millisecond // dropped: nothing comes back
			}
			if got := rawUDP(t, addr, tc.msg, wait); !strings.HasPrefix(got, tc.want) || (tc.want == "" && got != "") {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	for _, kind := range []string{"garbage", "oversized", "bad_request"} {
		if v := value(e.met.Calls.Malformed.WithLabelValues(kind)); v < 1 {
			t.Errorf("malformed{%s} = %v", kind, v)
		}
	}
	// The switch keeps serving.
	pc, err := e.call(e.phone("phone-101", "udp"), "1001", "+13125550123")
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Hangup(context.Background()); err != nil {
		t.Errorf("hangup: %v", err)
	}
}

func TestDigest(t *testing.T) {
	testutil.CheckGoroutines(t)
	e := newEnv(t, envOpts{cfg: Config{DigestAlgorithms: []string{"SHA-256", "MD5"}}})
	t.Run("wrong password", func(t *testing.T) {
		p, err := NewPhone(PhoneConfig{Switch: e.sw.Addr(), PhoneID: "phone-101", Password: "nope"})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		_, err = e.call(p, "1001", "+13125550123")
		if ce := callError(t, err); ce.Status != 401 {
			t.Errorf("status %d, want 401", ce.Status)
		}
		if e.attempts("rejected_auth") < 1 {
			t.Error("rejected_auth not counted")
		}
	})
	t.Run("SHA-256 first", func(t *testing.T) {
		pc, err := e.call(e.phone("phone-102", "udp"), "1001", "+13125550123")
		if err != nil {
			t.Fatal(err)
		}
		if err := pc.Hangup(context.Background()); err != nil {
			t.Errorf("hangup: %v", err)
		}
	})
	t.Run("stale nonce", func(t *testing.T) {
		a := e.sw.auth
		dir := e.sw.dir.Load()
		nonce := a.nonce(e.clk.Now())
		req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: "1001*13125550123", Host: "127.0.0.1"})
		cred, err := digest.Digest(&digest.Challenge{Realm: "ipcs", Nonce: nonce, Algorithm: "MD5", QOP: []string{"auth"}},
			digest.Options{Method: "INVITE", URI: req.Recipient.Addr(), Username: "phone-101", Password: "demo"})
		if err != nil {
			t.Fatal(err)
		}
		req.AppendHeader(sip.NewHeader("Authorization", cred.String()))
		if _, err := a.authenticate(req, dir, e.clk.Now().Add(time.Minute)); err != nil {
			t.Fatalf("fresh nonce refused: %v", err)
		}
		_, err = a.authenticate(req, dir, e.clk.Now().Add(6*time.Minute))
		ce, ok := err.(*challengeError)
		if !ok || !ce.stale {
			t.Fatalf("old nonce: %v, want a stale challenge", err)
		}
		if h := ce.headers()[0].Value(); !strings.Contains(h, "stale=true") {
			t.Errorf("challenge %q lacks stale=true", h)
		}
	})
}

func TestTrustedGatewayNeedsNoDigest(t *testing.T) {
	testutil.CheckGoroutines(t)
	e := newEnv(t, envOpts{cfg: Config{TrustedNetworks: []TrustedNetwork{{CIDR: "127.0.0.0/8", Facility: "demo"}}}})
	p, err := NewPhone(PhoneConfig{Switch: e.sw.Addr(), PhoneID: "gateway-7"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	pc, err := e.call(p, "1001", "+13125550123")
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Hangup(context.Background()); err != nil {
		t.Errorf("hangup: %v", err)
	}
}

func TestPINLockout(t *testing.T) {
	testutil.CheckGoroutines(t)
	e := newEnv(t, envOpts{cfg: Config{PINMaxFailures: 3}})
	p := e.phone("phone-101", "udp")
	for i := range 3 {
		_, err := e.call(p, fmt.Sprintf("900%d", i), "+13125550123")
		if ce := callError(t, err); ce.Status != 403 || !strings.Contains(ce.Reason, "invalid PIN") {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	_, err := e.call(p, "1001", "+13125550123")
	if ce := callError(t, err); ce.Status != 403 || !strings.Contains(ce.Reason, "locked out") {
		t.Fatalf("after lockout: %v", err)
	}
	if v := value(e.met.Calls.Lockouts); v != 1 {
		t.Errorf("lockouts = %v", v)
	}
	// Another phone is not locked; the locked one is free again later.
	pc, err := e.call(e.phone("phone-102", "udp"), "1001", "+13125550123")
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Hangup(context.Background()); err != nil {
		t.Errorf("hangup: %v", err)
	}
	// Let the switch finish with the trunk first: a clock moved during
	// its BYE would time that BYE out.
	e.eventually(func() bool { return e.sw.ActiveCalls() == 0 }, "the call to end")
	e.clk.Advance(DefaultPINLockout + time.Second)
	pc, err = e.call(p, "1001", "+13125550123")
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Hangup(context.Background()); err != nil {
		t.Errorf("hangup: %v", err)
	}
}

func TestCallingHours(t *testing.T) {
	testutil.CheckGoroutines(t)
	e := newEnv(t, envOpts{})
	p := e.phone("phone-201", "udp")
	pc, err := e.call(p, "2001", "+13125550123") // 10:00 CDT: open
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Hangup(context.Background()); err != nil {
		t.Errorf("hangup: %v", err)
	}
	e.eventually(func() bool { return e.sw.ActiveCalls() == 0 }, "the call to end")
	e.clk.Advance(3 * time.Hour) // 13:00 CDT: closed
	_, err = e.call(p, "2001", "+13125550123")
	if ce := callError(t, err); ce.Status != 403 || !strings.Contains(ce.Reason, "calling hours") {
		t.Errorf("got %v, want 403 calling hours", err)
	}
}
