package ledger

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"ipcs/internal/clock"
)

// retryBackoff is the wait before each further attempt of Retry: five
// attempts over about 1.75 s. Each wait is drawn from its upper half, so
// that callers refused by one full queue do not all come back at once.
var retryBackoff = [...]time.Duration{
	50 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond, time.Second,
}

// RetryAttempts is how many times Retry runs op at most.
const RetryAttempts = 1 + len(retryBackoff)

// finalErrors are the failures another attempt cannot mend: the request
// is invalid, the reservation is closed or unknown, the amount conflicts
// with an earlier result or is above the hold, the account or the ledger
// is closed, or the caller's time is over.
var finalErrors = [...]error{
	ErrInvalid, ErrNotFound, ErrReservationClosed,
	ErrIdempotencyConflict, ErrOverHold, ErrClosed,
	ErrAccountReleased, ErrInsufficientFunds,
	context.Canceled, context.DeadlineExceeded,
}

// Temporary reports whether a failed ledger call may succeed if made
// again: an overloaded ledger (ErrOverload, "retry later"), a race it did
// not retry itself (ErrRetry), or a store failure it does not name. The
// sentinels of a refusal are final.
func Temporary(err error) bool {
	for _, final := range finalErrors {
		if errors.Is(err, final) {
			return false
		}
	}
	return true
}

// Retry runs op, an idempotent ledger call (a keyed movement, Reserve,
// Checkpoint, Commit, Release, RecordCDR), until it succeeds, fails for
// good (Temporary), ctx ends or retryBackoff runs out, and returns its
// last error. The switch and the visits settle through it: without it,
// a full ledger queue would leave a session's hold frozen until
// SettleStale.
//
// The waits are real time even under a fake clock: they wait for the
// ledger's queue to drain, which its writer does in real time, not for
// business time; a test's fake clock, which moves only when the test
// advances it, would hold the caller for as long as the ledger fails.
// ctx bounds the whole.
func Retry(ctx context.Context, op func(context.Context) error) error {
	err := op(ctx)
	for _, d := range retryBackoff {
		if err == nil || !Temporary(err) || ctx.Err() != nil {
			return err
		}
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
