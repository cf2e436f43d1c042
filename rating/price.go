package rating

import (
	"math"

	"ipcs/internal/money"
)

// Price is what a session costs: the tariff version it came from, the
// class and band that applied at the session's start, the per-minute rate
// and the billing increment. It is a small value, copied freely; the
// strings point into the loaded Book and are never built per quote.
type Price struct {
	TariffID string // "" for sessions free by rule (privileged, in-facility)
	Version  int
	Class    string       // "local", "interstate", "remote", "privileged", …
	Band     string       // time band that set the rate ("" for the class rate)
	Rate     money.Amount // per minute
	First    int64        // seconds billed for any usage up to First
	Every    int64        // then each started Every seconds
}

// Free reports whether the price charges nothing. Free sessions are still
// metered for their time limit.
func (p Price) Free() bool { return p.Rate == 0 }

// Billed returns the seconds billed for seconds of use under the increment
// rule "first N, then every M": any use up to First bills First; beyond
// it, each started block of Every seconds bills a full block (60/60 bills
// every started minute; 30/6 bills 30 s, then 6 s blocks; 1/1 per second).
// Zero or negative use bills nothing: billing starts at answer.
func (p Price) Billed(seconds int64) int64 { return billed(p.First, p.Every, seconds) }

// billed is Billed on the increment alone, so that Quote's hot path does
// not copy a whole Price per call.
func billed(first, every, seconds int64) int64 {
	if seconds <= 0 {
		return 0
	}
	if first < 1 {
		first = 1
	}
	if every < 1 {
		every = 1
	}
	if seconds <= first {
		return first
	}
	if every == 1 { // per second past the first increment: no division
		return seconds
	}
	rest := seconds - first
	blocks := rest / every
	if rest%every != 0 {
		blocks++
	}
	return first + blocks*every
}

// Charge returns the exact amount for seconds of use: Rate × Billed(seconds)
// / 60, rounded once, DOWN (toward zero) to the micro-dollar (MulDivFloor).
//
// Why floor: the FCC caps (FCC 24-75, 47 CFR § 64.6030) are per-minute
// ceilings, so the amount for b billed seconds must never exceed
// cap × b / 60. A per-second charge at $0.07/min is 1166.67 µ$, not a
// whole micro-dollar; rounding it up would charge more than the rate in
// effect, rounding to the cent would be worse (up to $0.0099 per call).
// Flooring the final amount (never each second) keeps the error below one
// micro-dollar per session, always in the consumer's favour, and keeps
// Charge non-decreasing in seconds.
func (p Price) Charge(seconds int64) money.Amount { return charge(p.Rate, p.First, p.Every, seconds) }

// charge is Charge on the rate and increment alone (see billed).
func charge(rate money.Amount, first, every, seconds int64) money.Amount {
	if rate <= 0 {
		return 0
	}
	b := billed(first, every, seconds)
	if rate < 1<<31 && b < 1<<32 {
		// The product fits in int64 and is not negative, so truncating
		// division is the floor, and dividing by the constant 60 compiles
		// to a multiply: the same amount as MulDivFloor, a few divisions
		// cheaper (every quote charges its reserve).
		return money.Amount(int64(rate) * b / 60)
	}
	return money.MulDivFloor(rate, b, 60)
}

// Affordable returns the most seconds of use whose Charge is at most a:
// the exact inverse of Charge over its steps. A free price affords
// math.MaxInt64 seconds (callers bound it by a time limit); an amount below
// the first increment's charge affords 0.
func (p Price) Affordable(a money.Amount) int64 {
	if p.Rate <= 0 {
		return math.MaxInt64
	}
	if a < 0 {
		return 0
	}
	first, every := p.First, p.Every
	if first < 1 {
		first = 1
	}
	if every < 1 {
		every = 1
	}
	// floor(Rate×b/60) ≤ a  ⇔  Rate×b < 60(a+1)  ⇔  b ≤ (60(a+1)−1)/Rate.
	// a ≤ money.Limit (1e15), so 60(a+1) fits in int64.
	if a > money.Limit {
		a = money.Limit
	}
	maxBilled := (60*(int64(a)+1) - 1) / int64(p.Rate)
	if maxBilled < first {
		return 0
	}
	return first + (maxBilled-first)/every*every
}
