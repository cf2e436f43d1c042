package callswitch

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

func TestParseDialString(t *testing.T) {
	for _, tc := range []struct {
		in, pin, dest string
		err           error
	}{
		{"1001*+13125550123", "1001", "+13125550123", nil},
		{"1001*3125550123", "1001", "3125550123", nil},
		{"12345678*123", "12345678", "123", nil},
		{"1001*123", "1001", "123", nil}, // the number is judged later (404)
		{"13125550123", "", "", ErrNoRoute},
		{"100*13125550123", "", "", ErrNoRoute},
		{"1001*", "", "", ErrNoRoute},
		{"1001*+", "", "", ErrNoRoute},
		{"", "", "", ErrDialString},
		{"1001**1", "", "", ErrDialString},
		{"+1001*1", "", "", ErrDialString},
		{"1001*1+2", "", "", ErrDialString},
		{"1001*1312%0D%0AX", "", "", ErrDialString},
		{"1001*1312\r\nX: 1", "", "", ErrDialString},
		{"1001*abc", "", "", ErrDialString},
		{"1001*" + strings.Repeat("1", 30), "", "", ErrDialString},
	} {
		pin, dest, err := ParseDialString(tc.in)
		if pin != tc.pin || dest != tc.dest || !errors.Is(err, tc.err) {
			t.Errorf("ParseDialString(%q) = %q, %q, %v; want %q, %q, %v", tc.in, pin, dest, err, tc.pin, tc.dest, tc.err)
		}
	}
}

func FuzzDialString(f *testing.F) {
	f.Add("1001*+13125550123")
	f.Fuzz(func(t *testing.T, s string) {
		pin, dest, err := ParseDialString(s)
		if err != nil {
			return
		}
		if pin+"*"+dest != s || len(pin) < minPINLen || len(pin) > maxPINLen || !digits(pin) {
			t.Fatalf("accepted %q as %q * %q", s, pin, dest)
		}
		d := strings.TrimPrefix(dest, "+")
		if !digits(d) || len(dest) > maxDestLen {
			t.Fatalf("accepted destination %q", dest)
		}
	})
}

// FuzzAuthorization feeds arbitrary Authorization headers to the digest
// check: it must never panic and never accept them.
func FuzzAuthorization(f *testing.F) {
	f.Add(`Digest username="phone-101", realm="ipcs", nonce="00", uri="sip:x", response="00"`)
	cfg := Config{Trunk: "sip:127.0.0.1:5080"}
	if err := cfg.Validate(); err != nil {
		f.Fatal(err)
	}
	a, err := newAuthenticator(&cfg)
	if err != nil {
		f.Fatal(err)
	}
	dir, err := NewDirectory(demoDirectory())
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2026, 3, 10, 15, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, h string) {
		req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: "1001*13125550123", Host: "127.0.0.1"})
		req.AppendHeader(sip.NewHeader("Authorization", h))
		if id, err := a.authenticate(req, dir, now); err == nil {
			t.Fatalf("accepted %q as %+v", h, id)
		}
	})
}

func TestLooksLikeSIP(t *testing.T) {
	for in, want := range map[string]bool{
		"INVITE sip:a@b SIP/2.0\r\nVia: x\r\n\r\n": true,
		"SIP/2.0 200 OK\r\n\r\n":                   true,
		"GET / HTTP/1.1\r\n\r\n":                   false,
		"\x16\x03\x01garbage":                      false,
		"invite sip:a@b SIP/2.0\r\n\r\n":           false,
	} {
		if got := looksLikeSIP([]byte(in)); got != want {
			t.Errorf("looksLikeSIP(%q) = %v", in, got)
		}
	}
}

func TestMaskNumber(t *testing.T) {
	if got := MaskNumber("+13125550123"); got != "+1312555****" {
		t.Errorf("MaskNumber = %q", got)
	}
}

func BenchmarkParseDialString(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ParseDialString("1001*+13125550123"); err != nil {
			b.Fatal(err)
		}
	}
}
