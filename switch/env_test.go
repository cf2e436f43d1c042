package callswitch

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"ipcs/internal/clock"
	"ipcs/internal/money"
	"ipcs/internal/sqldb"
	"ipcs/ledger"
	"ipcs/ledger/sqlite"
	"ipcs/metrics"
	"ipcs/rating"
)

// t0 is 10:00 CDT in Chicago (after the 2026-03-08 DST change) on a weekday, inside the demo tariff's dates.
var t0 = time.Date(2026, 3, 10, 15, 0, 0, 0, time.UTC)

// env is a switch wired to the real rating Book, Meter and SQLite ledger,
// a fake clock, and the demo trunk as the outside carrier.
type env struct {
	tb    testing.TB
	clk   *clock.Fake
	met   *metrics.Metrics
	led   *ledger.Ledger
	meter *rating.Meter
	trunk *DemoTrunk
	sw    *Switch
}

type envOpts struct {
	cfg      Config
	dir      *DirectoryConfig
	trunk    TrunkConfig
	trunkURI string // an outside trunk (SIPp) instead of the demo trunk
	logLevel slog.Level
}

// Demo directory (issue 4): phones phone-101…, residents by PIN.
func demoDirectory() DirectoryConfig {
	return DirectoryConfig{
		Facilities: []FacilitySpec{{
			ID: "demo", Zone: "America/Chicago", CallLimit: 15 * time.Minute,
			Blocked:    []string{"+15555550100"},
			Privileged: []string{"+15555550199"},
		}, {
			ID: "strict", Zone: "America/Chicago", RequireAllowedList: true,
			CallingHours: []Hours{{From: "08:00", To: "12:00"}},
		}},
		Phones: []PhoneSpec{
			{ID: "phone-101", Password: "demo", Facility: "demo"},
			{ID: "phone-102", Password: "demo", Facility: "demo"},
			{ID: "phone-201", Password: "demo", Facility: "strict"},
		},
		Residents: []ResidentSpec{
			{ID: "r-1001", Facility: "demo", PIN: "1001"},
			{ID: "r-1002", Facility: "demo", PIN: "1002"},
			{ID: "r-1003", Facility: "demo", PIN: "1003"},
			{ID: "r-1004", Facility: "demo", PIN: "1004", Status: StatusSuspended},
			{ID: "r-1005", Facility: "demo", PIN: "1005", CallLimit: 3 * time.Minute, Blocked: []string{"+13125550111"}},
			{ID: "r-1006", Facility: "demo", PIN: "1006"},
			{ID: "r-2001", Facility: "strict", PIN: "2001", Allowed: []string{"+13125550123"}},
		},
	}
}

var demoBalances = map[string]string{
	"r-1001": "20.00", "r-1002": "0.02", "r-1003": "0", "r-1004": "5.00", "r-1005": "20.00", "r-1006": "0.10", "r-2001": "20.00",
}

func newEnv(tb testing.TB, o envOpts) *env {
	tb.Helper()
	ctx := context.Background()
	e := &env{tb: tb, clk: clock.NewFake(t0), met: metrics.New()}
	db, err := sqldb.Open(ctx, filepath.Join(tb.TempDir(), "ledger.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	// ledger/sqlite prepares statements on the pool while its writer's
	// transaction holds the connection; with sqldb's single SQLite
	// connection that deadlocks (reported to the ledger's owner). Two
	// connections keep one free for the prepare.
	db.SetMaxOpenConns(2)
	store, err := sqlite.Open(ctx, db, sqlite.Config{}, e.met.Ledger)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	if e.led, err = ledger.New(store, ledger.Config{}, e.clk, e.met.Ledger); err != nil {
		tb.Fatal(err)
	}
	for _, f := range []string{"demo", "strict"} {
		if err := e.led.SetFacility(ctx, ledger.Facility{ID: f, Zone: "America/Chicago"}); err != nil {
			tb.Fatal(err)
		}
	}
	dc := demoDirectory()
	if o.dir != nil {
		dc = *o.dir
	}
	for _, r := range dc.Residents {
		if err := e.led.OpenAccount(ctx, ledger.Account{ID: r.ID, Facility: r.Facility}); err != nil {
			tb.Fatal(err)
		}
		if b := demoBalances[r.ID]; b != "" && b != "0" {
			e.deposit(r.ID, b)
		}
	}
	// Prepare the balance query once before calls race for it: two
	// concurrent first Balance reads each hold one of the two connections
	// and wait for a third to prepare on (ledger/sqlite stmtCache; seen
	// hanging BenchmarkLiveCalls and BenchmarkCalls, reported to the
	// ledger's owner).
	if len(dc.Residents) > 0 {
		e.balance(dc.Residents[0].ID)
	}
	data, err := os.ReadFile("testdata/tariffs.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	book, err := rating.ParseBook(data, "tariffs.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	if e.meter, err = rating.NewMeter(rating.MeterConfig{}, e.led, e.clk, e.met.Meter); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.meter.Close() })
	if o.trunk.RingDelay == 0 {
		o.trunk.RingDelay = 20 * time.Millisecond
	}
	if e.trunk, err = NewDemoTrunk(o.trunk); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.trunk.Close() })
	dir, err := NewDirectory(dc)
	if err != nil {
		tb.Fatal(err)
	}
	cfg := o.cfg
	cfg.Listen = "127.0.0.1:0"
	cfg.Trunk = e.trunk.URI()
	if o.trunkURI != "" {
		cfg.Trunk = o.trunkURI
	}
	if _, ok := tb.(*testing.B); ok && o.logLevel == 0 {
		o.logLevel = slog.LevelWarn
	}
	logger := slog.New(slog.NewTextHandler(testWriter{tb}, &slog.HandlerOptions{Level: o.logLevel}))
	if e.sw, err = New(cfg, dir, book, e.led, e.meter, e.met.Calls, WithClock(e.clk), WithLogger(logger)); err != nil {
		tb.Fatal(err)
	}
	if err := e.sw.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.sw.Close() })
	return e
}

type testWriter struct{ tb testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.tb.Helper()
	w.tb.Log(string(p[:len(p)-1]))
	return len(p), nil
}

func (e *env) deposit(account, amount string) {
	e.tb.Helper()
	a, err := money.Parse(amount, 2)
	if err != nil {
		e.tb.Fatal(err)
	}
	if _, err := e.led.Deposit(context.Background(), ledger.DepositRequest{
		Key: "dep:" + account + ":" + amount + ":" + e.clk.Now().String(), AccountID: account, Amount: a, DepositorID: "family-1",
	}); err != nil {
		e.tb.Fatal(err)
	}
}

func (e *env) balance(account string) ledger.Balance {
	e.tb.Helper()
	b, err := e.led.Balance(context.Background(), account)
	if err != nil {
		e.tb.Fatal(err)
	}
	return b
}

func (e *env) phone(id, transport string) *Phone {
	e.tb.Helper()
	p, err := NewPhone(PhoneConfig{Switch: e.sw.Addr(), Transport: transport, PhoneID: id, Password: "demo"})
	if err != nil {
		e.tb.Fatal(err)
	}
	e.tb.Cleanup(func() { p.Close() })
	return p
}

func (e *env) call(p *Phone, pin, to string) (*PhoneCall, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return p.Call(ctx, pin, to)
}

// cdrs returns the account's CDRs once n of them are stored (the switch
// settles after it answered the last BYE).
func (e *env) cdrs(account string, n int) []ledger.CDR {
	e.tb.Helper()
	var got []ledger.CDR
	e.eventually(func() bool {
		var err error
		got, _, err = e.led.CDRs(context.Background(), ledger.CDRQuery{AccountID: account}, 0)
		return err == nil && len(got) >= n
	}, "%d CDRs for %s", n, account)
	return got
}

// eventually polls cond (state owned by other goroutines over the
// network) until it holds or 10 s pass.
func (e *env) eventually(cond func() bool, format string, args ...any) {
	e.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tick := clock.Real{}.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			e.tb.Fatalf("timed out waiting for "+format, args...)
		case <-tick.C():
		}
	}
}

func (e *env) attempts(outcome string) float64 {
	return value(e.met.Calls.Attempts.WithLabelValues(outcome))
}

// value reads a counter or gauge.
func value(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		panic(err)
	}
	if c := d.GetCounter(); c != nil {
		return c.GetValue()
	}
	return d.GetGauge().GetValue()
}

func callError(tb testing.TB, err error) *CallError {
	tb.Helper()
	var ce *CallError
	if !errors.As(err, &ce) {
		tb.Fatalf("want a *CallError, got %v", err)
	}
	return ce
}
