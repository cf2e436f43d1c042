package ledger

import (
	"context"
	"errors"
	"fmt"

	"ipcs/internal/money"
)

const (
	qExpired = `SELECT id FROM ledger_reservations WHERE status = 'open' AND expires_us <= ? ORDER BY expires_us LIMIT ?`
	// qOwned walks the open reservations (the partial index on
	// expires_us; open ones are few) and keeps this node's.
	qOwned = `SELECT id FROM ledger_reservations WHERE status = 'open' AND node = ? ORDER BY expires_us LIMIT ?`
	// qClaimSettle closes a stale reservation, charging the last
	// checkpointed usage capped at the hold. It is conditional on the
	// reservation still being open and stale, so settling twice, or
	// settling while its node commits it, moves money once.
	qClaimSettle = `UPDATE ledger_reservations SET status = 'settled',
	charged = CASE WHEN used_amount < held THEN used_amount ELSE held END, closed_us = ?
WHERE id = ? AND status = 'open' AND (expires_us <= ? OR node = ?)
RETURNING account_id, session_id, held, charged, used_seconds`
)

// noNode matches no reservation's node (node ids are validated).
const noNode = "\x01"

// settleBatch bounds how many reservations one pass reads.
const settleBatch = 200

// SettleStale settles every open reservation whose expiry has passed (its
// node stopped checkpointing and extending it): the last checkpointed
// usage is charged, the rest released, and a CDR with cause "settled" is
// stored if the session has none. Each settlement is its own journaled,
// conditional transaction, so running it on several nodes at once, or
// again, settles each reservation once. It returns how many it settled.
func (l *Ledger) SettleStale(ctx context.Context) (int, error) {
	return l.settle(ctx, qExpired, micros(l.clk.Now()), noNode)
}

// Recover is what a node runs at start-up before it serves: it settles
// the open reservations this node (Config.NodeID) made before it
// stopped, whose sessions died with it, and every expired one.
func (l *Ledger) Recover(ctx context.Context) (int, error) {
	n := 0
	if l.cfg.NodeID != "" {
		var err error
		if n, err = l.settle(ctx, qOwned, l.cfg.NodeID, l.cfg.NodeID); err != nil {
			return n, err
		}
	}
	m, err := l.SettleStale(ctx)
	return n + m, err
}

func (l *Ledger) settle(ctx context.Context, list string, arg any, node string) (int, error) {
	total := 0
	for {
		var ids []string
		err := l.store.View(ctx, func(ctx context.Context, tx Tx) error {
			ids = ids[:0]
			rows, err := tx.Query(ctx, list, arg, int64(settleBatch))
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					return err
				}
				ids = append(ids, id)
			}
			return rows.Err()
		})
		if err != nil {
			return total, fmt.Errorf("ledger: list stale reservations: %w", err)
		}
		n := 0
		for _, id := range ids {
			ok, err := l.settleOne(ctx, id, node)
			if err != nil {
				return total, err
			}
			if ok {
				n++
			}
		}
		total += n
		if len(ids) < settleBatch || n == 0 {
			return total, nil
		}
	}
}

func (l *Ledger) settleOne(ctx context.Context, id, node string) (bool, error) {
	now := l.now()
	settled := false
	err := l.update(ctx, kindSettle, nil, func(ctx context.Context, tx Tx) error {
		settled = false
		var (
			account, session           string
			held, charged, usedSeconds int64
		)
		err := tx.QueryRow(ctx, qClaimSettle, micros(now), id, micros(now), node).
			Scan(&account, &session, &held, &charged, &usedSeconds)
		if errors.Is(err, ErrNoRow) {
			return nil // settled, committed or extended meanwhile
		}
		if err != nil {
			return fmt.Errorf("ledger: settle: %w", err)
		}
		released := held - charged
		if _, err := tx.Exec(ctx, qUnhold, released, held, account); err != nil {
			return fmt.Errorf("ledger: settle: %w", err)
		}
		key := "settle:" + id
		if err := post(ctx, tx,
			line{key: key, kind: kindSettle, account: account, reservation: id, from: accHold, to: accRevenue, amount: money.Amount(charged), at: now},
			line{key: key, kind: kindSettle, account: account, reservation: id, from: accHold, to: accDebit, amount: money.Amount(released), at: now},
		); err != nil {
			return err
		}
		settled = true
		if session == "" {
			return nil
		}
		// The CDR names the account's facility, as the session's own
		// would, so a facility's CDR list shows what settling charged.
		var facility string
		if err := tx.QueryRow(ctx, qAccountFacility, account).Scan(&facility); err != nil {
			return fmt.Errorf("ledger: settle: facility: %w", err)
		}
		return insertCDR(ctx, tx, &CDR{SessionID: session, ReservationID: id, AccountID: account, Facility: facility, Ended: now,
			BilledSeconds: usedSeconds, Amount: money.Amount(charged), Cause: "settled"}, now)
	})
	if settled {
		l.holds.forget(id)
	}
	if err == nil && settled && l.m != nil {
		l.m.Settled.Inc()
	}
	if settled {
		l.log.Info("ledger: settled stale reservation", "reservation_id", id)
	}
	return settled, err
}

// Run settles expired reservations every Config.SettleEvery until ctx
// ends; the daemon runs it under its own lifetime. Failures are logged
// and retried on the next tick.
func (l *Ledger) Run(ctx context.Context) error {
	t := l.clk.NewTicker(l.cfg.SettleEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
			if _, err := l.SettleStale(ctx); err != nil && ctx.Err() == nil {
				l.log.Warn("ledger: settle stale reservations", "err", err)
			}
		}
	}
}

const qAccountFacility = `SELECT facility FROM ledger_accounts WHERE id = ?`

const qOpenOfAccount = `SELECT id, session_id, held, expires_us FROM ledger_reservations WHERE status = 'open' AND account_id = ? ORDER BY expires_us LIMIT ?`

// OpenReservations returns the account's open reservations (live
// sessions, and holds a crash left for SettleStale), Granted being what
// each holds now. A caller that credits a session checks with it that
// the session is settled: an open hold may still be charged.
func (l *Ledger) OpenReservations(ctx context.Context, accountID string) ([]Reservation, error) {
	if !validID(accountID) {
		return nil, fmt.Errorf("%w: open reservations", ErrInvalid)
	}
	var out []Reservation
	err := l.store.View(ctx, func(ctx context.Context, tx Tx) error {
		out = out[:0]
		rows, err := tx.Query(ctx, qOpenOfAccount, accountID, int64(settleBatch))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				r         = Reservation{AccountID: accountID}
				held, exp int64
			)
			if err := rows.Scan(&r.ID, &r.SessionID, &held, &exp); err != nil {
				return err
			}
			r.Granted, r.Expires = money.Amount(held), fromMicros(exp)
			out = append(out, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("ledger: open reservations: %w", err)
	}
	return out, nil
}
