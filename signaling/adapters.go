package signaling

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"ipcs/internal/clock"
	"ipcs/internal/money"
	"ipcs/ledger"
	"ipcs/rating"
	"ipcs/scheduler"
)

// Scheduler is what SchedulerVisits needs; *scheduler.Scheduler has it.
type Scheduler interface {
	Visit(ctx context.Context, id string) (scheduler.Visit, error)
	SetStatus(ctx context.Context, id string, to scheduler.Status) (scheduler.Visit, error)
}

// SchedulerVisits adapts the scheduler to Visits and VisitTracker.
func SchedulerVisits(s Scheduler) Visits { return schedVisits{s} }

type schedVisits struct{ s Scheduler }

func (a schedVisits) Visit(ctx context.Context, id string) (Visit, error) {
	v, err := a.s.Visit(ctx, id)
	if errors.Is(err, scheduler.ErrNotFound) {
		return Visit{}, fmt.Errorf("%w: %w", ErrUnknownVisit, err)
	}
	if err != nil {
		return Visit{}, err
	}
	return Visit{
		ID: v.ID, Facility: v.Facility, ResidentID: v.ResidentID, Kind: string(v.Kind),
		Start: v.Start, End: v.End, Privileged: v.Privileged, Cancelled: !v.Status.Open(),
	}, nil
}

func (a schedVisits) Started(ctx context.Context, id string) error {
	_, err := a.s.SetStatus(ctx, id, scheduler.StatusStarted)
	return err
}

func (a schedVisits) Ended(ctx context.Context, id string, connected bool) error {
	to := scheduler.StatusEnded
	if !connected {
		to = scheduler.StatusFailed // never connected on both sides: gives the quota back
	}
	_, err := a.s.SetStatus(ctx, id, to)
	if errors.Is(err, scheduler.ErrVisitClosed) {
		return nil // cancelled by the facility while live: that status stays
	}
	return err
}

// VisitTracker is optionally implemented by a Visits to follow a visit's
// status: Started when both sides first connect, Ended once at its end
// (connected false when both sides never connected). Called from the
// visit's goroutine.
type VisitTracker interface {
	Started(ctx context.Context, id string) error
	Ended(ctx context.Context, id string, connected bool) error
}

// Quoter prices a session; *rating.Book has it.
type Quoter interface {
	Quote(req *rating.QuoteRequest) (rating.Quote, error)
}

// MeterStarter meters sessions; *rating.Meter has it.
type MeterStarter interface {
	Start(spec rating.SessionSpec) (*rating.Metered, error)
}

// Accounts is the part of the ledger a visit uses; *ledger.Ledger has it.
type Accounts interface {
	Balance(ctx context.Context, accountID string) (ledger.Balance, error)
	Reserve(ctx context.Context, req ledger.ReserveRequest) (ledger.Reservation, error)
	Checkpoint(ctx context.Context, reservationID string, usedSeconds int64, used money.Amount) error
	Commit(ctx context.Context, req ledger.CommitRequest) (ledger.CommitReceipt, error)
	RecordCDR(ctx context.Context, c ledger.CDR) error
}

// RatingBiller is the Biller of the daemon: it quotes visits at the video
// tariff (rating.Book), reserves on the resident's debit account
// (ledger.Ledger), meters connected time on the rating.Meter and commits
// the total with the CDR.
//
// Its ledger calls (Reserve by key, Checkpoint, Commit once per
// reservation, RecordCDR) are idempotent and made through ledger.Retry,
// so a full ledger queue (ledger.ErrOverload) costs a short wait, not the
// visit's charge.
type RatingBiller struct {
	q   Quoter
	m   MeterStarter
	a   Accounts
	clk clock.Clock
}

// NewRatingBiller returns a RatingBiller; clk must be the Meter's clock.
func NewRatingBiller(q Quoter, m MeterStarter, a Accounts, clk clock.Clock) *RatingBiller {
	return &RatingBiller{q: q, m: m, a: a, clk: clk}
}

// openingID names one opening of a visit: the visit id and a random
// suffix. A visit opens again after a restart (people rejoin inside the
// slot once the ledger settled the first opening's hold); each opening
// has its own reservation key, so it never replays the settled one, and
// its own CDR (ledger_cdrs.session_id is unique). SessionOf maps it back.
func openingID(visitID string) string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return visitID + openingSep + hex.EncodeToString(b[:])
}

// openingSep separates a visit id from its opening's suffix in reservation
// and CDR session ids.
const openingSep = "#"

// SessionOf returns the visit id of a visit reservation's or CDR's session
// id (the id itself when it names no opening).
func SessionOf(sessionID string) string {
	if i := strings.LastIndex(sessionID, openingSep); i > 0 {
		return sessionID[:i]
	}
	return sessionID
}

// Open quotes v at now and reserves its first slice; in-facility and
// privileged visits and zero tariffs reserve nothing.
func (b *RatingBiller) Open(ctx context.Context, v Visit, now time.Time) (Bill, error) {
	req := rating.QuoteRequest{
		Facility: v.Facility, Service: rating.Video, VisitKind: rating.VisitKind(v.Kind),
		Privileged: v.Privileged, Start: now, End: v.End,
	}
	metered := v.Kind != KindInFacility && !v.Privileged
	if metered {
		bal, err := b.a.Balance(ctx, v.ResidentID)
		if err != nil {
			return nil, err
		}
		req.Balance = bal.Available
	}
	q, err := b.q.Quote(&req)
	if errors.Is(err, rating.ErrInsufficientFunds) {
		return nil, fmt.Errorf("%w: %w", ErrInsufficientFunds, err)
	}
	if err != nil {
		return nil, err
	}
	bill := &ratingBill{b: b, v: v, session: openingID(v.ID), price: q.Price, free: q.Free || q.Price.Free()}
	if bill.free {
		return bill, nil
	}
	min := q.Price.Charge(q.Price.First)
	if min <= 0 {
		min = 1
	}
	rreq := ledger.ReserveRequest{
		Key: "reserve:visit:" + bill.session, AccountID: v.ResidentID, SessionID: bill.session, Want: q.Reserve, Min: min,
	}
	var r ledger.Reservation
	err = ledger.Retry(ctx, func(ctx context.Context) (err error) {
		r, err = b.a.Reserve(ctx, rreq)
		return err
	})
	if errors.Is(err, ledger.ErrInsufficientFunds) {
		return nil, fmt.Errorf("%w: %w", ErrInsufficientFunds, err)
	}
	if err != nil {
		return nil, err
	}
	if r.Replayed {
		// A retry whose first answer was lost: the hold is ours, unless it
		// was closed meanwhile; a closed hold's grant must not be metered.
		if err := b.a.Checkpoint(ctx, r.ID, 0, 0); err != nil {
			if errors.Is(err, ledger.ErrReservationClosed) {
				return nil, fmt.Errorf("%w: %w", ErrHoldLost, err)
			}
			return nil, err
		}
	}
	bill.reservation, bill.reserved = r.ID, r.Granted
	// The hold expires HoldTTL after each checkpoint; keep it alive at a
	// quarter of that, as the Meter does (CheckpointEvery 30 s for 2 min),
	// so one failed checkpoint does not lose it.
	bill.keepEvery = max(r.Expires.Sub(b.clk.Now())/4, time.Second)
	return bill, nil
}

// ratingBill meters a visit in segments, one rating.Metered per stretch of
// time both sides are connected, and prices their total once at Close.
type ratingBill struct {
	b           *RatingBiller
	v           Visit
	session     string // this opening's session id (openingID)
	price       rating.Price
	free        bool
	reservation string
	keepEvery   time.Duration

	// mu guards the fields below: the Meter's callback updates reserved.
	mu       sync.Mutex
	reserved money.Amount // total held on the reservation
	used     int64        // seconds of the finished segments
	seg      int
	cur      *rating.Metered
	segUsed  money.Amount // charge of the finished segments (for the grant)
	segEnd   time.Time    // the current segment's time bound (the slot end)
}

// KeepAliveEvery is a quarter of the reservation's TTL; 0 for a free bill.
func (r *ratingBill) KeepAliveEvery() time.Duration {
	if r.free {
		return 0
	}
	return r.keepEvery
}

// KeepAlive checkpoints the finished segments' usage (priced once, as
// Close prices it) while no segment is metered, which also pushes the
// hold's expiry out by its TTL.
func (r *ratingBill) KeepAlive(ctx context.Context) error {
	r.mu.Lock()
	metered, seconds := r.cur != nil, r.used
	r.mu.Unlock()
	if r.free || metered {
		return nil
	}
	err := ledger.Retry(ctx, func(ctx context.Context) error {
		return r.b.a.Checkpoint(ctx, r.reservation, seconds, r.price.Charge(seconds))
	})
	if errors.Is(err, ledger.ErrReservationClosed) {
		return fmt.Errorf("%w: %w", ErrHoldLost, err)
	}
	return err
}
func (r *ratingBill) Resume(maxSeconds int64, onEvent func(BillEvent)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur != nil {
		return nil
	}
	r.seg++
	r.segUsed = r.price.Charge(r.used)
	granted := r.reserved - r.segUsed
	if r.free {
		granted = 0
	}
	r.segEnd = r.b.clk.Now().Add(time.Duration(maxSeconds) * time.Second)
	segEnd, base := r.segEnd, r.segUsed
	spec := rating.SessionSpec{
		ID: fmt.Sprintf("visit:%s#%d", r.v.ID, r.seg), Price: r.price, Granted: granted, MaxSeconds: maxSeconds,
		// The Meter's checkpoints then count the finished segments too,
		// so a crash during this one settles the whole visit so far.
		PriorSeconds: r.used,
		OnEvent: func(e rating.Event) {
			switch e.Kind {
			case rating.Extended:
				r.mu.Lock()
				r.reserved = base + e.Granted
				r.mu.Unlock()
			case rating.Warning:
				// The visit warns for its slot's end itself; relay only the
				// warnings where money, not the slot, ends the visit.
				if r.b.clk.Now().Add(e.Remaining).Before(segEnd.Add(-time.Second)) {
					onEvent(BillEvent{Kind: BillWarning, Remaining: e.Remaining})
				}
			case rating.Ended:
				if e.Reason == rating.Exhausted {
					onEvent(BillEvent{Kind: BillExhausted})
				}
			}
		},
	}
	if !r.free {
		spec.ReservationID = r.reservation
	}
	m, err := r.b.m.Start(spec)
	if err != nil {
		return err
	}
	r.cur = m
	return nil
}

func (r *ratingBill) Pause() {
	r.mu.Lock()
	m := r.cur
	r.cur = nil
	r.mu.Unlock()
	if m == nil {
		return
	}
	u := m.Stop()
	r.mu.Lock()
	r.used += u.Seconds
	r.mu.Unlock()
}

// TopUp asks the Meter to extend the current segment's reservation now
// (a deposit landed); without a metered segment it does nothing.
func (r *ratingBill) TopUp() {
	r.mu.Lock()
	m := r.cur
	r.mu.Unlock()
	if m != nil {
		m.TopUp()
	}
}

// Close prices the connected seconds once (the tariff's increment rule,
// Price.Charge) and commits them with the CDR, releasing the rest; a free
// visit only stores its CDR. A commit that fails for good leaves the
// reservation open with every segment's usage checkpointed, so the
// ledger's settlement charges what was used; the error says the visit is
// not settled.
func (r *ratingBill) Close(ctx context.Context, c CDR) (Charge, error) {
	r.Pause()
	r.mu.Lock()
	seconds := r.used
	r.mu.Unlock()
	amount := r.price.Charge(seconds)
	if r.free {
		amount = 0
	}
	lc := ledger.CDR{
		SessionID: r.session, Service: string(rating.Video), Facility: c.Facility, AccountID: c.ResidentID,
		Destination: c.Kind, Class: r.price.Class, Started: c.Opened, Answered: c.Connected, Ended: c.Ended,
		BilledSeconds: r.price.Billed(seconds), Amount: amount, TariffID: r.price.TariffID,
		TariffVersion: int64(r.price.Version), Rate: r.price.Rate, IncrementFirst: r.price.First,
		IncrementNext: r.price.Every, Cause: c.Reason, RecordingPath: c.RecordingPath, Privileged: c.Privileged,
	}
	ch := Charge{Seconds: seconds, Amount: amount, Free: r.free}
	if r.free {
		lc.BilledSeconds = seconds
		return ch, ledger.Retry(ctx, func(ctx context.Context) error { return r.b.a.RecordCDR(ctx, lc) })
	}
	err := ledger.Retry(ctx, func(ctx context.Context) error {
		_, err := r.b.a.Commit(ctx, ledger.CommitRequest{ReservationID: r.reservation, Amount: amount, UsedSeconds: seconds, CDR: &lc})
		return err
	})
	if err == nil {
		return ch, nil
	}
	if errors.Is(err, ledger.ErrReservationClosed) {
		return ch, fmt.Errorf("%w: %w", ErrHoldLost, err)
	}
	// Best effort: the Meter's last checkpoint counted one segment only.
	if cerr := r.b.a.Checkpoint(ctx, r.reservation, seconds, amount); cerr != nil {
		err = fmt.Errorf("%w (checkpoint: %w)", err, cerr)
	}
	return ch, err
}
