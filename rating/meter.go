package rating

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"ipcs/internal/clock"
	"ipcs/internal/money"
	"ipcs/metrics"
)

// Funder extends and checkpoints reservations; *ledger.Ledger satisfies
// it. Extend returns how much more it reserved (0 ≤ granted ≤ want); a
// balance that cannot pay returns 0 with a nil error or an error wrapping
// ErrInsufficientFunds. Checkpoint records usage so far, so that a crash
// settles a stale reservation from it (RFC 4006 style interim update).
type Funder interface {
	Extend(ctx context.Context, reservationID string, want money.Amount) (granted money.Amount, err error)
	Checkpoint(ctx context.Context, reservationID string, usedSeconds int64, used money.Amount) error
}

// MeterConfig holds the Meter's settings; zero values mean the defaults.
type MeterConfig struct {
	// Warnings are how long before a session's projected end to warn it,
	// largest first (default 2m and 1m, NOTES.md: common practice).
	Warnings []time.Duration
	// ExtendSlice is how much usage each extension asks to reserve (default 5m).
	ExtendSlice time.Duration
	// ExtendAhead is how long before the grant runs out to ask for more
	// (default 3m: before the first warning, so a funded session is never warned).
	ExtendAhead time.Duration
	// ExtendRetry is how often a refused or partial extension is retried
	// until the session ends, so a deposit mid-session extends it (default 15s).
	ExtendRetry time.Duration
	// CheckpointEvery is how often a session's usage is checkpointed; a
	// crash loses at most this much usage (default 30s).
	CheckpointEvery time.Duration
	// Workers is how many goroutines call the Funder (default 4).
	Workers int
	// Queue bounds the Funder jobs waiting for a worker (default 8192).
	// A full queue defers a job to a later tick; it never blocks the wheel.
	Queue int
}

func (c MeterConfig) withDefaults() MeterConfig {
	if c.Warnings == nil {
		c.Warnings = []time.Duration{2 * time.Minute, time.Minute}
	}
	if c.ExtendSlice == 0 {
		c.ExtendSlice = 5 * time.Minute
	}
	if c.ExtendAhead == 0 {
		c.ExtendAhead = 3 * time.Minute
	}
	if c.ExtendRetry == 0 {
		c.ExtendRetry = 15 * time.Second
	}
	if c.CheckpointEvery == 0 {
		c.CheckpointEvery = 30 * time.Second
	}
	if c.Workers == 0 {
		c.Workers = 4
	}
	if c.Queue == 0 {
		c.Queue = 8192
	}
	return c
}

// Validate reports the first bad field of c (after defaults).
func (c MeterConfig) Validate() error {
	c = c.withDefaults()
	prev := time.Duration(1<<63 - 1)
	for i, w := range c.Warnings {
		if w < time.Second || w >= prev {
			return fmt.Errorf("rating: MeterConfig.Warnings[%d]: want ≥1s and descending, got %v", i, w)
		}
		prev = w
	}
	for _, x := range []struct {
		name string
		d    time.Duration
	}{{"ExtendSlice", c.ExtendSlice}, {"ExtendAhead", c.ExtendAhead}, {"ExtendRetry", c.ExtendRetry}, {"CheckpointEvery", c.CheckpointEvery}} {
		if x.d < time.Second || x.d > 24*time.Hour {
			return fmt.Errorf("rating: MeterConfig.%s: want 1s to 24h, got %v", x.name, x.d)
		}
	}
	if c.Workers < 1 || c.Workers > 256 {
		return fmt.Errorf("rating: MeterConfig.Workers: want 1 to 256, got %d", c.Workers)
	}
	if c.Queue < 1 || c.Queue > 1<<20 {
		return fmt.Errorf("rating: MeterConfig.Queue: want 1 to 1048576, got %d", c.Queue)
	}
	return nil
}

// MeterOption sets an optional seam of the Meter.
type MeterOption func(*Meter)

// WithLogger sets the Meter's logger (default: discard).
func WithLogger(l *slog.Logger) MeterOption {
	return func(m *Meter) { m.log = l.With("component", "meter") }
}

// withoutWheel leaves the wheel goroutine unstarted so that benchmarks
// can drive advance directly.
func withoutWheel() MeterOption { return func(m *Meter) { m.manual = true } }

// withTickHook calls f on the wheel goroutine after each tick; tests use it
// to wait for the wheel instead of sleeping.
func withTickHook(f func()) MeterOption { return func(m *Meter) { m.tickHook = f } }

// SessionSpec describes a session handed to the Meter at answer.
type SessionSpec struct {
	ID            string
	ReservationID string       // "" for free sessions
	Price         Price        // from the Quote
	Granted       money.Amount // reserved before start
	MaxSeconds    int64        // time limit regardless of money
	OnEvent       func(Event)  // must not block; called from the Meter
	// PriorSeconds is what the reservation already used before this
	// session (a video visit metered in stretches, one session each):
	// checkpoints record PriorSeconds plus this session's seconds,
	// priced together, so that a crash settles every stretch. Grants,
	// warnings and Stop's Usage are this session's alone.
	PriorSeconds int64
}

// EventKind says what happened to a metered session.
type EventKind uint8

// Event kinds.
const (
	Warning  EventKind = iota + 1 // the session ends in Event.Remaining
	Extended                      // the reservation grew to Event.Granted
	Ended                         // the Meter ended the session (Event.Reason, Event.Usage)
)

func (k EventKind) String() string {
	switch k {
	case Warning:
		return "warning"
	case Extended:
		return "extended"
	case Ended:
		return "ended"
	}
	return "unknown"
}

// EndReason says why the Meter ended a session.
type EndReason string

// End reasons (the values of the ipcs_meter_ends_total reason label).
const (
	Exhausted EndReason = "exhausted" // the reserved money ran out and could not be extended
	Limited   EndReason = "limit"     // MaxSeconds reached
)

// Event is a callback from the Meter to the session's owner.
type Event struct {
	Kind      EventKind
	SessionID string
	Remaining time.Duration // Warning, Extended: time to the projected end
	Granted   money.Amount  // Extended: total reserved now
	Reason    EndReason     // Ended
	Usage     Usage         // Ended
}

// Usage is what a session used: whole seconds from answer, the amount
// Price.Charge gives for them, and the price.
type Usage struct {
	Seconds int64
	Amount  money.Amount
	Price   Price
}

// Meter meters every live session on one timing wheel; see the package
// documentation for its concurrency rules.
type Meter struct {
	cfg      MeterConfig
	funder   Funder
	clk      clock.Clock
	met      *metrics.Meter
	log      *slog.Logger
	manual   bool
	tickHook func()
	warnSecs []int64 // cfg.Warnings in seconds, descending
	ahead    int64
	retry    int64
	slice    int64
	ckpt     int64

	ctx    context.Context
	cancel context.CancelFunc
	jobs   chan job
	wg     sync.WaitGroup
	base   time.Time // instant of wheel tick 0

	// mu guards pending and closed: sessions started since the last tick.
	mu      sync.Mutex
	pending []*session
	closed  bool

	// The wheel; touched only by the wheel goroutine (or advance's caller).
	slots [wheelSize][]wheelEntry
	spare []wheelEntry
	tick  int64 // last tick processed
}

// wheelSize is the number of one-second slots: an hour and eight minutes.
// Later deadlines wait in their slot for their round (a hashed wheel).
const wheelSize = 1 << 12

type wheelEntry struct {
	s    *session
	tick int64
}

type jobKind uint8

const (
	jobExtend jobKind = iota + 1
	jobCheckpoint
)

type job struct {
	kind jobKind
	s    *session
	want money.Amount // extend
	secs int64        // checkpoint: usage; extend: elapsed second it was issued at
	used money.Amount // checkpoint
}

// session is one metered session. Fields above mu are set at Start and
// never change.
type session struct {
	m       *Meter
	id      string
	resID   string
	price   Price
	maxSecs int64
	onEvent func(Event)
	start   time.Time
	prior   int64 // SessionSpec.PriorSeconds

	// mu guards the fields below.
	mu        sync.Mutex
	granted   money.Amount
	grantSecs int64 // seconds granted covers, ≤ maxSecs
	nextWarn  int   // index into warnSecs of the next warning to send
	extending bool  // an Extend is queued or running
	retryAt   int64 // elapsed second of the next retry after a short extension; 0: none
	nextCkpt  int64 // elapsed second of the next checkpoint
	ended     bool
	usage     Usage
}

// Metered is the handle of a session on the Meter.
type Metered struct{ s *session }

// NewMeter starts a Meter: its wheel goroutine, ticking every second of
// clk, and its Funder workers. m must not be nil.
func NewMeter(cfg MeterConfig, f Funder, clk clock.Clock, m *metrics.Meter, opts ...MeterOption) (*Meter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if f == nil || clk == nil || m == nil {
		return nil, fmt.Errorf("rating: NewMeter: funder, clock and metrics are required")
	}
	cfg = cfg.withDefaults()
	mt := &Meter{cfg: cfg, funder: f, clk: clk, met: m, log: slog.New(slog.DiscardHandler),
		ahead: secs(cfg.ExtendAhead), retry: secs(cfg.ExtendRetry), slice: secs(cfg.ExtendSlice), ckpt: secs(cfg.CheckpointEvery),
		jobs: make(chan job, cfg.Queue)}
	for _, w := range cfg.Warnings {
		mt.warnSecs = append(mt.warnSecs, secs(w))
	}
	for _, o := range opts {
		o(mt)
	}
	mt.ctx, mt.cancel = context.WithCancel(context.Background())
	mt.base = clk.Now().Truncate(time.Second)
	for range cfg.Workers {
		mt.wg.Add(1)
		go mt.worker()
	}
	if !mt.manual {
		t := clk.NewTicker(time.Second)
		mt.wg.Add(1)
		go mt.run(t)
	}
	return mt, nil
}

func secs(d time.Duration) int64 { return int64(d / time.Second) }

// Close stops the wheel and the workers and waits for them. Sessions not
// yet stopped are no longer metered; their owners still Stop them. Funder
// jobs still queued are dropped: the owners commit final usage.
func (m *Meter) Close() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
	return nil
}

// Start meters a session from now (its answer). A priced session needs a
// reservation and a grant that pays for at least one increment.
func (m *Meter) Start(spec SessionSpec) (*Metered, error) {
	switch {
	case spec.ID == "":
		return nil, fmt.Errorf("%w: empty ID", ErrInvalidSession)
	case spec.MaxSeconds <= 0:
		return nil, fmt.Errorf("%w: MaxSeconds %d", ErrInvalidSession, spec.MaxSeconds)
	case !spec.Price.Free() && spec.ReservationID == "":
		return nil, fmt.Errorf("%w: priced session without reservation", ErrInvalidSession)
	}
	s := &session{m: m, id: spec.ID, resID: spec.ReservationID, price: spec.Price, maxSecs: spec.MaxSeconds,
		onEvent: spec.OnEvent, start: m.clk.Now(), granted: spec.Granted, nextCkpt: m.ckpt, prior: max(spec.PriorSeconds, 0)}
	s.grantSecs = min(spec.Price.Affordable(spec.Granted), spec.MaxSeconds)
	if s.grantSecs <= 0 {
		return nil, ErrInsufficientFunds
	}
	s.nextWarn = m.warnIndex(0, s.grantSecs)
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, ErrMeterClosed
	}
	m.pending = append(m.pending, s)
	m.mu.Unlock()
	m.met.Live.Inc()
	return &Metered{s: s}, nil
}

// Stop ends metering and returns the usage: whole seconds from Start to
// now, rounded DOWN (a started second is not billed: billing starts at
// answer and never charges for a second not used), and never more than the
// session's projected end, so teardown latency after the Meter ended a
// session is not billed. Stop is idempotent and safe concurrently with the
// Meter ending the session: the first end wins, later calls return its
// Usage.
func (h *Metered) Stop() Usage {
	s := h.s
	now := s.m.clk.Now()
	s.mu.Lock()
	first := !s.ended
	if first {
		s.ended = true
		s.usage = s.usageLocked(min(elapsed(s.start, now), s.grantSecs))
	}
	u := s.usage
	s.mu.Unlock()
	if first {
		s.m.met.Live.Dec()
	}
	return u
}

// TopUp tells the Meter a deposit landed: it tries to extend the
// reservation now rather than at the next retry.
func (h *Metered) TopUp() {
	s := h.s
	now := s.m.clk.Now()
	s.mu.Lock()
	j, ok := s.extendJobLocked(elapsed(s.start, now))
	s.mu.Unlock()
	if ok && !s.m.submit(j) {
		s.mu.Lock()
		s.extending = false
		s.mu.Unlock()
	}
}

func (s *session) usageLocked(sec int64) Usage {
	return Usage{Seconds: sec, Amount: s.price.Charge(sec), Price: s.price}
}

// extendJobLocked prepares an extension if the session can use one and
// none is in flight; it marks the session extending.
func (s *session) extendJobLocked(el int64) (job, bool) {
	if s.ended || s.extending || s.resID == "" || s.price.Free() || s.grantSecs >= s.maxSecs {
		return job{}, false
	}
	target := min(s.maxSecs, max(s.grantSecs, el)+s.m.slice)
	want := s.price.Charge(target) - s.granted
	if want <= 0 {
		return job{}, false
	}
	s.extending = true
	return job{kind: jobExtend, s: s, want: want, secs: el}, true
}

// elapsed returns whole seconds from start to now, rounded down.
func elapsed(start, now time.Time) int64 {
	d := now.Sub(start)
	if d <= 0 {
		return 0
	}
	return int64(d / time.Second)
}

// warnIndex returns the first warning still ahead for a session at el
// seconds whose end is at end.
func (m *Meter) warnIndex(el, end int64) int {
	i := 0
	for i < len(m.warnSecs) && end-m.warnSecs[i] <= el {
		i++
	}
	return i
}

func (m *Meter) submit(j job) bool {
	select {
	case m.jobs <- j:
		return true
	default:
		return false
	}
}

func (m *Meter) run(t clock.Ticker) {
	defer m.wg.Done()
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case now := <-t.C():
			_ = now // read the clock once per tick below; a fake tick may be stale
			m.advance(m.clk.Now())
			if m.tickHook != nil {
				m.tickHook()
			}
		}
	}
}

// advance processes every wheel tick up to now (catching up on ticks a
// busy wheel missed) and the sessions started since the last call.
func (m *Meter) advance(now time.Time) {
	target := int64(now.Sub(m.base) / time.Second)
	m.mu.Lock()
	pend := m.pending
	m.pending = nil
	m.mu.Unlock()
	for _, s := range pend {
		m.visit(s, now)
	}
	for m.tick < target {
		m.tick++
		m.processSlot(m.tick, now)
	}
	m.met.TickSeconds.Observe(clock.Since(m.clk, now).Seconds())
}

func (m *Meter) processSlot(tick int64, now time.Time) {
	i := tick & (wheelSize - 1)
	list := m.slots[i]
	m.slots[i] = m.spare[:0]
	for _, e := range list {
		if e.tick != tick {
			m.slots[i] = append(m.slots[i], e)
			continue
		}
		m.visit(e.s, now)
	}
	clear(list) // drop session pointers so ended sessions can be collected
	m.spare = list[:0]
}

func (m *Meter) schedule(s *session, tick int64) {
	if tick <= m.tick {
		tick = m.tick + 1
	}
	i := tick & (wheelSize - 1)
	m.slots[i] = append(m.slots[i], wheelEntry{s: s, tick: tick})
}

// visit does what is due for s at now and schedules its next visit. It
// runs on the wheel goroutine only.
func (m *Meter) visit(s *session, now time.Time) {
	el := elapsed(s.start, now)
	var (
		ev     Event
		fire   bool
		ext    job
		doExt  bool
		ck     job
		doCk   bool
		ckSkip bool
	)
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	end := s.grantSecs // ≤ maxSecs
	if el >= end {
		s.ended = true
		s.usage = s.usageLocked(end)
		reason := Exhausted
		if end >= s.maxSecs {
			reason = Limited
		}
		ev = Event{Kind: Ended, SessionID: s.id, Reason: reason, Usage: s.usage}
		s.mu.Unlock()
		m.met.Live.Dec()
		m.met.Ends.WithLabelValues(string(reason)).Inc()
		s.emit(ev)
		return
	}
	// Warnings: send the latest one due; earlier ones a jump skipped
	// would only confuse (a 2-minute warning with 50 s left).
	for s.nextWarn < len(m.warnSecs) && end-m.warnSecs[s.nextWarn] <= el {
		s.nextWarn++
		fire = true
	}
	if fire {
		ev = Event{Kind: Warning, SessionID: s.id, Remaining: time.Duration(end-el) * time.Second}
	}
	// Extension: ahead of the grant's end, or at the retry after a short one.
	if !s.extending && s.resID != "" && end < s.maxSecs {
		due := end - m.ahead
		if s.retryAt > 0 {
			due = s.retryAt
		}
		if el >= due {
			ext, doExt = s.extendJobLocked(el)
		}
	}
	if s.resID != "" && el >= s.nextCkpt {
		ck = job{kind: jobCheckpoint, s: s, secs: s.prior + el, used: s.price.Charge(s.prior + el)}
		doCk = true
	}
	s.mu.Unlock()

	if doExt && !m.submit(ext) {
		s.mu.Lock()
		s.extending = false
		s.mu.Unlock()
	}
	if doCk {
		if !m.submit(ck) {
			ckSkip = true
			m.met.Checkpoints.WithLabelValues("deferred").Inc()
		}
	}
	if fire {
		m.met.Warnings.Inc()
		s.emit(ev)
	}

	// Next visit: the earliest of end, next warning, extension, checkpoint.
	s.mu.Lock()
	if doCk && !ckSkip {
		s.nextCkpt = el + m.ckpt
	}
	end = s.grantSecs
	next := end
	if s.nextWarn < len(m.warnSecs) {
		next = min(next, end-m.warnSecs[s.nextWarn])
	}
	if s.resID != "" && end < s.maxSecs {
		switch {
		case s.extending:
			next = min(next, el+m.retry) // look again once the worker answers
		case s.retryAt > 0:
			next = min(next, s.retryAt)
		default:
			next = min(next, end-m.ahead)
		}
	}
	if s.resID != "" {
		next = min(next, s.nextCkpt)
	}
	s.mu.Unlock()
	if next <= el {
		next = el + 1
	}
	m.schedule(s, m.tickOf(s.start, next))
}

// tickOf returns the wheel tick at or after start + sec seconds.
func (m *Meter) tickOf(start time.Time, sec int64) int64 {
	d := start.Add(time.Duration(sec) * time.Second).Sub(m.base)
	t := int64(d / time.Second)
	if d%time.Second != 0 {
		t++
	}
	return t
}

func (s *session) emit(ev Event) {
	if s.onEvent != nil {
		s.onEvent(ev)
	}
}

func (m *Meter) worker() {
	defer m.wg.Done()
	for {
		select {
		case <-m.ctx.Done():
			return
		case j := <-m.jobs:
			switch j.kind {
			case jobExtend:
				m.extend(j)
			case jobCheckpoint:
				m.checkpoint(j)
			}
		}
	}
}

func (m *Meter) extend(j job) {
	s := j.s
	got, err := m.funder.Extend(m.ctx, s.resID, j.want)
	if got < 0 {
		got = 0
	}
	now := m.clk.Now()
	el := elapsed(s.start, now)
	result := "ok"
	switch {
	case err != nil && !errors.Is(err, ErrInsufficientFunds):
		result = "error"
	case got == 0:
		result = "refused"
	case got < j.want:
		result = "partial"
	}
	s.mu.Lock()
	s.extending = false
	if got > 0 {
		s.granted += got
		s.grantSecs = min(s.price.Affordable(s.granted), s.maxSecs)
		s.nextWarn = m.warnIndex(el, s.grantSecs)
	}
	if got < j.want {
		// The projected end stays where the grant puts it; keep trying
		// until then so that a deposit mid-session still extends it. The
		// cadence counts from when the try was issued, not from when a
		// busy worker got to it, so retries keep their rhythm.
		s.retryAt = j.secs + m.retry
	} else {
		s.retryAt = 0
	}
	ended := s.ended
	ev := Event{Kind: Extended, SessionID: s.id, Granted: s.granted, Remaining: time.Duration(s.grantSecs-el) * time.Second}
	s.mu.Unlock()
	m.met.Extensions.WithLabelValues(result).Inc()
	if result == "error" {
		m.log.Warn("extend failed", "session_id", s.id, "reservation_id", s.resID, "err", err)
	}
	if got > 0 && !ended {
		s.emit(ev)
	}
}

func (m *Meter) checkpoint(j job) {
	j.s.mu.Lock()
	ended := j.s.ended
	j.s.mu.Unlock()
	if ended {
		return // the owner commits final usage; a late checkpoint would race it
	}
	err := m.funder.Checkpoint(m.ctx, j.s.resID, j.secs, j.used)
	if err != nil {
		m.met.Checkpoints.WithLabelValues("error").Inc()
		m.log.Warn("checkpoint failed", "session_id", j.s.id, "reservation_id", j.s.resID, "err", err)
		return
	}
	m.met.Checkpoints.WithLabelValues("ok").Inc()
}
