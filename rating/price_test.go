package rating

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/shopspring/decimal"

	"ipcs/internal/money"
)

func mustAmount(tb testing.TB, s string) money.Amount {
	tb.Helper()
	a, err := money.Parse(s, money.Scale)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

func TestCharge(t *testing.T) {
	tests := []struct {
		name         string
		rate         string
		first, every int64
		seconds      int64
		billed       int64
		want         string
	}{
		{"zero seconds free", "0.06", 60, 60, 0, 0, "0"},
		{"negative seconds free", "0.06", 1, 1, -5, 0, "0"},
		{"60/60 one second bills a minute", "0.06", 60, 60, 1, 60, "0.06"},
		{"60/60 exactly a minute", "0.06", 60, 60, 60, 60, "0.06"},
		{"60/60 started minute", "0.06", 60, 60, 61, 120, "0.12"},
		{"1/1 174 s is 0.174 not 0.18", "0.06", 1, 1, 174, 174, "0.174"},
		{"60/60 174 s is 0.18", "0.06", 60, 60, 174, 180, "0.18"},
		{"30/6 first block", "0.06", 30, 6, 10, 30, "0.03"},
		{"30/6 then six", "0.06", 30, 6, 31, 36, "0.036"},
		{"30/6 exact", "0.06", 30, 6, 36, 36, "0.036"},
		{"per second sub-micro floors", "0.07", 1, 1, 1, 1, "0.001166"},  // 1166.67 µ$ → 1166
		{"per second 7 cents 59 s", "0.07", 1, 1, 59, 59, "0.068833"},    // 68833.33 → 68833
		{"474.995 not 475", "0.06", 1, 1, 474995, 474995, "474.995"},     // never rounded to cents
		{"474.995 not 474.99", "0.06", 60, 60, 474960, 474960, "474.96"}, // 7916 minutes
		{"0.25 video small jail hour", "0.25", 60, 60, 3600, 3600, "15"},
		{"free rate meters nothing", "0", 1, 1, 900, 900, "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Price{Rate: mustAmount(t, tt.rate), First: tt.first, Every: tt.every}
			if got := p.Billed(tt.seconds); got != tt.billed {
				t.Errorf("Billed(%d) = %d, want %d", tt.seconds, got, tt.billed)
			}
			if got, want := p.Charge(tt.seconds), mustAmount(t, tt.want); got != want {
				t.Errorf("Charge(%d) = %s, want %s", tt.seconds, got, want)
			}
		})
	}
}

// TestChargeNeverAboveRate checks the FCC-cap property of the rounding:
// the amount never exceeds rate × billed / 60 computed exactly.
func TestChargeNeverAboveRate(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		p := Price{Rate: money.Amount(r.Int64N(500_000)), First: 1 + r.Int64N(60), Every: 1 + r.Int64N(60)}
		s := r.Int64N(100_000)
		exact := decimal.NewFromInt(int64(p.Rate)).Mul(decimal.NewFromInt(p.Billed(s))).Div(decimal.NewFromInt(60))
		got := decimal.NewFromInt(int64(p.Charge(s)))
		if got.Cmp(exact) > 0 || exact.Sub(got).Cmp(decimal.NewFromInt(1)) >= 0 {
			t.Fatalf("%+v Charge(%d) = %s µ$, exact %s µ$", p, s, got, exact)
		}
	}
}

func TestChargeMonotonic(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		p := Price{Rate: money.Amount(r.Int64N(500_000)), First: 1 + r.Int64N(60), Every: 1 + r.Int64N(60)}
		prev := money.Amount(0)
		for s := int64(0); s < 2000; s++ {
			c := p.Charge(s)
			if c < prev {
				t.Fatalf("%+v: Charge(%d) = %s < Charge(%d) = %s", p, s, c, s-1, prev)
			}
			prev = c
		}
	}
}

// TestAffordableInverse checks Affordable is the exact inverse of Charge:
// Charge(Affordable(a)) ≤ a and the next billable second costs more.
func TestAffordableInverse(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 50000 {
		p := Price{Rate: money.Amount(1 + r.Int64N(500_000)), First: 1 + r.Int64N(60), Every: 1 + r.Int64N(60)}
		a := money.Amount(r.Int64N(20 * int64(money.Dollar)))
		s := p.Affordable(a)
		if s < 0 {
			t.Fatalf("negative %d", s)
		}
		if p.Charge(s) > a {
			t.Fatalf("%+v a=%s: Charge(Affordable=%d) = %s > a", p, a, s, p.Charge(s))
		}
		if p.Charge(s+1) <= a {
			t.Fatalf("%+v a=%s: Affordable=%d but Charge(%d) = %s ≤ a", p, a, s, s+1, p.Charge(s+1))
		}
	}
	if got := (Price{First: 1, Every: 1}).Affordable(0); got != math.MaxInt64 {
		t.Errorf("free Affordable = %d", got)
	}
	if got := (Price{Rate: 60_000, First: 60, Every: 60}).Affordable(59_999); got != 0 {
		t.Errorf("below one increment Affordable = %d, want 0", got)
	}
	if got := (Price{Rate: 60_000, First: 60, Every: 60}).Affordable(-1); got != 0 {
		t.Errorf("negative balance Affordable = %d, want 0", got)
	}
}
