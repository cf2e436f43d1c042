package signaling_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"ipcs/internal/clock"
	"ipcs/internal/money"
	"ipcs/internal/token"
	"ipcs/metrics"
	"ipcs/signaling"
	"ipcs/signaling/signalingtest"
	"ipcs/web"
)

// t0 is the fake time every test starts at.
var t0 = time.Date(2026, 3, 10, 15, 0, 0, 0, time.UTC)

type harness struct {
	t      testing.TB
	clk    *clock.Fake
	signer *token.Signer
	hub    *signaling.Hub
	srv    *httptest.Server
	url    string
	m      *metrics.Metrics
	biller *fakeBiller
	api    *webrtc.API

	mu     sync.Mutex
	visits map[string]signaling.Visit
}

func newHarness(tb testing.TB, cfg signaling.Config) *harness {
	tb.Helper()
	signer, err := token.NewSigner([]byte(strings.Repeat("k", 32)))
	if err != nil {
		tb.Fatal(err)
	}
	h := &harness{t: tb, clk: clock.NewFake(t0), signer: signer, m: metrics.New(), visits: map[string]signaling.Visit{}}
	h.biller = newFakeBiller(h.clk)
	cfg.IncludeLoopback = true
	hub, err := signaling.New(cfg, signer, signaling.VisitsFunc(h.visit), h.biller, h.m.Visits,
		signaling.WithClock(h.clk), signaling.WithSettingEngine(signaling.LoopbackOnly))
	if err != nil {
		tb.Fatal(err)
	}
	h.hub = hub
	h.srv = newServer(hub)
	h.url = "ws" + strings.TrimPrefix(h.srv.URL, "http") + "/ws"
	api, err := signalingtest.NewAPI()
	if err != nil {
		tb.Fatal(err)
	}
	h.api = api
	tb.Cleanup(func() {
		h.srv.Close()
		if err := hub.Close(); err != nil {
			tb.Errorf("hub close: %v", err)
		}
	})
	return h
}

// newServer serves the hub at /ws and the pages at /.
func newServer(hub *signaling.Hub) *httptest.Server {
	mux := http.NewServeMux()
	mux.Handle("/ws", hub)
	mux.Handle("/", web.Handler())
	return httptest.NewServer(mux)
}

// startServer serves hub until tb ends and returns its /ws address.
func startServer(tb testing.TB, hub *signaling.Hub) string {
	srv := newServer(hub)
	tb.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
}

func (h *harness) visit(_ context.Context, id string) (signaling.Visit, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.visits[id]
	if !ok {
		return v, signaling.ErrUnknownVisit
	}
	return v, nil
}

// book adds a visit that started a minute ago and ends in d.
func (h *harness) book(id, kind string, d time.Duration) signaling.Visit {
	now := h.clk.Now()
	v := signaling.Visit{ID: id, Facility: "fac1", ResidentID: "res-" + id, Kind: kind, Start: now.Add(-time.Minute), End: now.Add(d)}
	h.mu.Lock()
	h.visits[id] = v
	h.mu.Unlock()
	return v
}

func (h *harness) setPrivileged(id string) {
	h.mu.Lock()
	v := h.visits[id]
	v.Privileged = true
	h.visits[id] = v
	h.mu.Unlock()
}

// token signs a join token for role on visit id, valid ±1 h around now.
func (h *harness) token(role signaling.Role, id string) string {
	now := h.clk.Now()
	tok, err := h.signer.Sign(token.Claims{
		Purpose: "join", Role: string(role), Subject: string(role) + "-1", Facility: "fac1", Resource: id,
		NotBefore: now.Add(-time.Hour).Unix(), Expires: now.Add(time.Hour).Unix(),
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

func (h *harness) dial(ctx context.Context, role signaling.Role, id string, publish bool) *signalingtest.Peer {
	h.t.Helper()
	p, err := signalingtest.Dial(ctx, h.api, signalingtest.Options{URL: h.url, Token: h.token(role, id), Publish: publish})
	if err != nil {
		h.t.Fatalf("%s join %s: %v", role, id, err)
	}
	h.t.Cleanup(p.Close)
	return p
}

// refusedCount reads Refused{reason}.
func (h *harness) refused(reason string) float64 {
	return counter(h.m.Visits.Refused.WithLabelValues(reason))
}

// counter reads a counter's value.
func counter(c prometheus.Counter) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	return m.GetCounter().GetValue()
}

// waitFor polls cond until it holds or the deadline passes. Media counters
// have no event to wait on; the poll yields to the scheduler, never sleeps
// a fixed time as a substitute for a state.
func waitFor(tb testing.TB, ctx context.Context, what string, cond func() bool) {
	tb.Helper()
	tick := clock.Real{}.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			tb.Fatalf("timed out waiting for %s", what)
		case <-tick.C():
		}
	}
}

// waitEvent waits for the next event of typ on p.
func waitEvent(tb testing.TB, ctx context.Context, p *signalingtest.Peer, typ string) signalingtest.Event {
	tb.Helper()
	e, err := p.WaitFor(ctx, typ)
	if err != nil {
		tb.Fatalf("waiting for %q: %v", typ, err)
	}
	return e
}

// fakeBiller prices remote and direct-dial visits at rate per minute,
// per second (1/1), against a balance per resident. It models the rating
// Meter: it warns 60 s before the money runs out and reports exhaustion.
type fakeBiller struct {
	clk *clock.Fake
	mu  sync.Mutex
	// balance and rate are set by tests before a visit opens.
	balance money.Amount
	rate    money.Amount // per minute
	resumed chan string  // visit id, on every Resume
	cdrs    chan billed
}

type billed struct {
	cdr    signaling.CDR
	charge signaling.Charge
}

func newFakeBiller(clk *clock.Fake) *fakeBiller {
	return &fakeBiller{
		clk: clk, balance: money.Amount(100_000_000), rate: money.Amount(250_000),
		resumed: make(chan string, 16), cdrs: make(chan billed, 16),
	}
}

func (b *fakeBiller) Open(_ context.Context, v signaling.Visit, _ time.Time) (signaling.Bill, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	free := v.Kind == signaling.KindInFacility || v.Privileged
	if !free && b.balance*60 < b.rate {
		return nil, fmt.Errorf("%w: balance %v", signaling.ErrInsufficientFunds, b.balance)
	}
	return &fakeBill{b: b, id: v.ID, free: free, balance: b.balance, rate: b.rate}, nil
}

type fakeBill struct {
	b             *fakeBiller
	id            string
	free          bool
	balance, rate money.Amount
	used          time.Duration
	segStart      time.Time
	timers        []clock.Timer
}

// affordable is how long the balance lasts at rate, per second.
func (f *fakeBill) affordable() time.Duration {
	if f.free {
		return 1 << 62
	}
	return time.Duration(int64(f.balance)*60/int64(f.rate)) * time.Second
}

func (f *fakeBill) Resume(maxSeconds int64, on func(signaling.BillEvent)) error {
	f.segStart = f.b.clk.Now()
	left := f.affordable() - f.used
	if !f.free {
		if w := left - time.Minute; w > 0 {
			f.timers = append(f.timers, f.b.clk.AfterFunc(w, func() {
				on(signaling.BillEvent{Kind: signaling.BillWarning, Remaining: time.Minute})
			}))
		}
		f.timers = append(f.timers, f.b.clk.AfterFunc(left, func() { on(signaling.BillEvent{Kind: signaling.BillExhausted}) }))
	}
	f.b.resumed <- f.id
	return nil
}

func (f *fakeBill) Pause() {
	if f.segStart.IsZero() {
		return
	}
	for _, t := range f.timers {
		t.Stop()
	}
	f.timers = nil
	f.used += f.b.clk.Now().Sub(f.segStart)
	f.segStart = time.Time{}
}

func (f *fakeBill) Close(_ context.Context, cdr signaling.CDR) (signaling.Charge, error) {
	f.Pause()
	ch := signaling.Charge{Seconds: int64(f.used / time.Second), Free: f.free}
	if !f.free {
		ch.Amount = money.Amount(int64(f.rate) * ch.Seconds / 60)
	}
	f.b.cdrs <- billed{cdr: cdr, charge: ch}
	return ch, nil
}
