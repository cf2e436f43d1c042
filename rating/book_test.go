package rating

import (
	"errors"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"ipcs/internal/money"
)

func loadBook(tb testing.TB, files ...string) *Book {
	tb.Helper()
	b, err := LoadBook(os.DirFS("testdata"), files...)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestDefaultCaps(t *testing.T) {
	c, err := ParseCaps(fccCaps)
	if err != nil {
		t.Fatal(err)
	}
	d := func(s string) time.Time { v, _ := time.Parse(time.DateOnly, s); return v }
	tests := []struct {
		name  string
		day   string
		svc   Service
		typ   FacilityType
		adp   int
		want  string
		order string
	}{
		{"audio prison", "2025-06-01", Audio, Prison, 5000, "0.06", "FCC 24-75"},
		{"audio jail 1000", "2025-06-01", Audio, Jail, 1000, "0.06", "FCC 24-75"},
		{"audio jail 999", "2025-06-01", Audio, Jail, 999, "0.07", "FCC 24-75"},
		{"audio jail 350", "2025-06-01", Audio, Jail, 350, "0.07", "FCC 24-75"},
		{"audio jail 349", "2025-06-01", Audio, Jail, 349, "0.09", "FCC 24-75"},
		{"audio jail 100", "2025-06-01", Audio, Jail, 100, "0.09", "FCC 24-75"},
		{"audio jail 99", "2025-06-01", Audio, Jail, 99, "0.12", "FCC 24-75"},
		{"video prison", "2025-06-01", Video, Prison, 10, "0.16", "FCC 24-75"},
		{"video jail 1000", "2025-06-01", Video, Jail, 1000, "0.11", "FCC 24-75"},
		{"video jail 500", "2025-06-01", Video, Jail, 500, "0.12", "FCC 24-75"},
		{"video jail 200", "2025-06-01", Video, Jail, 200, "0.14", "FCC 24-75"},
		{"video jail 20", "2025-06-01", Video, Jail, 20, "0.25", "FCC 24-75"},
		{"before first schedule uses first", "2020-01-01", Audio, Prison, 1, "0.06", "FCC 24-75"},
		{"day before interim", "2026-04-05", Audio, Prison, 1, "0.06", "FCC 24-75"},
		// The interim figures are not verified yet: the 2024 caps keep
		// applying past the compliance date (the stricter choice).
		{"unverified interim keeps 2024 caps", "2026-04-06", Audio, Prison, 1, "0.06", "FCC 24-75"},
		{"unverified interim smallest jails", "2026-04-06", Audio, Jail, 49, "0.12", "FCC 24-75"},
		{"unverified interim smallest jails video", "2026-04-06", Video, Jail, 10, "0.25", "FCC 24-75"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := c.For(d(tt.day), tt.svc, tt.typ, tt.adp)
			if !ok || got.Rate != mustAmount(t, tt.want) || got.Order != tt.order {
				t.Fatalf("For = %+v %v, want %s %s", got, ok, tt.want, tt.order)
			}
		})
	}
	if got, _ := c.For(d("2026-05-01"), Audio, Jail, 10); got.Order != "FCC 24-75" || !got.Verified {
		t.Errorf("unverified interim schedule applied: %+v", got)
	}

	// Once the interim table is marked verified it applies from its
	// compliance date, with its additive.
	verified, err := ParseCaps([]byte(strings.Replace(string(fccCaps), "verified: false", "verified: true", 1)))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		day   string
		typ   FacilityType
		adp   int
		want  string
		order string
	}{
		{"2026-04-05", Prison, 1, "0.06", "FCC 24-75"},
		{"2026-04-06", Prison, 1, "0.11", "FCC 25-75"},
		{"2026-04-06", Jail, 49, "0.19", "FCC 25-75"},
	} {
		got, ok := verified.For(d(tt.day), Audio, tt.typ, tt.adp)
		if !ok || got.Rate != mustAmount(t, tt.want) || got.Order != tt.order {
			t.Errorf("verified interim on %s: %+v, want %s %s", tt.day, got, tt.want, tt.order)
		}
	}
	if got, _ := verified.For(d("2026-05-01"), Audio, Jail, 10); got.Additive != 2*money.Cent {
		t.Errorf("verified interim additive = %s, want 0.02", got.Additive)
	}
}

const facilityYAML = `
facilities:
  - {id: f, zone: America/Chicago, type: jail, adp: 500, state: IL, local_prefixes: ["+1312"]}
`

func TestParseBookRefusals(t *testing.T) {
	tariff := func(body string) string {
		return facilityYAML + `
tariffs:
  - id: t
    version: 1
    facility: f
    service: audio
    effective: "2025-06-01"
` + body
	}
	tests := []struct {
		name    string
		in      string
		err     error
		mention []string
	}{
		{"rate above cap", tariff("    rates:\n      local: {rate: \"0.08\"}\n"), ErrCapExceeded,
			[]string{"bad.yaml", "tariffs[0].rates.local.rate", "0.08", "0.07", "FCC 24-75"}},
		{"band above cap", tariff("    rates:\n      local:\n        rate: \"0.05\"\n        bands: [{name: day, from: \"07:00\", to: \"19:00\", rate: \"0.09\"}]\n"), ErrCapExceeded,
			[]string{"bands[0].rate", "0.09", "0.07"}},
		{"connect fee", tariff("    connect_fee: \"0.50\"\n    rates:\n      local: {rate: \"0.05\"}\n"), ErrFeeForbidden,
			[]string{"tariffs[0].connect_fee", "0.50"}},
		{"per call fee on class", tariff("    rates:\n      local: {rate: \"0.05\", per_call_fee: \"1\"}\n"), ErrFeeForbidden,
			[]string{"rates.local.per_call_fee"}},
		{"negative rate", tariff("    rates:\n      local: {rate: \"-0.01\"}\n"), ErrInvalidTariff, []string{"local.rate"}},
		{"float exponent rate", tariff("    rates:\n      local: {rate: \"6e-2\"}\n"), ErrInvalidTariff, []string{"local.rate"}},
		{"too precise rate", tariff("    rates:\n      local: {rate: \"0.0600001\"}\n"), ErrInvalidTariff, []string{"local.rate"}},
		{"bad increment", tariff("    increment: 0/60\n    rates:\n      local: {rate: \"0.05\"}\n"), ErrInvalidTariff, []string{"increment"}},
		{"unknown field", tariff("    discount: 5\n    rates:\n      local: {rate: \"0.05\"}\n"), ErrInvalidTariff, []string{"discount"}},
		{"unknown zone", "facilities:\n  - {id: f, zone: Mars/Olympus, type: jail, adp: 5}\n", ErrInvalidTariff, []string{"zone"}},
		{"bad prefix class", tariff("    rates:\n      local: {rate: \"0.05\"}\n    prefixes: {nope: [\"+1800\"]}\n"), ErrInvalidTariff, []string{"prefixes"}},
		{"video keyed by kind", facilityYAML + "tariffs:\n  - {id: v, version: 1, facility: f, service: video, effective: \"2025-06-01\", rates: {local: {rate: \"0.1\"}}}\n", ErrInvalidTariff, []string{"video"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseBook([]byte(tt.in), "bad.yaml")
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			for _, m := range tt.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
		})
	}
}

func TestInterimCapNeedsVerification(t *testing.T) {
	in := facilityYAML + `
tariffs:
  - {id: t, version: 1, facility: f, service: audio, effective: "2026-04-06", rates: {local: {rate: "0.13"}}}
`
	// Jail of 500 ADP: the reported interim cap 0.11 + 0.02 additive would
	// allow 0.13, but its figures are unverified, so the 2024 cap of 0.07
	// still refuses it.
	if _, err := ParseBook([]byte(in), "unverified.yaml"); !errors.Is(err, ErrCapExceeded) {
		t.Fatalf("err = %v, want ErrCapExceeded under the verified 2024 cap", err)
	}
	caps, err := ParseCaps([]byte(strings.Replace(string(fccCaps), "verified: false", "verified: true", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadBookWithCaps(caps, fstest.MapFS{"ok.yaml": {Data: []byte(in)}}, "ok.yaml"); err != nil {
		t.Fatalf("with a verified interim table: %v", err)
	}
	early := strings.Replace(in, "2026-04-06", "2026-04-05", 1)
	if _, err := LoadBookWithCaps(caps, fstest.MapFS{"early.yaml": {Data: []byte(early)}}, "early.yaml"); !errors.Is(err, ErrCapExceeded) {
		t.Fatalf("before the compliance date: err = %v, want ErrCapExceeded", err)
	}
}

func TestQuoteClassesAndFree(t *testing.T) {
	b := loadBook(t, "demo.yaml", "bands.yaml")
	start := time.Date(2026, 5, 4, 15, 0, 0, 0, time.UTC) // Monday 10:00 Chicago / 11:00 New York
	tests := []struct {
		name   string
		req    QuoteRequest
		class  string
		rate   string
		free   bool
		maxSec int64
		limit  LimitReason
	}{
		{"demo local", QuoteRequest{Facility: "demo", Service: Audio, Destination: "+13125550100"}, "local", "0.06", false, 900, LimitDuration},
		{"demo intrastate", QuoteRequest{Facility: "demo", Service: Audio, Destination: "+12175550100"}, "intrastate", "0.06", false, 900, LimitDuration},
		{"demo interstate", QuoteRequest{Facility: "demo", Service: Audio, Destination: "+12125550100"}, "interstate", "0.06", false, 900, LimitDuration},
		{"demo international", QuoteRequest{Facility: "demo", Service: Audio, Destination: "+442071234567"}, "international", "0.06", false, 900, LimitDuration},
		{"privileged free", QuoteRequest{Facility: "demo", Service: Audio, Destination: "+13125550100", Privileged: true, Balance: 0}, "privileged", "0", true, 900, LimitDuration},
		{"in facility visit free", QuoteRequest{Facility: "demo", Service: Video, VisitKind: InFacility}, "in_facility", "0", true, 3600, LimitDuration},
		{"remote visit", QuoteRequest{Facility: "demo", Service: Video, VisitKind: Remote}, "remote", "0.16", false, 3600, LimitDuration},
		{"direct dial to slot end", QuoteRequest{Facility: "demo", Service: Video, VisitKind: DirectDial, End: start.Add(20*time.Minute + 500*time.Millisecond)}, "direct_dial", "0.16", false, 1200, LimitEnd},
		{"zero-rate prefix still limited", QuoteRequest{Facility: "ny", Service: Audio, Destination: "+18005550100", Balance: 0, MaxDuration: 20 * time.Minute}, "free_line", "0", true, 1200, LimitDuration},
		{"longest prefix wins", QuoteRequest{Facility: "ny", Service: Audio, Destination: "+12125550100"}, "intrastate", "0.07", false, 900, LimitDuration},
		{"balance bound", QuoteRequest{Facility: "demo", Service: Audio, Destination: "+13125550100", Balance: 30 * money.Cent}, "local", "0.06", false, 300, LimitBalance},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req
			req.Start = start
			if req.Balance == 0 && !tt.free {
				req.Balance = 100 * money.Dollar
			}
			q, err := b.Quote(&req)
			if err != nil {
				t.Fatal(err)
			}
			if q.Price.Class != tt.class || q.Price.Rate != mustAmount(t, tt.rate) || q.Free != tt.free ||
				q.MaxSeconds != tt.maxSec || q.Limit != tt.limit {
				t.Fatalf("quote = %+v, want class %s rate %s free %v max %d limit %v", q, tt.class, tt.rate, tt.free, tt.maxSec, tt.limit)
			}
			if tt.free && q.Reserve != 0 {
				t.Errorf("free session reserves %s", q.Reserve)
			}
		})
	}
}

func TestQuoteErrors(t *testing.T) {
	b := loadBook(t, "demo.yaml", "bands.yaml")
	start := time.Date(2026, 5, 4, 15, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		req  QuoteRequest
		err  error
	}{
		{"unknown facility", QuoteRequest{Facility: "nope", Service: Audio, Destination: "+13125550100", Start: start}, ErrUnknownFacility},
		{"before any tariff", QuoteRequest{Facility: "demo", Service: Audio, Destination: "+13125550100", Start: start.AddDate(-1, 0, 0), Balance: money.Dollar}, ErrNoTariff},
		{"no class rate", QuoteRequest{Facility: "az", Service: Audio, Destination: "+442071234567", Start: start, Balance: money.Dollar}, ErrNoTariff},
		{"cannot pay one increment", QuoteRequest{Facility: "ny", Service: Audio, Destination: "+13105550100", Start: start, Balance: 69_999}, ErrInsufficientFunds},
		{"window closed", QuoteRequest{Facility: "demo", Service: Video, VisitKind: Remote, Start: start, End: start.Add(900 * time.Millisecond), Balance: money.Dollar}, ErrWindowClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := b.Quote(&tt.req); !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
		})
	}
}

// TestQuoteNeverExceedsBalance is the property: whatever the balance and
// limits, the session Quote allows costs at most the balance, and the
// reserve is at most the balance and at least one increment.
func TestQuoteNeverExceedsBalance(t *testing.T) {
	b := loadBook(t, "demo.yaml", "bands.yaml")
	r := rand.New(rand.NewPCG(7, 8))
	dests := []string{"+13125550100", "+12125550100", "+15185550100", "+442071234567", "+16025550100", "+911123456789"}
	facs := []string{"demo", "ny", "az", "in"}
	for range 20000 {
		start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.Int64N(365*24*3600)) * time.Second)
		req := QuoteRequest{Facility: facs[r.IntN(len(facs))], Service: Audio, Destination: dests[r.IntN(len(dests))],
			Start: start, Balance: money.Amount(r.Int64N(3 * int64(money.Dollar))),
			MaxDuration: time.Duration(r.Int64N(3600)) * time.Second}
		if r.IntN(3) == 0 {
			req.End = start.Add(time.Duration(r.Int64N(4000)) * time.Second)
		}
		q, err := b.Quote(&req)
		if err != nil {
			continue
		}
		if c := q.Price.Charge(q.MaxSeconds); c > req.Balance {
			t.Fatalf("%+v: Charge(MaxSeconds=%d) = %s > balance %s", req, q.MaxSeconds, c, req.Balance)
		}
		if q.Reserve > req.Balance || q.Reserve < q.Price.Charge(1) || q.Reserve > q.Price.Charge(q.MaxSeconds) {
			t.Fatalf("%+v: reserve %s out of range (balance %s, max %s)", req, q.Reserve, req.Balance, q.Price.Charge(q.MaxSeconds))
		}
		if q.MaxSeconds <= 0 {
			t.Fatalf("%+v: MaxSeconds %d", req, q.MaxSeconds)
		}
	}
}

func TestTimeBandsAcrossZones(t *testing.T) {
	b := loadBook(t, "bands.yaml")
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name string
		fac  string
		dst  string
		at   string
		band string
		rate string
	}{
		// America/New_York 2026-03-08: 02:00 EST jumps to 03:00 EDT.
		{"NY gap day 01:59 EST night", "ny", "+12126660000", "2026-03-08T06:59:00Z", "night", "0.04"},
		{"NY gap day 03:00 EDT still night", "ny", "+12126660000", "2026-03-08T07:00:00Z", "night", "0.04"},
		{"NY gap day 07:00 EDT day", "ny", "+12126660000", "2026-03-08T11:00:00Z", "", "0.06"},
		{"NY day before 06:00 EST night", "ny", "+12126660000", "2026-03-07T11:00:00Z", "night", "0.04"},
		{"NY gap day 18:59 EDT day", "ny", "+12126660000", "2026-03-08T22:59:00Z", "", "0.06"},
		{"NY gap day 19:00 EDT night", "ny", "+12126660000", "2026-03-08T23:00:00Z", "night", "0.04"},
		// 2026-11-01: 02:00 EDT falls back to 01:00 EST; 01:30 happens twice.
		{"NY overlap 01:30 EDT night", "ny", "+12126660000", "2026-11-01T05:30:00Z", "night", "0.04"},
		{"NY overlap 01:30 EST night", "ny", "+12126660000", "2026-11-01T06:30:00Z", "night", "0.04"},
		{"NY overlap 06:59 EST night", "ny", "+12126660000", "2026-11-01T11:59:00Z", "night", "0.04"},
		{"NY overlap 07:00 EST day", "ny", "+12126660000", "2026-11-01T12:00:00Z", "", "0.06"},
		{"NY day before 07:00 EDT day", "ny", "+12126660000", "2026-10-31T11:00:00Z", "", "0.06"},
		// America/Phoenix has no DST: MST (UTC−7) all year.
		{"Phoenix March 06:59 night", "az", "+16025550000", "2026-03-09T13:59:00Z", "night", "0.08"},
		{"Phoenix March 07:00 day", "az", "+16025550000", "2026-03-09T14:00:00Z", "day", "0.12"},
		{"Phoenix July 07:00 day", "az", "+16025550000", "2026-07-07T14:00:00Z", "day", "0.12"},
		{"Phoenix weekend band", "az", "+16025550000", "2026-03-08T14:00:00Z", "weekend", "0.10"},
		// Asia/Kolkata is UTC+05:30.
		{"Kolkata 06:59 base", "in", "+911123456789", "2026-06-01T01:29:00Z", "", "0.06"},
		{"Kolkata 07:00 day", "in", "+911123456789", "2026-06-01T01:30:00Z", "day", "0.05"},
		{"Kolkata 19:00 base", "in", "+911123456789", "2026-06-01T13:30:00Z", "", "0.06"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := b.Quote(&QuoteRequest{Facility: tt.fac, Service: Audio, Destination: tt.dst, Start: utc(tt.at), Balance: money.Dollar})
			if err != nil {
				t.Fatal(err)
			}
			if q.Price.Band != tt.band || q.Price.Rate != mustAmount(t, tt.rate) {
				t.Fatalf("band %q rate %s, want %q %s", q.Price.Band, q.Price.Rate, tt.band, tt.rate)
			}
		})
	}
}

func TestTariffVersionsByEffectiveDate(t *testing.T) {
	in := facilityYAML + `
tariffs:
  - {id: t, version: 1, facility: f, service: audio, effective: "2026-01-01", rates: {local: {rate: "0.05"}}}
  - {id: t, version: 2, facility: f, service: audio, effective: "2026-03-01", rates: {local: {rate: "0.04"}}}
`
	b, err := ParseBook([]byte(in), "v.yaml")
	if err != nil {
		t.Fatal(err)
	}
	chicago, _ := time.LoadLocation("America/Chicago")
	tests := []struct {
		name string
		at   time.Time
		ver  int
	}{
		{"v1", time.Date(2026, 2, 28, 23, 59, 59, 0, chicago), 1},
		{"v2 at local midnight", time.Date(2026, 3, 1, 0, 0, 0, 0, chicago), 2},
		{"v1 at UTC midnight (still Feb in Chicago)", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := b.Quote(&QuoteRequest{Facility: "f", Service: Audio, Destination: "+13125550000", Start: tt.at, Balance: money.Dollar})
			if err != nil {
				t.Fatal(err)
			}
			if q.Price.Version != tt.ver {
				t.Fatalf("version %d, want %d", q.Price.Version, tt.ver)
			}
		})
	}
}
