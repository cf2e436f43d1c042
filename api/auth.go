package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"ipcs/internal/clock"
	"ipcs/internal/token"
)

// Role is what a signed-in principal may do.
type Role string

// The roles of DESIGN.md.
const (
	RoleAdmin   Role = "admin"
	RoleOfficer Role = "officer"
	RoleFamily  Role = "family"
	RoleKiosk   Role = "kiosk"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	switch r {
	case RoleAdmin, RoleOfficer, RoleFamily, RoleKiosk:
		return true
	}
	return false
}

// Principal is who made a request: a role, a subject id (visitor id for
// family, resident account id for kiosk, staff id for admin and officer)
// and the facility the token is scoped to ("" for admins: all).
type Principal struct {
	Role     Role
	Subject  string
	Facility string
}

// CanSeeFacility reports whether p may act in facility f: a principal
// scoped to a facility (staff of one facility, admins included) acts in
// that one only; "" is every facility.
func (p Principal) CanSeeFacility(f string) bool {
	return p.Facility == "" || p.Facility == f
}

type principalKey struct{}

// PrincipalFrom returns the principal Authenticate put in ctx.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// SessionPurpose is the token purpose of API session tokens.
const SessionPurpose = "session"

// Auth issues and checks session tokens.
type Auth struct {
	signer *token.Signer
	clock  clock.Clock
	ttl    time.Duration
	// mu guards failures.
	mu       sync.Mutex
	failures map[string]*loginFailures
}

// Sign-in throttling: after MaxLoginFailures wrong secrets for one user
// within LoginLockout, that user is refused (429) until the window passes,
// so a PIN or password cannot be guessed through the API.
const (
	MaxLoginFailures = 5
	LoginLockout     = 15 * time.Minute
	maxTracked       = 100_000
)

type loginFailures struct {
	count int
	first time.Time
}

func (a *Auth) lockedOut(key string, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	f := a.failures[key]
	if f == nil {
		return false
	}
	if now.Sub(f.first) >= LoginLockout {
		delete(a.failures, key)
		return false
	}
	return f.count >= MaxLoginFailures
}

func (a *Auth) recordFailure(key string, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.failures == nil {
		a.failures = make(map[string]*loginFailures)
	}
	f := a.failures[key]
	if f == nil || now.Sub(f.first) >= LoginLockout {
		if len(a.failures) >= maxTracked {
			for k, v := range a.failures { // drop expired entries to stay bounded
				if now.Sub(v.first) >= LoginLockout {
					delete(a.failures, k)
				}
			}
		}
		f = &loginFailures{first: now}
		a.failures[key] = f
	}
	f.count++
}

// NewAuth returns an Auth signing with signer; sessions last ttl.
func NewAuth(signer *token.Signer, clk clock.Clock, ttl time.Duration) *Auth {
	if ttl <= 0 {
		ttl = 12 * time.Hour
	}
	return &Auth{signer: signer, clock: clk, ttl: ttl}
}

// Issue returns a session token for p.
func (a *Auth) Issue(p Principal) (string, time.Time, error) {
	now := a.clock.Now()
	exp := now.Add(a.ttl)
	tok, err := a.signer.Sign(token.Claims{
		Purpose: SessionPurpose, Role: string(p.Role), Subject: p.Subject, Facility: p.Facility,
		NotBefore: now.Unix(), Expires: exp.Unix(),
	})
	return tok, exp, err
}

// Principal checks r's bearer token.
func (a *Auth) Principal(r *http.Request) (Principal, error) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		return Principal{}, ErrUnauthorized
	}
	c, err := a.signer.Verify(tok, SessionPurpose, a.clock.Now())
	if err != nil {
		return Principal{}, ErrUnauthorized
	}
	p := Principal{Role: Role(c.Role), Subject: c.Subject, Facility: c.Facility}
	if !p.Role.Valid() || p.Subject == "" {
		return Principal{}, ErrUnauthorized
	}
	return p, nil
}

// Require wraps h so it runs only for a valid token of one of roles; the
// principal is in the request's context.
func (a *Auth) Require(h http.HandlerFunc, roles ...Role) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := a.Principal(r)
		if err != nil {
			WriteError(w, r, nil, err)
			return
		}
		allowed := false
		for _, role := range roles {
			if p.Role == role {
				allowed = true
				break
			}
		}
		if !allowed {
			WriteError(w, r, nil, ErrForbidden)
			return
		}
		h(w, r.WithContext(WithPrincipal(r.Context(), p)))
	}
}

// Credentials checks a sign-in for one role and returns the subject and
// facility it signs in as. Implementations return ErrBadCredentials for a
// wrong user or secret, so that the API can answer 401 without saying
// which part was wrong.
type Credentials interface {
	Check(ctx context.Context, user, secret string) (subject, facility string, err error)
}

// ErrBadCredentials is what Credentials return for a failed sign-in.
var ErrBadCredentials = errors.New("bad credentials")

// LoginHandler serves POST /api/v1/login {"role","user","secret"} →
// {"token","expires","role","subject","facility"}.
func (a *Auth) LoginHandler(creds map[Role]Credentials) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Role   Role   `json:"role"`
			User   string `json:"user"`
			Secret string `json:"secret"`
		}
		if err := DecodeJSON(r, &in); err != nil {
			WriteError(w, r, nil, err)
			return
		}
		c, ok := creds[in.Role]
		if !ok || len(in.User) == 0 || len(in.User) > 128 || len(in.Secret) > 256 {
			WriteError(w, r, nil, Errorf(http.StatusBadRequest, "invalid_login", "role, user and secret are required"))
			return
		}
		key, now := string(in.Role)+"\x00"+in.User, a.clock.Now()
		if a.lockedOut(key, now) {
			WriteError(w, r, nil, Errorf(http.StatusTooManyRequests, "locked_out", "too many failed sign-ins; try again later"))
			return
		}
		subject, facility, err := c.Check(r.Context(), in.User, in.Secret)
		if errors.Is(err, ErrBadCredentials) {
			a.recordFailure(key, now)
			WriteError(w, r, nil, Errorf(http.StatusUnauthorized, "bad_credentials", "wrong user or secret"))
			return
		} else if err != nil {
			WriteError(w, r, nil, err)
			return
		}
		p := Principal{Role: in.Role, Subject: subject, Facility: facility}
		tok, exp, err := a.Issue(p)
		if err != nil {
			WriteError(w, r, nil, err)
			return
		}
		WriteJSON(w, http.StatusOK, map[string]any{
			"token": tok, "expires": exp.UTC().Format(time.RFC3339),
			"role": p.Role, "subject": p.Subject, "facility": p.Facility,
		})
	}
}

// StaticCredentials is a fixed user → secret table for staff accounts
// (admin, officer) from the configuration.
type StaticCredentials map[string]StaticUser

// StaticUser is one configured staff account.
type StaticUser struct {
	Secret   string
	Facility string
}

// Check implements Credentials with a constant-time comparison.
func (s StaticCredentials) Check(_ context.Context, user, secret string) (string, string, error) {
	u, ok := s[user]
	if !ok || !constantTimeEqual(u.Secret, secret) {
		return "", "", ErrBadCredentials
	}
	return user, u.Facility, nil
}
