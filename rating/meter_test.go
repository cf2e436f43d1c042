package rating

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"ipcs/internal/clock"
	"ipcs/internal/money"
	itestutil "ipcs/internal/testutil"
	"ipcs/metrics"
)

type ckptCall struct {
	secs int64
	used money.Amount
}

type fakeFunder struct {
	mu     sync.Mutex
	avail  money.Amount // what Extend can still grant
	ckpts  []ckptCall
	calls  chan string
	failCk bool
}

func newFakeFunder(avail money.Amount) *fakeFunder {
	return &fakeFunder{avail: avail, calls: make(chan string, 10000)}
}

func (f *fakeFunder) Extend(_ context.Context, _ string, want money.Amount) (money.Amount, error) {
	f.mu.Lock()
	g := min(want, f.avail)
	f.avail -= g
	f.mu.Unlock()
	defer func() { f.calls <- "extend" }()
	if g == 0 {
		return 0, ErrInsufficientFunds
	}
	return g, nil
}

func (f *fakeFunder) Checkpoint(_ context.Context, _ string, secs int64, used money.Amount) error {
	f.mu.Lock()
	f.ckpts = append(f.ckpts, ckptCall{secs, used})
	fail := f.failCk
	f.mu.Unlock()
	f.calls <- "checkpoint"
	if fail {
		return errors.New("db down")
	}
	return nil
}

func (f *fakeFunder) deposit(a money.Amount) {
	f.mu.Lock()
	f.avail += a
	f.mu.Unlock()
}

type meterRig struct {
	t      *testing.T
	clk    *clock.Fake
	m      *Meter
	met    *metrics.Metrics
	funder *fakeFunder
	ticks  chan struct{}
	events chan Event
}

func newMeterRig(t *testing.T, cfg MeterConfig, avail money.Amount) *meterRig {
	t.Helper()
	itestutil.CheckGoroutines(t)
	r := &meterRig{t: t, clk: clock.NewFake(time.Date(2026, 3, 8, 6, 0, 0, 0, time.UTC)), met: metrics.New(),
		funder: newFakeFunder(avail), ticks: make(chan struct{}, 1), events: make(chan Event, 1000)}
	// The hook hands each finished tick to step; once the test is over
	// nobody reads, so it gives up instead of blocking Close forever.
	closing := make(chan struct{})
	m, err := NewMeter(cfg, r.funder, r.clk, r.met.Meter, withTickHook(func() {
		select {
		case r.ticks <- struct{}{}:
		case <-closing:
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	r.m = m
	t.Cleanup(func() {
		close(closing)
		m.Close()
	})
	return r
}

// step advances the fake clock one second at a time and waits for the
// wheel to finish each tick.
func (r *meterRig) step(n int) {
	r.t.Helper()
	for range n {
		r.clk.Advance(time.Second)
		select {
		case <-r.ticks:
		case <-time.After(10 * time.Second):
			r.t.Fatal("wheel did not tick")
		}
	}
}

// waitCall waits for the funder to be called with kind.
func (r *meterRig) waitCall(kind string) {
	r.t.Helper()
	for {
		select {
		case c := <-r.funder.calls:
			if c == kind {
				return
			}
		case <-time.After(10 * time.Second):
			r.t.Fatalf("no %s call", kind)
		}
	}
}

func (r *meterRig) onEvent(ev Event) { r.events <- ev }

// drain returns the events delivered so far.
func (r *meterRig) drain() []Event {
	var out []Event
	for {
		select {
		case ev := <-r.events:
			out = append(out, ev)
		default:
			return out
		}
	}
}

// waitEvent waits for an event of kind.
func (r *meterRig) waitEvent(kind EventKind) Event {
	r.t.Helper()
	for {
		select {
		case ev := <-r.events:
			if ev.Kind == kind {
				return ev
			}
		case <-time.After(10 * time.Second):
			r.t.Fatalf("no %v event", kind)
		}
	}
}

var perSecond = Price{TariffID: "t", Version: 1, Class: "local", Rate: 60_000, First: 1, Every: 1} // $0.06/min

func TestMeterLimitWithWarnings(t *testing.T) {
	r := newMeterRig(t, MeterConfig{}, 0)
	s, err := r.m.Start(SessionSpec{ID: "free", Price: Price{Class: ClassPrivileged, First: 1, Every: 1}, MaxSeconds: 180, OnEvent: r.onEvent})
	if err != nil {
		t.Fatal(err)
	}
	r.step(59)
	if evs := r.drain(); len(evs) != 0 {
		t.Fatalf("early events %+v", evs)
	}
	r.step(1)
	if ev := r.waitEvent(Warning); ev.Remaining != 2*time.Minute {
		t.Fatalf("first warning %+v", ev)
	}
	r.step(60)
	if ev := r.waitEvent(Warning); ev.Remaining != time.Minute {
		t.Fatalf("second warning %+v", ev)
	}
	r.step(60)
	ev := r.waitEvent(Ended)
	if ev.Reason != Limited || ev.Usage.Seconds != 180 || ev.Usage.Amount != 0 {
		t.Fatalf("end %+v", ev)
	}
	if u := s.Stop(); u != ev.Usage {
		t.Fatalf("Stop after end = %+v, want %+v", u, ev.Usage)
	}
	if got := value(r.met.Meter.Ends.WithLabelValues("limit")); got != 1 {
		t.Errorf("ends{limit} = %v", got)
	}
	if got := value(r.met.Meter.Live); got != 0 {
		t.Errorf("live = %v", got)
	}
	if got := value(r.met.Meter.Warnings); got != 2 {
		t.Errorf("warnings = %v", got)
	}
}

func TestMeterExhaustedWhenExtensionRefused(t *testing.T) {
	r := newMeterRig(t, MeterConfig{CheckpointEvery: time.Hour}, 0)
	granted := perSecond.Charge(300) // $0.30 = five minutes
	if _, err := r.m.Start(SessionSpec{ID: "s", ReservationID: "r", Price: perSecond, Granted: granted, MaxSeconds: 900, OnEvent: r.onEvent}); err != nil {
		t.Fatal(err)
	}
	r.step(120) // 3 minutes before the grant ends: first try
	r.waitCall("extend")
	r.step(60)
	if ev := r.waitEvent(Warning); ev.Remaining != 2*time.Minute {
		t.Fatalf("warning %+v", ev)
	}
	r.step(60)
	if ev := r.waitEvent(Warning); ev.Remaining != time.Minute {
		t.Fatalf("warning %+v", ev)
	}
	r.step(60)
	ev := r.waitEvent(Ended)
	if ev.Reason != Exhausted || ev.Usage.Seconds != 300 || ev.Usage.Amount != granted {
		t.Fatalf("end %+v", ev)
	}
	// The worker pool answers asynchronously to the wheel, so the retries'
	// results may land after the end: wait for at least one retry.
	deadline := time.After(10 * time.Second)
	poll := time.NewTicker(time.Millisecond)
	defer poll.Stop()
	for value(r.met.Meter.Extensions.WithLabelValues("refused")) < 2 {
		select {
		case <-poll.C:
		case <-deadline:
			t.Fatalf("refused extensions = %v, want retries", value(r.met.Meter.Extensions.WithLabelValues("refused")))
		}
	}
}

func TestMeterExtendsToLimit(t *testing.T) {
	r := newMeterRig(t, MeterConfig{CheckpointEvery: time.Hour}, 10*money.Dollar)
	granted := perSecond.Charge(300)
	s, err := r.m.Start(SessionSpec{ID: "s", ReservationID: "r", Price: perSecond, Granted: granted, MaxSeconds: 900, OnEvent: r.onEvent})
	if err != nil {
		t.Fatal(err)
	}
	r.step(120)
	r.waitCall("extend")
	// Each extension adds one slice (5 minutes) to the grant.
	if ev := r.waitEvent(Extended); ev.Granted != perSecond.Charge(600) {
		t.Fatalf("extended %+v", ev)
	}
	r.step(300) // 420 s: 3 minutes before the grant ends, second extension
	r.waitCall("extend")
	if ev := r.waitEvent(Extended); ev.Granted != perSecond.Charge(900) {
		t.Fatalf("extended %+v", ev)
	}
	r.step(359) // 779 s
	if evs := r.drain(); len(evs) != 0 {
		t.Fatalf("events before the limit warnings: %+v", evs)
	}
	r.step(1)
	if ev := r.waitEvent(Warning); ev.Remaining != 2*time.Minute {
		t.Fatalf("warning %+v", ev)
	}
	r.step(120)
	ev := r.waitEvent(Ended)
	if ev.Reason != Limited || ev.Usage.Seconds != 900 || ev.Usage.Amount != perSecond.Charge(900) {
		t.Fatalf("end %+v", ev)
	}
	if u := s.Stop(); u.Seconds != 900 {
		t.Fatalf("stop %+v", u)
	}
}

func TestMeterTopUpExtendsMidSession(t *testing.T) {
	r := newMeterRig(t, MeterConfig{CheckpointEvery: time.Hour, ExtendRetry: time.Hour}, 0)
	s, err := r.m.Start(SessionSpec{ID: "s", ReservationID: "r", Price: perSecond, Granted: perSecond.Charge(300), MaxSeconds: 900, OnEvent: r.onEvent})
	if err != nil {
		t.Fatal(err)
	}
	r.step(120)
	r.waitCall("extend") // refused
	r.step(100)
	r.funder.deposit(money.Dollar)
	s.TopUp()
	r.waitCall("extend")
	ev := r.waitEvent(Extended)
	if ev.Granted != perSecond.Charge(600) {
		t.Fatalf("extended %+v", ev)
	}
	r.step(100) // 320 s: past the old end
	u := s.Stop()
	if u.Seconds != 320 || u.Amount != perSecond.Charge(320) {
		t.Fatalf("usage %+v", u)
	}
	for _, ev := range r.drain() {
		if ev.Kind == Ended {
			t.Fatalf("ended despite top-up: %+v", ev)
		}
	}
}

func TestMeterCheckpoints(t *testing.T) {
	r := newMeterRig(t, MeterConfig{}, 10*money.Dollar)
	s, err := r.m.Start(SessionSpec{ID: "s", ReservationID: "r", Price: perSecond, Granted: perSecond.Charge(300), MaxSeconds: 900})
	if err != nil {
		t.Fatal(err)
	}
	r.step(30)
	r.waitCall("checkpoint")
	r.step(30)
	r.waitCall("checkpoint")
	s.Stop()
	r.funder.mu.Lock()
	defer r.funder.mu.Unlock()
	want := []ckptCall{{30, perSecond.Charge(30)}, {60, perSecond.Charge(60)}}
	if len(r.funder.ckpts) != 2 || r.funder.ckpts[0] != want[0] || r.funder.ckpts[1] != want[1] {
		t.Fatalf("checkpoints %+v, want %+v", r.funder.ckpts, want)
	}
}

// TestMeterCheckpointsCountPriorSeconds meters a second stretch of one
// reservation: its checkpoints record the first stretch's 100 s too,
// priced with this one's as one total, while its Usage is its own.
func TestMeterCheckpointsCountPriorSeconds(t *testing.T) {
	r := newMeterRig(t, MeterConfig{}, 10*money.Dollar)
	s, err := r.m.Start(SessionSpec{ID: "s#2", ReservationID: "r", Price: perSecond, Granted: perSecond.Charge(300), MaxSeconds: 900, PriorSeconds: 100})
	if err != nil {
		t.Fatal(err)
	}
	r.step(30)
	r.waitCall("checkpoint")
	u := s.Stop()
	r.funder.mu.Lock()
	defer r.funder.mu.Unlock()
	want := ckptCall{130, perSecond.Charge(130)}
	if len(r.funder.ckpts) != 1 || r.funder.ckpts[0] != want {
		t.Fatalf("checkpoints %+v, want [%+v]", r.funder.ckpts, want)
	}
	if u.Seconds != 30 || u.Amount != perSecond.Charge(30) {
		t.Fatalf("usage %+v, want this stretch's 30 s", u)
	}
}

func TestMeterStopRounding(t *testing.T) {
	r := newMeterRig(t, MeterConfig{}, 0)
	s, err := r.m.Start(SessionSpec{ID: "s", ReservationID: "r", Price: perSecond, Granted: perSecond.Charge(300), MaxSeconds: 900})
	if err != nil {
		t.Fatal(err)
	}
	r.clk.Advance(10*time.Second + 999*time.Millisecond)
	<-r.ticks
	u := s.Stop()
	if u.Seconds != 10 || u.Amount != 10_000 {
		t.Fatalf("usage %+v, want 10 s $0.01", u)
	}
	if again := s.Stop(); again != u {
		t.Fatalf("second Stop %+v != %+v", again, u)
	}
}

// TestMeterStopRacesEnd stops sessions while the wheel is ending them:
// every session ends exactly once and Stop agrees with the Ended event.
func TestMeterStopRacesEnd(t *testing.T) {
	r := newMeterRig(t, MeterConfig{}, 0)
	const n = 200
	var mu sync.Mutex
	ended := map[string]Usage{}
	hs := make([]*Metered, n)
	for i := range n {
		id := string(rune('A'+i%26)) + string(rune('a'+i/26))
		h, err := r.m.Start(SessionSpec{ID: id, Price: Price{First: 1, Every: 1}, MaxSeconds: 5, OnEvent: func(ev Event) {
			if ev.Kind != Ended {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if _, dup := ended[ev.SessionID]; dup {
				t.Errorf("%s ended twice", ev.SessionID)
			}
			ended[ev.SessionID] = ev.Usage
		}})
		if err != nil {
			t.Fatal(err)
		}
		hs[i] = h
	}
	r.step(4)
	var wg sync.WaitGroup
	stops := make([]Usage, n)
	for i := range n {
		wg.Go(func() { stops[i] = hs[i].Stop() })
	}
	r.step(1)
	wg.Wait()
	r.step(1)
	for i, u := range stops {
		if u.Seconds < 4 || u.Seconds > 5 {
			t.Errorf("session %d usage %+v", i, u)
		}
	}
	if got := value(r.met.Meter.Live); got != 0 {
		t.Errorf("live = %v", got)
	}
}

func TestMeterStartErrors(t *testing.T) {
	r := newMeterRig(t, MeterConfig{}, 0)
	tests := []struct {
		name string
		spec SessionSpec
		err  error
	}{
		{"no id", SessionSpec{MaxSeconds: 1}, ErrInvalidSession},
		{"no limit", SessionSpec{ID: "x"}, ErrInvalidSession},
		{"priced without reservation", SessionSpec{ID: "x", Price: perSecond, MaxSeconds: 60, Granted: money.Dollar}, ErrInvalidSession},
		{"grant below one increment", SessionSpec{ID: "x", ReservationID: "r", Price: Price{Rate: 60_000, First: 60, Every: 60}, MaxSeconds: 60, Granted: 59_999}, ErrInsufficientFunds},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := r.m.Start(tt.spec); !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
		})
	}
	r.m.Close()
	if _, err := r.m.Start(SessionSpec{ID: "late", Price: Price{First: 1, Every: 1}, MaxSeconds: 60}); !errors.Is(err, ErrMeterClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

func TestMeterConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  MeterConfig
		ok   bool
	}{
		{"defaults", MeterConfig{}, true},
		{"warnings ascending", MeterConfig{Warnings: []time.Duration{time.Minute, 2 * time.Minute}}, false},
		{"no warnings", MeterConfig{Warnings: []time.Duration{}}, true},
		{"sub-second checkpoint", MeterConfig{CheckpointEvery: time.Millisecond}, false},
		{"too many workers", MeterConfig{Workers: 1000}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// value reads a counter or gauge.
func value(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}
