package callswitch

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"ipcs/internal/clock"
	"ipcs/ledger"
	"ipcs/rating"
)

// settleBackoff is the wait before each further attempt of a settling
// ledger call that failed for a reason that may pass (retryable): five
// attempts over about 1.75 s, inside ByeTimeout's default 5 s, which
// bounds them all. Each wait is drawn from its upper half, so that calls
// refused by one full ledger queue do not all come back at once.
var settleBackoff = [...]time.Duration{
	50 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond, time.Second,
}

// settle closes the reservation exactly once and stores the CDR: Commit
// with the CDR for answered calls, Release then RecordCDR for unanswered
// ones (they cost nothing), RecordCDR alone for calls without a
// reservation. It runs inside end, which holds the call's place in the
// switch's calls WaitGroup, so Close waits for it; and it runs even while
// the switch closes (the money must be right), bounded by ByeTimeout.
//
// Each of those ledger calls is idempotent (a replayed Commit returns the
// first receipt, a second Release or RecordCDR does nothing), so one that
// fails for a reason that may pass, such as ledger.ErrOverload when the
// ledger's queue is full, is made again (retry). Without that, the hold
// would stay frozen until the ledger's SettleStale, which charges only the
// last checkpoint and writes a bare "settled" CDR. A failure that remains
// is logged at Error (the ledger counts each failed attempt in
// ipcs_ledger_ops_total) and left to that recovery.
func (c *call) settle(cdr ledger.CDR, usage rating.Usage) {
	s := c.s
	ctx, cancel := s.timeoutCtx(context.WithoutCancel(c.ctx), s.cfg.ByeTimeout)
	defer cancel()
	var err error
	switch {
	case c.res.ID != "" && !c.answered.IsZero():
		req := ledger.CommitRequest{ReservationID: c.res.ID, Amount: usage.Amount, UsedSeconds: usage.Seconds, CDR: &cdr}
		err = c.retry(ctx, "commit", func(ctx context.Context) error {
			_, err := s.accounts.Commit(ctx, req)
			return err
		})
	case c.res.ID != "":
		err = c.retry(ctx, "release", func(ctx context.Context) error { return s.accounts.Release(ctx, c.res.ID) })
		if err == nil {
			err = c.retry(ctx, "record_cdr", func(ctx context.Context) error { return s.accounts.RecordCDR(ctx, cdr) })
		}
	default:
		err = c.retry(ctx, "record_cdr", func(ctx context.Context) error { return s.accounts.RecordCDR(ctx, cdr) })
	}
	if err != nil {
		c.log.Error("settling the call failed", "reservation_id", c.res.ID, "error", err)
	}
}

// retry runs op until it succeeds, fails for good (retryable), ctx ends
// or settleBackoff runs out, and returns its last error.
//
// The waits are real time even under a fake clock (clock.Real, as
// Close's lateRequestGrace): they wait for the ledger's queue to drain,
// which the ledger's writer does in real time, not for business time. A
// test's fake clock, which only moves when the test advances it, would
// otherwise hold the call's end, and so Close, for as long as the ledger
// fails. ctx (ByeTimeout on the switch's clock) still bounds the whole.
func (c *call) retry(ctx context.Context, what string, op func(context.Context) error) error {
	err := op(ctx)
	for i, d := range settleBackoff {
		if err == nil || !retryable(err) || ctx.Err() != nil {
			return err
		}
		c.log.Debug("ledger call failed, retrying", "op", what, "attempt", i+1, "error", err)
		t := clock.Real{}.NewTimer(d/2 + rand.N(d/2))
		select {
		case <-t.C():
		case <-ctx.Done():
			t.Stop()
			return err
		}
		err = op(ctx)
	}
	return err
}

// retryable reports whether a failed ledger call may succeed if made
// again: an overloaded ledger (ErrOverload, "retry later"), a race the
// ledger did not retry itself (ErrRetry), or a store failure it does not
// name. The errors in finalLedgerErrors are not.
func retryable(err error) bool {
	for _, final := range finalLedgerErrors {
		if errors.Is(err, final) {
			return false
		}
	}
	return true
}

// finalLedgerErrors are the failures of a settling ledger call that
// another attempt cannot mend: the request is invalid, the reservation is
// closed or unknown, the amount conflicts with an earlier commit or is
// above the hold, the account or the ledger is closed, or the call's
// settling time is over.
var finalLedgerErrors = [...]error{
	ledger.ErrInvalid, ledger.ErrNotFound, ledger.ErrReservationClosed,
	ledger.ErrIdempotencyConflict, ledger.ErrOverHold, ledger.ErrClosed,
	ledger.ErrAccountReleased, ledger.ErrInsufficientFunds,
	context.Canceled, context.DeadlineExceeded,
}
