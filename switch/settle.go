package callswitch

import (
	"context"

	"ipcs/ledger"
	"ipcs/rating"
)

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
// ledger's queue is full, is made again (ledger.Retry). Without that, the
// hold would stay frozen until the ledger's SettleStale, which charges
// only the last checkpoint and writes a bare "settled" CDR. A failure that
// remains is logged at Error (the ledger counts each failed attempt in
// ipcs_ledger_ops_total) and left to that recovery.
func (c *call) settle(cdr ledger.CDR, usage rating.Usage) {
	s := c.s
	ctx, cancel := s.timeoutCtx(context.WithoutCancel(c.ctx), s.cfg.ByeTimeout)
	defer cancel()
	var err error
	switch {
	case c.res.ID != "" && !c.answered.IsZero():
		req := ledger.CommitRequest{ReservationID: c.res.ID, Amount: usage.Amount, UsedSeconds: usage.Seconds, CDR: &cdr}
		err = ledger.Retry(ctx, func(ctx context.Context) error {
			_, err := s.accounts.Commit(ctx, req)
			return err
		})
	case c.res.ID != "":
		err = ledger.Retry(ctx, func(ctx context.Context) error { return s.accounts.Release(ctx, c.res.ID) })
		if err == nil {
			err = ledger.Retry(ctx, func(ctx context.Context) error { return s.accounts.RecordCDR(ctx, cdr) })
		}
	default:
		err = ledger.Retry(ctx, func(ctx context.Context) error { return s.accounts.RecordCDR(ctx, cdr) })
	}
	if err != nil {
		c.log.Error("settling the call failed", "reservation_id", c.res.ID, "error", err)
	}
}
