package callswitch

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Config holds the switch's operator settings. Zero values mean the
// documented defaults; Validate fills them in and checks the rest.
type Config struct {
	// Listen is the UDP and TCP address (one port for both).
	// Default "127.0.0.1:5060"; tests use "127.0.0.1:0" and read Addr.
	Listen string
	// TLSListen is the SIP-over-TLS address; "" disables TLS. It needs
	// TLSCertFile and TLSKeyFile (PEM).
	TLSListen   string
	TLSCertFile string
	TLSKeyFile  string
	// Trunk is the outbound carrier, "sip:HOST:PORT" with an optional
	// ";transport=tcp". Required.
	Trunk string
	// Realm is the digest realm. Default "ipcs".
	Realm string
	// DigestAlgorithms are offered in 401 challenges, in order of
	// preference (RFC 8760 §3: one WWW-Authenticate each). Supported:
	// "SHA-256", "MD5". Default ["MD5", "SHA-256"]: MD5 first because
	// common phones and SIPp 3.6 use the first challenge and know only
	// MD5; clients that prefer SHA-256 pick it from the second.
	DigestAlgorithms []string
	// NonceLifetime is how long a digest nonce is accepted; an older one
	// gets a fresh challenge with stale=true. Default 5m.
	NonceLifetime time.Duration
	// TrustedNetworks are facility gateways authenticated by source
	// address instead of digest.
	TrustedNetworks []TrustedNetwork
	// MaxCalls bounds concurrent calls (ringing or answered); over it the
	// switch answers 503 with Retry-After. Default 2000.
	MaxCalls int
	// RetryAfter is the Retry-After of an overload 503. Default 5s.
	RetryAfter time.Duration
	// NoAnswerTimeout ends a ringing call with 480. Default 60s.
	NoAnswerTimeout time.Duration
	// ByeTimeout bounds waiting for the answer to each BYE, CANCEL or
	// INFO the switch sends. Default 5s.
	ByeTimeout time.Duration
	// PINMaxFailures bad PINs within PINWindow lock a phone out for
	// PINLockout. Defaults 5, 10m, 15m.
	PINMaxFailures int
	PINWindow      time.Duration
	PINLockout     time.Duration
	// MaxMessageSize drops larger SIP messages (counted as oversized).
	// Default 8192 bytes.
	MaxMessageSize int
	// UserAgent is the User-Agent/Server name. Default "ipcs".
	UserAgent string
}

// TrustedNetwork is a facility gateway's network: requests from it need
// no digest; the From user names the phone (for PIN lockout).
type TrustedNetwork struct {
	CIDR     string
	Facility string
}

// Defaults.
const (
	DefaultListen          = "127.0.0.1:5060"
	DefaultRealm           = "ipcs"
	DefaultNonceLifetime   = 5 * time.Minute
	DefaultMaxCalls        = 2000
	DefaultRetryAfter      = 5 * time.Second
	DefaultNoAnswerTimeout = 60 * time.Second
	DefaultByeTimeout      = 5 * time.Second
	DefaultPINMaxFailures  = 5
	DefaultPINWindow       = 10 * time.Minute
	DefaultPINLockout      = 15 * time.Minute
	DefaultMaxMessageSize  = 8192
)

// Validate fills in defaults and checks every field; the error names the
// first bad field.
func (c *Config) Validate() error {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return configErr("Listen", "%v", err)
	}
	if c.TLSListen != "" {
		if _, _, err := net.SplitHostPort(c.TLSListen); err != nil {
			return configErr("TLSListen", "%v", err)
		}
		if c.TLSCertFile == "" || c.TLSKeyFile == "" {
			return configErr("TLSCertFile", "TLS needs a certificate and key file")
		}
	}
	if _, err := parseTrunk(c.Trunk); err != nil {
		return configErr("Trunk", "%v", err)
	}
	if c.Realm == "" {
		c.Realm = DefaultRealm
	}
	if strings.ContainsAny(c.Realm, "\"\r\n\\") {
		return configErr("Realm", "must not contain quotes, backslashes or line breaks")
	}
	if len(c.DigestAlgorithms) == 0 {
		c.DigestAlgorithms = []string{"MD5", "SHA-256"}
	}
	for i, a := range c.DigestAlgorithms {
		switch strings.ToUpper(a) {
		case "MD5", "SHA-256":
			c.DigestAlgorithms[i] = strings.ToUpper(a)
		default:
			return configErr(fmt.Sprintf("DigestAlgorithms[%d]", i), "unsupported algorithm %q", a)
		}
	}
	for i, tn := range c.TrustedNetworks {
		if _, err := netip.ParsePrefix(tn.CIDR); err != nil {
			return configErr(fmt.Sprintf("TrustedNetworks[%d].CIDR", i), "%v", err)
		}
		if tn.Facility == "" {
			return configErr(fmt.Sprintf("TrustedNetworks[%d].Facility", i), "required")
		}
	}
	def := func(d *time.Duration, v time.Duration, name string) error {
		if *d == 0 {
			*d = v
		}
		if *d < 0 {
			return configErr(name, "must not be negative")
		}
		return nil
	}
	for _, f := range []struct {
		d    *time.Duration
		v    time.Duration
		name string
	}{
		{&c.NonceLifetime, DefaultNonceLifetime, "NonceLifetime"},
		{&c.RetryAfter, DefaultRetryAfter, "RetryAfter"},
		{&c.NoAnswerTimeout, DefaultNoAnswerTimeout, "NoAnswerTimeout"},
		{&c.ByeTimeout, DefaultByeTimeout, "ByeTimeout"},
		{&c.PINWindow, DefaultPINWindow, "PINWindow"},
		{&c.PINLockout, DefaultPINLockout, "PINLockout"},
	} {
		if err := def(f.d, f.v, f.name); err != nil {
			return err
		}
	}
	if c.MaxCalls == 0 {
		c.MaxCalls = DefaultMaxCalls
	}
	if c.MaxCalls < 0 {
		return configErr("MaxCalls", "must not be negative")
	}
	if c.PINMaxFailures == 0 {
		c.PINMaxFailures = DefaultPINMaxFailures
	}
	if c.PINMaxFailures < 0 {
		return configErr("PINMaxFailures", "must not be negative")
	}
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = DefaultMaxMessageSize
	}
	if c.MaxMessageSize < 1024 || c.MaxMessageSize > 65535 {
		return configErr("MaxMessageSize", "must be between 1024 and 65535")
	}
	if c.UserAgent == "" {
		c.UserAgent = "ipcs"
	}
	return nil
}

// parseTrunk reads "sip:HOST:PORT[;transport=udp|tcp|tls]".
func parseTrunk(s string) (sip.Uri, error) {
	var u sip.Uri
	if s == "" {
		return u, fmt.Errorf("required (sip:HOST:PORT)")
	}
	if err := sip.ParseUri(s, &u); err != nil {
		return u, fmt.Errorf("%q: %w", s, err)
	}
	if u.Scheme != "sip" || u.Host == "" || u.User != "" {
		return u, fmt.Errorf("%q: want sip:HOST:PORT", s)
	}
	if tp, ok := u.UriParams.Get("transport"); ok {
		switch strings.ToLower(tp) {
		case "udp", "tcp", "tls":
		default:
			return u, fmt.Errorf("%q: unsupported transport %q", s, tp)
		}
	}
	return u, nil
}

func trunkTransport(u sip.Uri) string {
	if u.UriParams != nil {
		if tp, ok := u.UriParams.Get("transport"); ok {
			return strings.ToUpper(tp)
		}
	}
	return "UDP"
}
