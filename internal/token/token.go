// Package token signs and verifies the compact bearer tokens of ipcs: API
// sessions and visit join tokens. A token is base64url(JSON claims) "."
// base64url(HMAC-SHA256(key, claims)); it is bound to its subject, role,
// purpose and validity window, so a token for one visit or role cannot be
// used for another.
package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

var (
	// ErrMalformed means the token is not one of ours at all.
	ErrMalformed = errors.New("malformed token")
	// ErrSignature means the token was not signed with our key.
	ErrSignature = errors.New("bad token signature")
	// ErrExpired means the token's window has closed.
	ErrExpired = errors.New("token expired")
	// ErrNotYetValid means the token's window has not opened yet.
	ErrNotYetValid = errors.New("token not yet valid")
	// ErrPurpose means the token was issued for something else.
	ErrPurpose = errors.New("token issued for another purpose")
)

// MaxLen bounds a token we are willing to parse.
const MaxLen = 2048

// Claims is what a token asserts.
type Claims struct {
	// Purpose says what the token is for, e.g. "session" or "join".
	Purpose string `json:"p"`
	// Role is the holder's role (admin, officer, family, kiosk, visitor…).
	Role string `json:"r"`
	// Subject identifies the holder (a visitor, resident or staff id).
	Subject string `json:"s"`
	// Facility scopes the token to one facility, if set.
	Facility string `json:"f,omitempty"`
	// Resource is what the token grants access to, e.g. a visit id.
	Resource string `json:"v,omitempty"`
	// NotBefore and Expires bound the window, in Unix seconds.
	NotBefore int64 `json:"nbf"`
	Expires   int64 `json:"exp"`
}

// Signer makes and checks tokens with one HMAC key.
type Signer struct {
	key []byte
}

// NewSigner returns a Signer for key, which must be at least 32 bytes.
func NewSigner(key []byte) (*Signer, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("token: key is %d bytes, need at least 32", len(key))
	}
	return &Signer{key: append([]byte(nil), key...)}, nil
}

// Sign returns the token for c.
func (s *Signer) Sign(c Claims) (string, error) {
	body, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	enc := base64.RawURLEncoding
	p := enc.EncodeToString(body)
	return p + "." + enc.EncodeToString(s.mac(p)), nil
}

// Verify checks tok's signature, purpose and window at now, and returns its
// claims.
func (s *Signer) Verify(tok, purpose string, now time.Time) (Claims, error) {
	var c Claims
	if len(tok) == 0 || len(tok) > MaxLen {
		return c, ErrMalformed
	}
	p, sig, ok := strings.Cut(tok, ".")
	if !ok {
		return c, ErrMalformed
	}
	enc := base64.RawURLEncoding
	got, err := enc.DecodeString(sig)
	if err != nil {
		return c, ErrMalformed
	}
	if !hmac.Equal(got, s.mac(p)) {
		return c, ErrSignature
	}
	body, err := enc.DecodeString(p)
	if err != nil {
		return c, ErrMalformed
	}
	if err := json.Unmarshal(body, &c); err != nil {
		return c, ErrMalformed
	}
	if c.Purpose != purpose {
		return c, ErrPurpose
	}
	if n := now.Unix(); n < c.NotBefore {
		return c, ErrNotYetValid
	} else if n >= c.Expires {
		return c, ErrExpired
	}
	return c, nil
}

func (s *Signer) mac(p string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(p))
	return m.Sum(nil)
}
