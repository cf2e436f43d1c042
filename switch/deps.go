package callswitch

import (
	"context"
	"log/slog"

	"ipcs/internal/clock"
	"ipcs/ledger"
	"ipcs/rating"
)

// Rater prices a call and bounds its length. *rating.Book satisfies it.
// Quote returns rating.ErrInsufficientFunds when the balance cannot pay
// one billing increment (the switch answers 402).
type Rater interface {
	Quote(req *rating.QuoteRequest) (rating.Quote, error)
}

// Accounts is what a call needs from the debit ledger. *ledger.Ledger
// satisfies it. Reserve holds the first slice before the trunk leg is
// placed; Commit (answered calls, with the CDR) or Release plus RecordCDR
// (unanswered calls cost nothing) settle it exactly once, in end.
type Accounts interface {
	Balance(ctx context.Context, accountID string) (ledger.Balance, error)
	Reserve(ctx context.Context, req ledger.ReserveRequest) (ledger.Reservation, error)
	Commit(ctx context.Context, req ledger.CommitRequest) (ledger.CommitReceipt, error)
	Release(ctx context.Context, reservationID string) error
	RecordCDR(ctx context.Context, c ledger.CDR) error
}

// Meter meters answered calls on its timing wheel, extends their
// reservations, warns before the end and ends them. *rating.Meter
// satisfies it. OnEvent callbacks must not block; the switch only hands
// each event to the call's goroutine.
type Meter interface {
	Start(spec rating.SessionSpec) (*rating.Metered, error)
}

// Option sets an optional seam of the Switch.
type Option func(*options)

type options struct {
	clk clock.Clock
	log *slog.Logger
}

// WithClock sets the clock (default clock.Real). Tests pass a clock.Fake
// shared with the Meter and the ledger.
func WithClock(c clock.Clock) Option { return func(o *options) { o.clk = c } }

// WithLogger sets the logger (default: discard). The switch scopes it
// with component=callswitch.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }
