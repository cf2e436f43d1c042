package rating

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizeDestination(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"e164 plus", "+13125550100", "+13125550100"},
		{"e164 no plus", "13125550100", "+13125550100"},
		{"nanp 10 digits", "3125550100", "+13125550100"},
		{"uk", "+442071234567", "+442071234567"},
		{"india no plus", "911123456789", "+911123456789"},
		{"15 digits nanp country is too long", "+123456789012345", ""},
		{"max length intl", "+491234567890123", "+491234567890123"},
		{"16 digits", "+4912345678901234", ""},
		{"nanp bad npa", "1125550100", ""},
		{"nanp bad exchange", "3121550100", ""},
		{"plus nanp bad", "+11125550100", ""},
		{"+1 short", "+1312555010", ""},
		{"leading zero", "+0441234567", ""},
		{"too short", "+4412345", ""},
		{"empty", "", ""},
		{"plus only", "+", ""},
		{"spaces", "+1 312 555 0100", ""},
		{"dashes", "312-555-0100", ""},
		{"sip params", "3125550100;user=phone", ""},
		{"escape", "%2B13125550100", ""},
		{"header injection", "3125550100\r\nX-Evil: 1", ""},
		{"letters", "1800FLOWERS", ""},
		{"double plus", "++13125550100", ""},
		{"unicode digits", "+１3125550100", ""},
		{"star", "*67312555010", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizeDestination(tt.in)
			if tt.want == "" {
				if !errors.Is(err, ErrInvalidDestination) {
					t.Fatalf("NormalizeDestination(%q) = %q, %v; want ErrInvalidDestination", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("NormalizeDestination(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func FuzzNormalizeDestination(f *testing.F) {
	for _, s := range []string{"+13125550100", "3125550100", "+442071234567", "3125550100;user=phone", "%2B1", "\r\n", "+", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := NormalizeDestination(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidDestination) || got != "" {
				t.Fatalf("%q: %q, %v", s, got, err)
			}
			return
		}
		if got[0] != '+' || len(got) < 9 || len(got) > 16 || strings.Trim(got[1:], "0123456789") != "" {
			t.Fatalf("%q normalized to non-E.164 %q", s, got)
		}
		if again, err := NormalizeDestination(got); err != nil || again != got {
			t.Fatalf("not idempotent: %q → %q → %q, %v", s, got, again, err)
		}
	})
}
