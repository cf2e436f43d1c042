package signaling

import (
	"context"
	"time"

	"ipcs/internal/money"
)

// Biller opens the account side of a visit: quote at the video tariff and
// reserve the first slice (remote, direct-dial), or nothing (in-facility,
// privileged or zero tariff). The daemon passes a RatingBiller built on
// rating.Book, rating.Meter and ledger.Ledger.
//
// Open returns an error wrapping ErrInsufficientFunds when the balance
// cannot pay one billing increment.
type Biller interface {
	Open(ctx context.Context, v Visit, now time.Time) (Bill, error)
}

// Bill is one visit's metering and settlement. The session calls it from
// its own goroutine only; onEvent is called from the Meter and must not
// block.
//
// Metering runs only while both sides are connected (the resident and at
// least one visitor with ICE connected): Resume when that becomes true,
// Pause when it stops being true. The connected segments add up; Close
// prices their total once, commits it with the CDR and releases the rest.
type Bill interface {
	// Resume starts metering a segment that may last at most maxSeconds.
	Resume(maxSeconds int64, onEvent func(BillEvent)) error
	// Pause stops the current segment, if any; idempotent.
	Pause()
	// Close pauses, settles and writes the visit's CDR; called exactly
	// once. An error means the visit is not settled: its reservation may
	// still be open (the ledger settles it later from the last
	// checkpoint).
	Close(ctx context.Context, cdr CDR) (Charge, error)
}

// TopUpper is optionally implemented by a Bill whose reservation can grow
// when the account is funded during the visit (Hub.TopUp). TopUp is
// called from the visit's goroutine while a segment is metered and must
// not block.
type TopUpper interface {
	TopUp()
}

// HoldKeeper is optionally implemented by a Bill whose reservation
// expires unless it is kept alive (the ledger's HoldTTL; docs/LEDGER.md,
// crash safety). The Meter keeps it alive while a segment is metered; the
// rest of the time (a resident waiting for a late visitor, one side
// dropped) the session calls KeepAlive from its goroutine every
// KeepAliveEvery, when a segment stops, and before one starts.
type HoldKeeper interface {
	// KeepAliveEvery is how often KeepAlive must run; 0 means never.
	KeepAliveEvery() time.Duration
	// KeepAlive records the usage of every finished segment on the
	// reservation (so a settlement after a crash charges all of it) and
	// pushes its expiry out. It does nothing while a segment is metered.
	// It returns an error wrapping ErrHoldLost when the reservation was
	// closed meanwhile: the visit can no longer be billed and must end.
	KeepAlive(ctx context.Context) error
}

// BillEventKind says what a BillEvent reports.
type BillEventKind int

// Bill events.
const (
	// BillWarning: money runs out in Remaining.
	BillWarning BillEventKind = iota + 1
	// BillExhausted: money ran out; the visit must end now.
	BillExhausted
)

// BillEvent is a Meter event relayed to the visit.
type BillEvent struct {
	Kind      BillEventKind
	Remaining time.Duration
}

// CDR is what signaling knows about a finished visit; the Bill adds the
// price, tariff and amount and stores it as a ledger.CDR.
type CDR struct {
	VisitID       string
	Facility      string
	ResidentID    string
	Kind          string
	Privileged    bool
	Opened        time.Time // first participant admitted
	Connected     time.Time // first time both sides were connected (zero: never)
	Ended         time.Time
	Seconds       int64  // connected-on-both-sides seconds (what is billed)
	Reason        string // Reason* constant
	RecordingPath string // folder of the visit's recordings ("" when not recorded)
}

// Charge is what a Bill settled.
type Charge struct {
	Seconds int64        // billed seconds
	Amount  money.Amount // committed amount (0 when free)
	Free    bool
}

// FreeBiller bills nothing and only records CDRs through record (may be
// nil). It suits deployments where every visit is free.
type FreeBiller struct {
	Record func(ctx context.Context, cdr CDR) error
}

// Open returns a free Bill.
func (f FreeBiller) Open(context.Context, Visit, time.Time) (Bill, error) {
	return &freeBill{record: f.Record}, nil
}

type freeBill struct {
	record func(ctx context.Context, cdr CDR) error
}

func (*freeBill) Resume(int64, func(BillEvent)) error { return nil }
func (*freeBill) Pause()                              {}
func (b *freeBill) Close(ctx context.Context, cdr CDR) (Charge, error) {
	if b.record != nil {
		if err := b.record(ctx, cdr); err != nil {
			return Charge{Seconds: cdr.Seconds, Free: true}, err
		}
	}
	return Charge{Seconds: cdr.Seconds, Free: true}, nil
}
