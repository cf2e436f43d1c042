// Package money defines Amount, the one fixed-point money type that ipcs
// uses on its hot paths, and its only conversions to and from
// shopspring/decimal, which is what crosses every boundary (config, API
// JSON, CDRs, reports). There are no floats anywhere near money.
package money

import (
	"errors"
	"fmt"
	"math"

	"github.com/shopspring/decimal"
)

// Amount is an amount of US dollars in micro-dollars (1e-6 USD). An int64
// holds ±9.2 trillion dollars, far beyond any account, so the arithmetic
// on the hot path is plain integer arithmetic that allocates nothing.
type Amount int64

// Currency is the ISO 4217 code every Amount is in.
const Currency = "USD"

// Common amounts.
const (
	Micro  Amount = 1
	Cent   Amount = 10_000
	Dollar Amount = 1_000_000
)

// Scale is the number of decimal places an Amount carries.
const Scale = 6

// Limit is the largest magnitude FromDecimal accepts: one billion dollars.
// Anything larger is not money a prepaid account can hold, and refusing it
// keeps every product of an Amount and a second count inside int64.
const Limit Amount = 1_000_000_000 * Dollar

var (
	// ErrPrecision means a value has more decimal places than allowed.
	ErrPrecision = errors.New("too many decimal places")
	// ErrRange means a value is beyond Limit.
	ErrRange = errors.New("amount out of range")
	// ErrSyntax means a string is not a decimal number.
	ErrSyntax = errors.New("not a decimal amount")
)

var (
	scaleFactor = decimal.New(1, Scale)
	limitDec    = decimal.NewFromInt(int64(Limit))
)

// FromDecimal converts d exactly; it refuses values with more than six
// decimal places (ErrPrecision) or beyond Limit (ErrRange), never rounds.
func FromDecimal(d decimal.Decimal) (Amount, error) {
	m := d.Mul(scaleFactor)
	if !m.Equal(m.Truncate(0)) {
		return 0, fmt.Errorf("%w: %s", ErrPrecision, d.String())
	}
	if m.Abs().Cmp(limitDec) > 0 {
		return 0, fmt.Errorf("%w: %s", ErrRange, d.String())
	}
	return Amount(m.IntPart()), nil
}

// Parse reads a decimal string such as "20", "0.06" or "-1.5" with at most
// maxPlaces decimal places (at most Scale). It is the gate for outside
// input: exponents, NaN, blanks and oversized values are refused.
func Parse(s string, maxPlaces int) (Amount, error) {
	if maxPlaces < 0 || maxPlaces > Scale {
		maxPlaces = Scale
	}
	if len(s) == 0 || len(s) > 32 {
		return 0, fmt.Errorf("%w: %q", ErrSyntax, truncate(s))
	}
	dot := -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
		case c == '.' && dot < 0:
			dot = i
		case c == '-' && i == 0:
		default:
			return 0, fmt.Errorf("%w: %q", ErrSyntax, truncate(s))
		}
	}
	digitsBefore := dot
	if dot < 0 {
		digitsBefore = len(s)
	}
	if s[0] == '-' {
		digitsBefore--
	}
	if digitsBefore <= 0 || (dot >= 0 && dot == len(s)-1) {
		return 0, fmt.Errorf("%w: %q", ErrSyntax, truncate(s))
	}
	if dot >= 0 && len(s)-dot-1 > maxPlaces {
		return 0, fmt.Errorf("%w: %q has more than %d", ErrPrecision, truncate(s), maxPlaces)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return 0, fmt.Errorf("%w: %q", ErrSyntax, truncate(s))
	}
	return FromDecimal(d)
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// Decimal returns a as an exact decimal number of dollars.
func (a Amount) Decimal() decimal.Decimal { return decimal.New(int64(a), -Scale) }

// String formats a with at least two decimal places and no trailing zeros
// past them: 20 → "20.00", 0.001 → "0.001".
func (a Amount) String() string {
	neg := a < 0
	u := uint64(a)
	if neg {
		u = uint64(-a)
		if a == math.MinInt64 {
			u = uint64(math.MaxInt64) + 1
		}
	}
	whole, frac := u/1_000_000, u%1_000_000
	digits := fmt.Sprintf("%06d", frac)
	end := len(digits)
	for end > 2 && digits[end-1] == '0' {
		end--
	}
	sign := ""
	if neg {
		sign = "-"
	}
	return fmt.Sprintf("%s%d.%s", sign, whole, digits[:end])
}

// MarshalText writes a as a decimal string, so JSON carries amounts as
// strings ("20.00"), never as floats.
func (a Amount) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText reads a decimal string with up to six places.
func (a *Amount) UnmarshalText(b []byte) error {
	v, err := Parse(string(b), Scale)
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// MulDiv returns a*num/den rounded up (toward +∞ for positive results),
// computed in 128 bits so that it cannot overflow for Amounts within Limit
// and counts within int64. It panics if den is zero, like integer division.
func MulDivCeil(a Amount, num, den int64) Amount {
	q, r := mulDiv(int64(a), num, den)
	if r != 0 && (r > 0) == (den > 0) {
		q++
	}
	return Amount(q)
}

// MulDivFloor returns a*num/den rounded down (toward -∞).
func MulDivFloor(a Amount, num, den int64) Amount {
	q, r := mulDiv(int64(a), num, den)
	if r != 0 && (r < 0) != (den < 0) {
		q--
	}
	return Amount(q)
}
