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
	phone  string // username that failed, for logs ("" if none)
	reason string // why, for logs
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
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(now.Unix()))
	m := hmac.New(sha256.New, a.secret[:])
	m.Write(ts[:])
	return hex.EncodeToString(ts[:]) + "." + hex.EncodeToString(m.Sum(nil)[:16])
}

// checkNonce reports whether n is one of ours, and whether it is still fresh.
func (a *authenticator) checkNonce(n string, now time.Time) (ours, fresh bool) {
	tsHex, macHex, ok := strings.Cut(n, ".")
	if !ok || len(tsHex) != 16 || len(macHex) != 32 {
		return false, false
	}
	var ts [8]byte
	if _, err := hex.Decode(ts[:], []byte(tsHex)); err != nil {
		return false, false
	}
	got := make([]byte, 16)
	if _, err := hex.Decode(got, []byte(macHex)); err != nil {
		return false, false
	}
	m := hmac.New(sha256.New, a.secret[:])
	m.Write(ts[:])
	if !hmac.Equal(got, m.Sum(nil)[:16]) {
		return false, false
	}
	issued := time.Unix(int64(binary.BigEndian.Uint64(ts[:])), 0)
	age := now.Sub(issued)
	return true, age >= -time.Minute && age <= a.lifetime
}

func (a *authenticator) challenge(now time.Time, err error, stale bool, phone, reason string) *challengeError {
	return &challengeError{err: err, stale: stale, nonce: a.nonce(now), realm: a.realm, algs: a.algs, phone: phone, reason: reason}
}

// authenticate identifies the sender of req at now.
func (a *authenticator) authenticate(req *sip.Request, dir *Directory, now time.Time) (identity, error) {
	if len(a.trusted) > 0 {
		if ap, err := netip.ParseAddrPort(req.Source()); err == nil {
			ip := ap.Addr().Unmap()
			for _, tn := range a.trusted {
				if tn.prefix.Contains(ip) {
					id := identity{facility: tn.facility, gateway: true, phoneID: "gw:" + ip.String()}
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
	ours, fresh := a.checkNonce(cred.Nonce, now)
	if !ours {
		return identity{}, a.challenge(now, ErrBadCredentials, false, cred.Username, "unknown nonce")
	}
	p := dir.phone(cred.Username)
	if p == nil {
		return identity{}, a.challenge(now, ErrBadCredentials, false, cred.Username, "unknown phone")
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
	return identity{phoneID: p.id, facility: p.facility}, nil
}
