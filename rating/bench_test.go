package rating

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"ipcs/internal/clock"
	"ipcs/internal/money"
	"ipcs/metrics"
)

// bigBook builds a facility whose audio tariff carries a 50,000-prefix
// table (4–8 digit prefixes across +1 and international codes).
func bigBook(tb testing.TB) (*Book, []string) {
	tb.Helper()
	r := rand.New(rand.NewPCG(9, 10))
	var sb strings.Builder
	sb.WriteString(`facilities:
  - {id: big, zone: America/New_York, type: prison, adp: 4000, state: NY, local_prefixes: ["+1212"], state_prefixes: ["+1518", "+1315"]}
tariffs:
  - id: big-audio
    version: 1
    facility: big
    service: audio
    effective: "2026-01-01"
    increment: 1/1
    rates:
      local: {rate: "0.05", bands: [{name: night, from: "19:00", to: "07:00", rate: "0.04"}]}
      intrastate: {rate: "0.06"}
      interstate: {rate: "0.06"}
      international: {rate: "0.06"}
      mobile: {rate: "0.055"}
    prefixes:
`)
	byClass := map[string][]string{}
	seen := map[string]bool{}
	dests := make([]string, 0, 1024)
	for len(seen) < 50_000 {
		n := 4 + r.IntN(5)
		p := make([]byte, n)
		p[0] = byte('1' + r.IntN(9))
		for i := 1; i < n; i++ {
			p[i] = byte('0' + r.IntN(10))
		}
		if p[0] == '1' && n > 1 && p[1] < '2' {
			p[1] = '2'
		}
		ps := "+" + string(p)
		if seen[ps] {
			continue
		}
		seen[ps] = true
		classes := []string{"mobile", "interstate", "international"}
		c := classes[r.IntN(3)]
		byClass[c] = append(byClass[c], ps)
		if len(dests) < cap(dests) {
			d := ps + strings.Repeat("5", 12-len(p))
			if _, err := NormalizeDestination(d); err == nil {
				dests = append(dests, d)
			}
		}
	}
	for c, ps := range byClass {
		fmt.Fprintf(&sb, "      %s: [%s]\n", c, strings.Join(ps, ", "))
	}
	b, err := ParseBook([]byte(sb.String()), "big.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	return b, dests
}

func BenchmarkQuote(b *testing.B) {
	book, dests := bigBook(b)
	start := time.Date(2026, 3, 8, 23, 30, 0, 0, time.UTC)
	reqs := make([]QuoteRequest, len(dests))
	for i, d := range dests {
		reqs[i] = QuoteRequest{Facility: "big", Service: Audio, Destination: d, Start: start, Balance: 5 * money.Dollar}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := book.Quote(&reqs[i%len(reqs)]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCharge(b *testing.B) {
	book, dests := bigBook(b)
	q, err := book.Quote(&QuoteRequest{Facility: "big", Service: Audio, Destination: dests[0], Start: time.Date(2026, 3, 8, 23, 30, 0, 0, time.UTC), Balance: money.Dollar})
	if err != nil {
		b.Fatal(err)
	}
	p := Price{Rate: 70_000, First: 30, Every: 6} // $0.07/min 30/6: not whole micro-dollars per second
	_ = q
	var sink money.Amount
	b.ReportAllocs()
	for i := int64(0); b.Loop(); i++ {
		sink += p.Charge(i & 4095)
	}
	_ = sink
}

// BenchmarkChargeDecimal is BenchmarkCharge with shopspring/decimal
// arithmetic, for the ratio in docs/PERFORMANCE.md.
func BenchmarkChargeDecimal(b *testing.B) {
	p := Price{Rate: 70_000, First: 30, Every: 6}
	rate := decimal.RequireFromString("0.07")
	sixty := decimal.NewFromInt(60)
	sink := decimal.Zero
	b.ReportAllocs()
	for i := int64(0); b.Loop(); i++ {
		billed := p.Billed(i & 4095)
		sink = sink.Add(rate.Mul(decimal.NewFromInt(billed)).Div(sixty).RoundFloor(6))
	}
	_ = sink
}

// BenchmarkMeter runs the wheel over 100,000 live sessions: one op is one
// wheel tick (one second of all sessions). Reported: ns per session-second
// and the share of one core the Meter needs for 100k sessions.
func BenchmarkMeter(b *testing.B) {
	const n = 100_000
	clk := clock.NewFake(time.Date(2026, 3, 8, 6, 0, 0, 0, time.UTC))
	f := newFakeFunder(1 << 50)
	f.calls = make(chan string, 1) // nobody reads: drop notifications
	funder := quietFunder{f}
	m, err := NewMeter(MeterConfig{}, funder, clk, metrics.New().Meter, withoutWheel())
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	for i := range n {
		// Stagger starts over a minute so checkpoints and extensions spread.
		if i%(n/60) == 0 {
			clk.Advance(time.Second)
			m.advance(clk.Now())
		}
		if _, err := m.Start(SessionSpec{ID: fmt.Sprint(i), ReservationID: "r", Price: perSecond,
			Granted: perSecond.Charge(300), MaxSeconds: 4 * 3600}); err != nil {
			b.Fatal(err)
		}
	}
	clk.Advance(time.Second)
	m.advance(clk.Now())
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clk.Advance(time.Second)
		m.advance(clk.Now())
	}
	b.StopTimer()
	perTick := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(perTick/n, "ns/session-s")
	b.ReportMetric(perTick/1e9*100, "%core@100k")
}

// quietFunder grants everything and never blocks.
type quietFunder struct{ f *fakeFunder }

func (q quietFunder) Extend(_ context.Context, _ string, want money.Amount) (money.Amount, error) {
	return want, nil
}

func (q quietFunder) Checkpoint(context.Context, string, int64, money.Amount) error { return nil }
