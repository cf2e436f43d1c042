package money

import (
	"errors"
	"testing"

	"github.com/shopspring/decimal"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		places int
		want   Amount
		err    error
	}{
		{"whole", "20", 2, 20 * Dollar, nil},
		{"cents", "0.06", 2, 6 * Cent, nil},
		{"sub-cent rate", "0.174", 6, 174_000, nil},
		{"negative", "-1.50", 2, -150 * Cent, nil},
		{"three places for cents", "1.005", 2, 0, ErrPrecision},
		{"exponent", "1e3", 2, 0, ErrSyntax},
		{"blank", "", 2, 0, ErrSyntax},
		{"dot only", ".", 2, 0, ErrSyntax},
		{"leading dot", ".5", 2, 0, ErrSyntax},
		{"trailing dot", "5.", 2, 0, ErrSyntax},
		{"plus sign", "+5", 2, 0, ErrSyntax},
		{"nan", "NaN", 2, 0, ErrSyntax},
		{"absurd", "99999999999", 2, 0, ErrRange},
		{"space", " 5", 2, 0, ErrSyntax},
		{"two dots", "1.2.3", 2, 0, ErrSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in, tt.places)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Parse(%q) err = %v, want %v", tt.in, err, tt.err)
			}
			if got != tt.want {
				t.Fatalf("Parse(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		in   Amount
		want string
	}{
		{20 * Dollar, "20.00"},
		{0, "0.00"},
		{1000, "0.001"},
		{-150 * Cent, "-1.50"},
		{474_995_000, "474.995"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("%d.String() = %q, want %q", int64(tt.in), got, tt.want)
		}
		back, err := FromDecimal(tt.in.Decimal())
		if err != nil || back != tt.in {
			t.Errorf("round trip of %d = %d, %v", int64(tt.in), back, err)
		}
	}
}

func TestMulDiv(t *testing.T) {
	tests := []struct {
		name      string
		a         Amount
		num, den  int64
		ceil, flr Amount
	}{
		{"exact", 60_000, 30, 60, 30_000, 30_000},
		{"inexact", 70_000, 1, 60, 1167, 1166},
		{"negative", -70_000, 1, 60, -1166, -1167},
		{"overflow path", Limit, 1 << 40, 1 << 40, Limit, Limit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MulDivCeil(tt.a, tt.num, tt.den); got != tt.ceil {
				t.Errorf("ceil = %d, want %d", got, tt.ceil)
			}
			if got := MulDivFloor(tt.a, tt.num, tt.den); got != tt.flr {
				t.Errorf("floor = %d, want %d", got, tt.flr)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"20", "0.06", "-1.5", "1e9", "", "0.0000001", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(s, Scale)
		if err != nil {
			return
		}
		d, derr := decimal.NewFromString(s)
		if derr != nil {
			t.Fatalf("Parse accepted %q that decimal refuses: %v", s, derr)
		}
		if !a.Decimal().Equal(d) {
			t.Fatalf("Parse(%q) = %s, want %s", s, a.Decimal(), d)
		}
		if a > Limit || a < -Limit {
			t.Fatalf("Parse(%q) = %d beyond Limit", s, a)
		}
	})
}
