package callswitch

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// identity is who placed a call: a housing phone (digest) or a facility
// gateway (trusted network). phoneID keys the PIN lockout.
type identity struct {
	phoneID  string
	facility string
	gateway  bool
	// gatewayKey is "gw:<ip>" for a trusted gateway's calls: phoneID adds
	// the From user, a header the caller behind the gateway may choose,
	// so PIN failures are also counted for the gateway as a whole.
	gatewayKey string
}

// authenticator checks SIP digest credentials (RFC 3261 §22, RFC 8760
// for SHA-256) against the directory, and trusted gateway networks.
// Nonces are stateless: "<unix-seconds hex>.<HMAC-SHA256 of it>", so any
// node that shares the secret can validate them, and nothing is stored
// per challenge.
type authenticator struct {
	realm    string
	algs     []string
	lifetime time.Duration
	secret   [32]byte
	trusted  []trustedNet

	// cur is the nonce of the current second with its challenge header
	// values: a nonce depends only on the second, so the HMAC and the
	// header formatting run once a second, not once per challenge, and
	// checking the nonce a phone echoes back is a string compare.
	cur atomic.Pointer[nonceSecond]

	// used remembers the credentials accepted while their nonce is fresh.
	used replays
}

// replays remembers the digest responses the switch accepted, by the
// minute their nonce was issued, for as long as that nonce is fresh. The
// digest covers the nonce, nc, cnonce, method and Request-URI, not the
// Call-ID: the same response again is the same request captured and sent
// again (or, without qop, a phone repeating a request with a cached
// nonce). A node remembers what it accepted itself; across nodes sharing
// the nonce secret, a replay to another node is not caught.
type replays struct {
	// mu guards byMinute.
	mu       sync.Mutex
	byMinute map[int64]map[[16]byte]struct{}
}

// seen records response (accepted for a nonce issued at unix second sec)
// and reports whether it had been recorded. Minutes whose nonces are no
// longer fresh at now (lifetime, and the minute of skew fresh allows) are
// dropped.
func (r *replays) seen(sec int64, response string, now time.Time, lifetime time.Duration) bool {
	var key [16]byte
	sum := sha256.Sum256([]byte(strings.ToLower(response)))
	copy(key[:], sum[:])
	minute := sec / 60
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.byMinute[minute]
	if m == nil {
		if r.byMinute == nil {
			r.byMinute = make(map[int64]map[[16]byte]struct{})
		}
		oldest := now.Add(-lifetime-2*time.Minute).Unix() / 60
		for k := range r.byMinute {
			if k < oldest {
				delete(r.byMinute, k)
			}
		}
		m = make(map[[16]byte]struct{})
		r.byMinute[minute] = m
	}
	if _, ok := m[key]; ok {
		return true
	}
	m[key] = struct{}{}
	return false
}

// nonceSecond is one second's nonce, its WWW-Authenticate values (one
// per algorithm, stale=false) and the previous second's nonce.
type nonceSecond struct {
	sec      int64
	nonce    string
	values   []string
	prevSec  int64
	prevOnce string
}

type trustedNet struct {
	prefix   netip.Prefix
	facility string
}

// challengeError asks for (new) credentials; answer.go turns it into 401.
type challengeError struct {
	err    error // ErrUnauthenticated or ErrBadCredentials
	stale  bool
	nonce  string
	realm  string
	algs   []string
	values []string // preformatted header values (stale=false), or nil
	phone  string   // username that failed, for logs ("" if none)
	reason string   // why, for logs
}

func (e *challengeError) Error() string {
	if e.reason != "" {
		return fmt.Sprintf("%v: %s", e.err, e.reason)
	}
	return e.err.Error()
}

func (e *challengeError) Unwrap() error { return e.err }

// headers returns one WWW-Authenticate per offered algorithm, in order of
// preference (RFC 8760 §3).
func (e *challengeError) headers() []sip.Header {
	hs := make([]sip.Header, 0, len(e.algs))
	if e.values != nil {
		for _, v := range e.values {
			hs = append(hs, sip.NewHeader("WWW-Authenticate", v))
		}
		return hs
	}
	for _, alg := range e.algs {
		c := digest.Challenge{Realm: e.realm, Nonce: e.nonce, Algorithm: alg, QOP: []string{"auth"}, Stale: e.stale}
		hs = append(hs, sip.NewHeader("WWW-Authenticate", c.String()))
	}
	return hs
}

func newAuthenticator(cfg *Config) (*authenticator, error) {
	a := &authenticator{realm: cfg.Realm, algs: cfg.DigestAlgorithms, lifetime: cfg.NonceLifetime}
	if _, err := rand.Read(a.secret[:]); err != nil {
		return nil, fmt.Errorf("nonce secret: %w", err)
	}
	for _, tn := range cfg.TrustedNetworks {
		p, err := netip.ParsePrefix(tn.CIDR)
		if err != nil {
			return nil, err
		}
		a.trusted = append(a.trusted, trustedNet{p.Masked(), tn.Facility})
	}
	return a, nil
}

func (a *authenticator) nonce(now time.Time) string {
	return a.second(now).nonce
}

// second returns the current second's nonce and challenge values.
func (a *authenticator) second(now time.Time) *nonceSecond {
	sec := now.Unix()
	old := a.cur.Load()
	if old != nil && old.sec == sec {
		return old
	}
	ns := &nonceSecond{sec: sec, nonce: a.makeNonce(sec), values: make([]string, 0, len(a.algs))}
	for _, alg := range a.algs {
		c := digest.Challenge{Realm: a.realm, Nonce: ns.nonce, Algorithm: alg, QOP: []string{"auth"}}
		ns.values = append(ns.values, c.String())
	}
	if old != nil {
		ns.prevSec, ns.prevOnce = old.sec, old.nonce
	}
	// A racing goroutine may store its own copy for the same second:
	// both are identical, so either may win.
	if old == nil || old.sec < sec {
		a.cur.CompareAndSwap(old, ns)
	}
	return ns
}

func (a *authenticator) makeNonce(sec int64) string {
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(sec))
	m := hmac.New(sha256.New, a.secret[:])
	m.Write(ts[:])
	return hex.EncodeToString(ts[:]) + "." + hex.EncodeToString(m.Sum(nil)[:16])
}

// checkNonce reports whether n is one of ours, the unix second it was
// issued, and whether it is still fresh.
func (a *authenticator) checkNonce(n string, now time.Time) (ours bool, sec int64, fresh bool) {
	if ns := a.cur.Load(); ns != nil && n != "" {
		switch n {
		case ns.nonce:
			return true, ns.sec, a.fresh(ns.sec, now)
		case ns.prevOnce:
			return true, ns.prevSec, a.fresh(ns.prevSec, now)
		}
	}
	tsHex, macHex, ok := strings.Cut(n, ".")
	if !ok || len(tsHex) != 16 || len(macHex) != 32 {
		return false, 0, false
	}
	var ts [8]byte
	if _, err := hex.Decode(ts[:], []byte(tsHex)); err != nil {
		return false, 0, false
	}
	var got [16]byte
	if _, err := hex.Decode(got[:], []byte(macHex)); err != nil {
		return false, 0, false
	}
	m := hmac.New(sha256.New, a.secret[:])
	m.Write(ts[:])
	if !hmac.Equal(got[:], m.Sum(nil)[:16]) {
		return false, 0, false
	}
	sec = int64(binary.BigEndian.Uint64(ts[:]))
	return true, sec, a.fresh(sec, now)
}

// fresh reports whether a nonce issued at unix second sec is still valid
// at now (a minute of clock skew between nodes tolerated).
func (a *authenticator) fresh(sec int64, now time.Time) bool {
	age := now.Sub(time.Unix(sec, 0))
	return age >= -time.Minute && age <= a.lifetime
}

func (a *authenticator) challenge(now time.Time, err error, stale bool, phone, reason string) *challengeError {
	ns := a.second(now)
	e := &challengeError{err: err, stale: stale, nonce: ns.nonce, realm: a.realm, algs: a.algs, phone: phone, reason: reason}
	if !stale {
		e.values = ns.values
	}
	return e
}

// authenticate identifies the sender of req at now.
func (a *authenticator) authenticate(req *sip.Request, dir *Directory, now time.Time) (identity, error) {
	if len(a.trusted) > 0 {
		if ap, err := netip.ParseAddrPort(req.Source()); err == nil {
			ip := ap.Addr().Unmap()
			for _, tn := range a.trusted {
				if tn.prefix.Contains(ip) {
					id := identity{facility: tn.facility, gateway: true, phoneID: "gw:" + ip.String(), gatewayKey: "gw:" + ip.String()}
					if f := req.From(); f != nil && f.Address.User != "" && tokenOK(f.Address.User) {
						id.phoneID += "/" + f.Address.User
					}
					return id, nil
				}
			}
		}
	}
	h := req.GetHeader("Authorization")
	if h == nil {
		return identity{}, a.challenge(now, ErrUnauthenticated, false, "", "")
	}
	val := h.Value()
	if len(val) > 2048 {
		return identity{}, fmt.Errorf("%w: oversized Authorization", ErrMalformed)
	}
	cred, err := digest.ParseCredentials(val)
	if err != nil {
		return identity{}, a.challenge(now, ErrBadCredentials, false, "", "unparsable credentials")
	}
	if !tokenOK(cred.Username) {
		return identity{}, a.challenge(now, ErrBadCredentials, false, "", "bad username")
	}
	alg := strings.ToUpper(cred.Algorithm)
	if alg == "" {
		alg = "MD5" // RFC 2617 §3.2.1: absent means MD5
	}
	offered := false
	for _, x := range a.algs {
		offered = offered || x == alg
	}
	if !offered || cred.Realm != a.realm || cred.Userhash {
		return identity{}, a.challenge(now, ErrBadCredentials, false, cred.Username, "algorithm or realm")
	}
	ours, issued, fresh := a.checkNonce(cred.Nonce, now)
	if !ours {
		return identity{}, a.challenge(now, ErrBadCredentials, false, cred.Username, "unknown nonce")
	}
	p := dir.phone(cred.Username)
	if p == nil {
		return identity{}, a.challenge(now, ErrBadCredentials, false, cred.Username, "unknown phone")
	}
	// The response covers cred.URI: it must name this request's URI
	// (RFC 3261 §22.4, RFC 2617 §3.2.2.5, see uriMatches), or an
	// Authorization header seen once would authorize any dial string
	// (PIN and number) as that phone for the nonce's lifetime.
	if !uriMatches(cred.URI, &req.Recipient) {
		return identity{}, a.challenge(now, ErrBadCredentials, false, cred.Username, "uri mismatch")
	}
	chal := &digest.Challenge{Realm: a.realm, Nonce: cred.Nonce, Algorithm: cred.Algorithm}
	if cred.QOP != "" {
		if cred.QOP != "auth" || cred.Cnonce == "" {
			return identity{}, a.challenge(now, ErrBadCredentials, false, cred.Username, "qop")
		}
		chal.QOP = []string{"auth"}
	}
	want, err := digest.Digest(chal, digest.Options{
		Method:   string(req.Method),
		URI:      cred.URI,
		Username: cred.Username,
		Password: p.password,
		Cnonce:   cred.Cnonce,
		Count:    cred.Nc,
	})
	if err != nil || subtle.ConstantTimeCompare([]byte(want.Response), []byte(strings.ToLower(cred.Response))) != 1 {
		return identity{}, a.challenge(now, ErrBadCredentials, false, cred.Username, "wrong response")
	}
	if !fresh {
		// Right password, old nonce: RFC 2617 §3.2.1 stale=true, so the
		// phone retries at once without asking anyone for a password.
		return identity{}, a.challenge(now, ErrUnauthenticated, true, cred.Username, "stale nonce")
	}
	if a.used.seen(issued, cred.Response, now, a.lifetime) {
		// Counted as a rejected authentication; stale=true lets a phone
		// that repeated a request without qop retry with the new nonce
		// without asking anyone for a password.
		return identity{}, a.challenge(now, ErrBadCredentials, true, cred.Username, "credentials replayed")
	}
	return identity{phoneID: p.id, facility: p.facility}, nil
}

// uriMatches reports whether a digest-uri names the Request-URI r: the
// same host and, when it has one, the same user part (the dial string).
// Most phones sign the Request-URI itself; some user agents (SIPp) sign
// only "sip:host:port", which binds no dial string, and that is all a
// server can check for them. Ports and parameters may differ between a
// phone's two renderings.
func uriMatches(digestURI string, r *sip.Uri) bool {
	var u sip.Uri
	if sip.ParseUri(digestURI, &u) != nil {
		return false
	}
	return (u.User == "" || u.User == r.User) && strings.EqualFold(u.Host, r.Host)
}
