package callswitch

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/icholy/digest"

	"ipcs/internal/testutil"
)

// TestOwnPINDoesNotResetTheLockout: a resident who knows their own PIN
// guesses other residents' PINs on a shared phone, dialing their own
// between guesses (an invalid destination, so it costs nothing). A good
// PIN used to clear the phone's failures, so the phone was never locked;
// now the third wrong PIN in the window locks it.
func TestOwnPINDoesNotResetTheLockout(t *testing.T) {
	testutil.CheckGoroutines(t)
	e := newEnv(t, envOpts{cfg: Config{PINMaxFailures: 3}})
	p := e.phone("phone-101", "udp")
	wrong := 0
	for round := range 4 {
		for range 2 {
			_, err := e.call(p, fmt.Sprint(9000+wrong), "+13125550123")
			wrong++
			if ce := callError(t, err); strings.Contains(ce.Reason, "locked out") {
				t.Fatalf("locked out at wrong PIN %d: the lockout answers the next attempt, not the failing one", wrong)
			}
			if wrong == 3 {
				if _, err := e.call(p, "1001", "+13125550123"); !strings.Contains(callError(t, err).Reason, "locked out") {
					t.Fatalf("after 3 wrong PINs with own PINs between them: %v, want locked out", err)
				}
				return
			}
		}
		// Own PIN, invalid destination: 404, nothing billed.
		_, err := e.call(p, "1001", "1")
		if ce := callError(t, err); ce.Status != 404 {
			t.Fatalf("round %d: own PIN: %v", round, err)
		}
	}
}

// TestGatewayLockoutIgnoresFromUser: behind a trusted gateway a phone is
// named by its From user, a header the caller may choose, so a new name
// per guess used to start a fresh count every time. The gateway as a
// whole now locks after gatewayLockoutFactor phones' worth of failures,
// whatever the names: every phone behind it is refused then, a good PIN
// included.
func TestGatewayLockoutIgnoresFromUser(t *testing.T) {
	testutil.CheckGoroutines(t)
	const max = 2
	e := newEnv(t, envOpts{cfg: Config{PINMaxFailures: max, TrustedNetworks: []TrustedNetwork{{CIDR: "127.0.0.0/8", Facility: "demo"}}}})
	call := func(name, pin string) error {
		p, err := NewPhone(PhoneConfig{Switch: e.sw.Addr(), PhoneID: name})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		_, err = e.call(p, pin, "+13125550123")
		return err
	}
	for i := range gatewayLockoutFactor * max {
		if err := call(fmt.Sprintf("handset-%d", i), fmt.Sprint(9000+i)); strings.Contains(callError(t, err).Reason, "locked out") {
			t.Fatalf("locked out at wrong PIN %d, before the gateway's %d", i+1, gatewayLockoutFactor*max)
		}
	}
	if err := call("handset-new", "1001"); !strings.Contains(callError(t, err).Reason, "locked out") {
		t.Fatalf("after %d wrong PINs under %d names: %v, want the gateway locked out", gatewayLockoutFactor*max, gatewayLockoutFactor*max, err)
	}
}

// TestDigestURIMustBeTheRequestURI: digest credentials signed for one
// dial string (1001*13125550123) are sent with another Request-URI (a
// different PIN and number). The switch used to compute the response over
// the header's digest-uri without comparing it with the Request-URI
// (RFC 2617 §3.2.2.5, RFC 3261 §22.4), so one captured header authorized
// any dial string as that phone; now it challenges again (401).
func TestDigestURIMustBeTheRequestURI(t *testing.T) {
	e := newEnv(t, envOpts{})
	addr := e.sw.Addr()
	nonce := e.sw.auth.nonce(e.clk.Now())
	cred, err := digest.Digest(&digest.Challenge{Realm: "ipcs", Nonce: nonce, Algorithm: "MD5", QOP: []string{"auth"}},
		digest.Options{Method: "INVITE", URI: "sip:1001*13125550123@" + addr, Username: "phone-101", Password: "demo", Cnonce: "abc", Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	msg := sipMsg("INVITE", "sip:9999*15555550199@"+addr, "uribind1",
		"Contact: <sip:phone-101@127.0.0.1:5999>", "Authorization: "+cred.String())
	got := rawUDP(t, addr, msg, 3*time.Second)
	if !strings.HasPrefix(got, "SIP/2.0 401") {
		t.Errorf("Authorization for another Request-URI: got %q, want 401", got)
	}
}

// TestConcurrentGuessesAreCounted: a phone sends a burst of wrong PINs
// at once. Only PINMaxFailures of them may be tried; the rest must be
// refused as locked out, or a burst per lockout period would be tried
// instead of PINMaxFailures. (The lockout is checked before and counted
// after the PIN's look-up, with no I/O between them; this checks that
// the gap lets no burst through.)
func TestConcurrentGuessesAreCounted(t *testing.T) {
	testutil.CheckGoroutines(t)
	const max, burst = 3, 40
	e := newEnv(t, envOpts{cfg: Config{PINMaxFailures: max}})
	p := e.phone("phone-101", "udp")
	var (
		wg            sync.WaitGroup
		tried, locked atomic.Int32
		other         = make(chan error, burst)
	)
	for i := range burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.call(p, fmt.Sprint(9000+i), "+13125550123")
			var ce *CallError
			switch {
			case !errors.As(err, &ce):
				other <- err
			case strings.Contains(ce.Reason, "invalid PIN"):
				tried.Add(1)
			case strings.Contains(ce.Reason, "locked out"):
				locked.Add(1)
			default:
				other <- err
			}
		}()
	}
	wg.Wait()
	close(other)
	for err := range other {
		t.Errorf("unexpected answer: %v", err)
	}
	if tried.Load() > max || tried.Load()+locked.Load() != burst {
		t.Fatalf("of %d wrong PINs sent at once, %d were tried and %d refused as locked out; want at most %d tried",
			burst, tried.Load(), locked.Load(), max)
	}
}

// TestReplayedCredentialsAreChallenged: an INVITE's Authorization header,
// captured and sent again in a new INVITE (new Call-ID and branch, which
// the digest does not cover) within the nonce's lifetime, placed the same
// call again as that phone, billed to the same resident. The switch now
// remembers the responses it accepted while their nonce is fresh and
// answers a repeat 401 with stale=true (a phone that repeats a request
// without qop retries with the new nonce, silently).
func TestReplayedCredentialsAreChallenged(t *testing.T) {
	e := newEnv(t, envOpts{})
	addr := e.sw.Addr()
	nonce := e.sw.auth.nonce(e.clk.Now())
	ruri := "sip:1001*1@" + addr // an invalid destination: 404, nothing billed
	for _, qop := range []string{"auth", ""} {
		ch := &digest.Challenge{Realm: "ipcs", Nonce: nonce, Algorithm: "MD5"}
		if qop != "" {
			ch.QOP = []string{qop}
		}
		cred, err := digest.Digest(ch, digest.Options{Method: "INVITE", URI: ruri, Username: "phone-101", Password: "demo", Cnonce: "c" + qop, Count: 1})
		if err != nil {
			t.Fatal(err)
		}
		send := func(callID string) string {
			return rawUDP(t, addr, sipMsg("INVITE", ruri, callID, "Contact: <sip:phone-101@127.0.0.1:5999>", "Authorization: "+cred.String()), 3*time.Second)
		}
		if got := send("first" + qop); !strings.HasPrefix(got, "SIP/2.0 404") {
			t.Fatalf("qop %q: first use of the credentials: %q, want 404 (admitted, invalid destination)", qop, got)
		}
		if got := send("again" + qop); !strings.HasPrefix(got, "SIP/2.0 401") {
			t.Errorf("qop %q: the same credentials in a new INVITE: %q, want 401", qop, got)
		}
	}
}
