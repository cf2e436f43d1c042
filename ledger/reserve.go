package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"ipcs/internal/money"
)

const (
	qInsertReservation = `INSERT INTO ledger_reservations (id, account_id, session_id, node, status, held, charged, used_seconds, used_amount, extensions, ttl_us, expires_us, created_us, closed_us)
VALUES (?, ?, ?, ?, 'open', ?, 0, 0, 0, 0, ?, ?, ?, 0)`
	qReservation = `SELECT account_id, status, held, charged, closed_us FROM ledger_reservations WHERE id = ?`
	qClaimCommit = `UPDATE ledger_reservations SET status = 'committed', charged = ?, used_seconds = ?, used_amount = ?, closed_us = ? WHERE id = ? AND status = 'open' AND held >= ? RETURNING account_id, held`
	// qClaimHint is qClaimCommit when the Ledger knows the reservation's
	// account and hold (hint.go): the same conditional UPDATE, on the
	// condition that the hold and account are still the hint (and the
	// caller checked ?1 <= ?5), so it needs no RETURNING.
	qClaimHint    = `UPDATE ledger_reservations SET status = 'committed', charged = ?1, used_seconds = ?2, used_amount = ?1, closed_us = ?3 WHERE id = ?4 AND status = 'open' AND held = ?5 AND account_id = ?6`
	qClaimRelease = `UPDATE ledger_reservations SET status = 'released', closed_us = ? WHERE id = ? AND status = 'open' RETURNING account_id, held`
	qClaimExtend  = `UPDATE ledger_reservations SET extensions = extensions + 1, expires_us = ? + ttl_us WHERE id = ? AND status = 'open' RETURNING account_id, extensions`
	qAddHeld      = `UPDATE ledger_reservations SET held = held + ? WHERE id = ?`
	qCheckpoint   = `UPDATE ledger_reservations SET used_seconds = ?, used_amount = ?, expires_us = ? + ttl_us WHERE id = ? AND status = 'open'`
	qUnhold       = `UPDATE ledger_accounts SET available = available + ?, held = held - ? WHERE id = ?`
	qLockAccount  = `UPDATE ledger_accounts SET held = held WHERE id = ?`
	qInsertCDR    = `INSERT INTO ledger_cdrs (session_id, reservation_id, service, facility, account_id, destination, class, started_us, answered_us, ended_us, billed_seconds, amount, tariff_id, tariff_version, rate, increment_first, increment_next, cause, recording_path, privileged, recorded_us)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (session_id) DO NOTHING`
)

// Reserve holds min(req.Want, available) for a session if that is at
// least req.Min (one conditional statement; see qHold), else it returns
// ErrInsufficientFunds. A retry with the same key and request returns the
// first reservation.
func (l *Ledger) Reserve(ctx context.Context, req ReserveRequest) (Reservation, error) {
	if !validKey(req.Key) || !validID(req.AccountID) || len(req.SessionID) > 128 ||
		req.Want <= 0 || req.Want > MaxAmount || req.Min > req.Want {
		return Reservation{}, fmt.Errorf("%w: reserve", ErrInvalid)
	}
	min := req.Min
	if min <= 0 {
		min = money.Micro
	}
	now := l.now()
	expires := req.Expires
	if expires.IsZero() {
		expires = now.Add(l.cfg.HoldTTL)
	}
	if !expires.After(now) {
		return Reservation{}, fmt.Errorf("%w: reservation expires in the past", ErrInvalid)
	}
	// Expires is not part of the body: a retry computes it afresh.
	h := newHash(kindReserve).str(req.AccountID).str(req.SessionID).i64(int64(req.Want)).i64(int64(min))
	res := Reservation{AccountID: req.AccountID, SessionID: req.SessionID}
	if o, ok := l.store.(OneShot); ok {
		id := l.newID('r')
		var granted int64
		err := o.QueryOne(ctx, reserveOrder(req.AccountID), pgReserve, []any{req.Key, req.AccountID, int64(req.Want), int64(min), id, req.SessionID,
			l.cfg.NodeID, int64(expires.Sub(now) / time.Microsecond), micros(expires), micros(now), int64(h)}, &granted)
		switch {
		case err == nil:
			res.ID, res.Granted, res.Expires = id, money.Amount(granted), expires.UTC()
			l.holds.add(id, req.AccountID, granted)
			l.observe(kindReserve, now, false, nil)
			return res, nil
		case !errors.Is(err, ErrNoRow) && !errors.Is(err, ErrRetry):
			err = fmt.Errorf("ledger: reserve: %w", err)
			l.observe(kindReserve, now, false, err)
			return Reservation{}, err
		}
		// Replay, conflict, refusal or race: the Update path explains it.
	}
	err := l.update(ctx, kindReserve, &res.Replayed, func(ctx context.Context, tx Tx) error {
		// The hold also checks that the key is new (qHoldNew, or
		// qHoldHint when the account's balance is known); only when it
		// moves nothing is the key looked up: a replay, a conflict or,
		// for a new key, a refusal (whyNot). Nothing is written before.
		moved, err := l.holdNew(ctx, tx, req.AccountID, req.Want, min, req.Key)
		if errors.Is(err, ErrNoRow) {
			rec, found, err := lookupOp(ctx, tx, req.Key, kindReserve, h)
			if err != nil {
				return err
			}
			if found {
				res.ID, res.Granted, res.Expires, res.Replayed = rec.ref, rec.amount, rec.at, true
				return nil
			}
			return whyNot(ctx, tx, req.AccountID)
		}
		if err != nil {
			return err
		}
		granted := money.Amount(moved)
		id := l.newID('r')
		if _, err := tx.Exec(ctx, qInsertReservation, id, req.AccountID, req.SessionID, l.cfg.NodeID,
			int64(granted), int64(expires.Sub(now)/time.Microsecond), micros(expires), micros(now)); err != nil {
			return fmt.Errorf("ledger: insert reservation: %w", err)
		}
		if _, err := tx.Exec(ctx, qJournalReserve, req.Key, req.AccountID, id, moved, req.SessionID, micros(now)); err != nil {
			return fmt.Errorf("ledger: journal: %w", err)
		}
		res.ID, res.Granted, res.Expires = id, granted, expires.UTC()
		n, err := tx.Exec(ctx, qInsertReserveOp, req.Key, int64(h), id, moved, micros(expires))
		if err != nil {
			return fmt.Errorf("ledger: record key: %w", err)
		}
		if n == 0 {
			return ErrRetry // a concurrent first use of the key (PostgreSQL)
		}
		return nil
	})
	if err != nil {
		return Reservation{}, err
	}
	if !res.Replayed {
		l.holds.add(res.ID, req.AccountID, int64(res.Granted))
	}
	return res, nil
}

// holdNew moves min(want, available) from the account's available
// balance to its held one if that is at least min and key is unused,
// and returns the amount moved, or ErrNoRow when it moved nothing. With
// a hint of the balance it runs qHoldHint, else (or when the hint was
// stale) qHoldNew; either way it is one conditional UPDATE.
func (l *Ledger) holdNew(ctx context.Context, tx Tx, account string, want, min money.Amount, key string) (int64, error) {
	w := int64(want)
	if avail, ok := l.avail.get(account); ok && avail >= int64(min) {
		moved := w
		if avail < w {
			moved = avail
		}
		n, err := tx.Exec(ctx, qHoldHint, moved, account, avail, key)
		if err != nil {
			return 0, fmt.Errorf("ledger: hold: %w", err)
		}
		if n == 1 {
			l.avail.set(account, avail-moved)
			return moved, nil
		}
	}
	var moved, avail int64
	err := tx.QueryRow(ctx, qHoldNew, w, account, int64(min), key).Scan(&moved, &avail)
	if errors.Is(err, ErrNoRow) {
		l.avail.forget(account)
		return 0, ErrNoRow
	}
	if err != nil {
		return 0, fmt.Errorf("ledger: hold: %w", err)
	}
	l.avail.set(account, avail)
	return moved, nil
}

// Extend moves up to want more from the account's available balance into
// the reservation and pushes its expiry out by its TTL. It returns what
// was granted, or 0 and ErrInsufficientFunds when nothing is available.
// It satisfies rating.Funder. Extend is not keyed: a retried Extend may
// grow the hold twice, which costs nothing, since Commit releases the
// rest.
func (l *Ledger) Extend(ctx context.Context, reservationID string, want money.Amount) (money.Amount, error) {
	if !validID(reservationID) || want <= 0 || want > MaxAmount {
		return 0, fmt.Errorf("%w: extend", ErrInvalid)
	}
	now := l.now()
	var granted money.Amount
	err := l.update(ctx, kindExtend, nil, func(ctx context.Context, tx Tx) error {
		granted = 0
		var (
			account string
			n       int64
		)
		err := tx.QueryRow(ctx, qClaimExtend, micros(now), reservationID).Scan(&account, &n)
		if errors.Is(err, ErrNoRow) {
			return closedOrMissing(ctx, tx, reservationID)
		}
		if err != nil {
			return fmt.Errorf("ledger: extend: %w", err)
		}
		l.avail.forget(account)
		g, err := hold(ctx, tx, account, want, money.Micro)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, qAddHeld, int64(g), reservationID); err != nil {
			return fmt.Errorf("ledger: extend: %w", err)
		}
		key := "extend:" + reservationID + ":" + fmt.Sprint(n)
		if err := post(ctx, tx, line{key: key, kind: kindExtend, account: account, reservation: reservationID,
			from: accDebit, to: accHold, amount: g, at: now}); err != nil {
			return err
		}
		granted = g
		return nil
	})
	if err != nil {
		return 0, err
	}
	l.holds.grow(reservationID, int64(granted))
	return granted, nil
}

// Checkpoint records a live reservation's usage so far (from the Meter)
// and pushes its expiry out by its TTL; after a crash, SettleStale and
// Recover charge the last checkpointed usage. It satisfies rating.Funder.
func (l *Ledger) Checkpoint(ctx context.Context, reservationID string, usedSeconds int64, used money.Amount) error {
	if !validID(reservationID) || usedSeconds < 0 || used < 0 || used > MaxAmount {
		return fmt.Errorf("%w: checkpoint", ErrInvalid)
	}
	now := l.now()
	return l.update(ctx, kindCheckpt, nil, func(ctx context.Context, tx Tx) error {
		n, err := tx.Exec(ctx, qCheckpoint, usedSeconds, int64(used), micros(now), reservationID)
		if err != nil {
			return fmt.Errorf("ledger: checkpoint: %w", err)
		}
		if n == 0 {
			return closedOrMissing(ctx, tx, reservationID)
		}
		return nil
	})
}

// closedOrMissing explains a reservation claim that matched no row.
func closedOrMissing(ctx context.Context, tx Tx, id string) error {
	var (
		account, status         string
		held, charged, closedUS int64
	)
	err := tx.QueryRow(ctx, qReservation, id).Scan(&account, &status, &held, &charged, &closedUS)
	switch {
	case errors.Is(err, ErrNoRow):
		return fmt.Errorf("reservation %q: %w", id, ErrNotFound)
	case err != nil:
		return fmt.Errorf("ledger: reservation: %w", err)
	}
	return ErrReservationClosed
}

// Commit charges req.Amount from the reservation, releases the rest to
// the account and stores req.CDR, all in one transaction. It happens once
// per reservation: a replay with the same amount returns the first
// receipt (Replayed set), a different amount ErrIdempotencyConflict.
// An amount above the hold is ErrOverHold and writes nothing.
func (l *Ledger) Commit(ctx context.Context, req CommitRequest) (CommitReceipt, error) {
	if !validID(req.ReservationID) || req.Amount < 0 || req.Amount > MaxAmount || req.UsedSeconds < 0 {
		return CommitReceipt{}, fmt.Errorf("%w: commit", ErrInvalid)
	}
	if req.CDR != nil && !validID(req.CDR.SessionID) {
		return CommitReceipt{}, fmt.Errorf("%w: CDR without a session id", ErrInvalid)
	}
	now := l.now()
	var rc CommitReceipt
	if o, ok := l.store.(OneShot); ok {
		rc = CommitReceipt{ReservationID: req.ReservationID, Charged: req.Amount}
		order := ""
		if account := l.holds.take(req.ReservationID); account != "" {
			order = commitOrder(account, req.ReservationID)
		}
		var held int64
		err := o.QueryOne(ctx, order, pgCommit, commitArgs(req, now), &rc.AccountID, &held)
		switch {
		case err == nil:
			rc.Released, rc.At = money.Amount(held)-req.Amount, now.UTC()
			l.observe(kindCommit, now, false, nil)
			return rc, nil
		case !errors.Is(err, ErrNoRow) && !errors.Is(err, ErrRetry):
			err = fmt.Errorf("ledger: commit: %w", err)
			l.observe(kindCommit, now, false, err)
			return CommitReceipt{}, err
		}
		// Replay, conflict, over-hold, closed or a race: the Update path
		// explains it.
	}
	hint, hinted := l.holds.peek(req.ReservationID)
	err := l.update(ctx, kindCommit, &rc.Replayed, func(ctx context.Context, tx Tx) error {
		rc = CommitReceipt{ReservationID: req.ReservationID, Charged: req.Amount}
		heldI, err := l.claimCommit(ctx, tx, req, now, hint, hinted, &rc.AccountID)
		if errors.Is(err, ErrNoRow) {
			return l.commitReplay(ctx, tx, req, &rc)
		}
		if err != nil {
			return err
		}
		held := money.Amount(heldI)
		rc.Released, rc.At = held-req.Amount, now.UTC()
		if _, err := tx.Exec(ctx, qUnhold, int64(rc.Released), heldI, rc.AccountID); err != nil {
			return fmt.Errorf("ledger: commit: %w", err)
		}
		key := "commit:" + req.ReservationID
		if req.Amount > 0 && rc.Released > 0 {
			if _, err := tx.Exec(ctx, qJournalCommit, key, rc.AccountID, req.ReservationID, int64(req.Amount),
				int64(rc.Released), micros(now)); err != nil {
				return fmt.Errorf("ledger: journal: %w", err)
			}
		} else if err := post(ctx, tx,
			line{key: key, kind: kindCommit, account: rc.AccountID, reservation: req.ReservationID, from: accHold, to: accRevenue, amount: req.Amount, at: now},
			line{key: key, kind: kindCommit, account: rc.AccountID, reservation: req.ReservationID, from: accHold, to: accDebit, amount: rc.Released, at: now},
		); err != nil {
			return err
		}
		if req.CDR != nil {
			c := *req.CDR
			c.ReservationID, c.AccountID, c.Amount = req.ReservationID, rc.AccountID, req.Amount
			if c.BilledSeconds == 0 {
				c.BilledSeconds = req.UsedSeconds
			}
			if err := insertCDR(ctx, tx, &c, now); err != nil {
				return err
			}
		}
		// Hints move in the order the store runs operations (a SQLite
		// batch runs them one after another); were this one undone, the
		// next conditional UPDATE would find them stale (hint.go).
		l.holds.forget(req.ReservationID)
		l.avail.add(rc.AccountID, int64(rc.Released))
		return nil
	})
	if err != nil {
		return CommitReceipt{}, err
	}
	return rc, nil
}

// claimCommit closes an open reservation as committed if its hold covers
// the amount, setting account, and returns its hold, or ErrNoRow when it
// changed nothing. With a hint of the reservation it runs qClaimHint,
// else (or when the hint was stale) qClaimCommit; either way it is one
// conditional UPDATE.
func (l *Ledger) claimCommit(ctx context.Context, tx Tx, req CommitRequest, now time.Time, h holdHint, hinted bool, account *string) (int64, error) {
	amount := int64(req.Amount)
	if hinted && h.held >= amount {
		n, err := tx.Exec(ctx, qClaimHint, amount, req.UsedSeconds, micros(now), req.ReservationID, h.held, h.account)
		if err != nil {
			return 0, fmt.Errorf("ledger: commit: %w", err)
		}
		if n == 1 {
			*account = h.account
			return h.held, nil
		}
	}
	var held int64
	err := tx.QueryRow(ctx, qClaimCommit, amount, req.UsedSeconds, amount, micros(now), req.ReservationID, amount).Scan(account, &held)
	if errors.Is(err, ErrNoRow) {
		return 0, ErrNoRow
	}
	if err != nil {
		return 0, fmt.Errorf("ledger: commit: %w", err)
	}
	return held, nil
}

// commitReplay explains a commit claim that matched no row: a replay, a
// conflict, an over-hold or a closed reservation.
func (l *Ledger) commitReplay(ctx context.Context, tx Tx, req CommitRequest, rc *CommitReceipt) error {
	var (
		status                  string
		held, charged, closedUS int64
	)
	err := tx.QueryRow(ctx, qReservation, req.ReservationID).Scan(&rc.AccountID, &status, &held, &charged, &closedUS)
	switch {
	case errors.Is(err, ErrNoRow):
		return fmt.Errorf("reservation %q: %w", req.ReservationID, ErrNotFound)
	case err != nil:
		return fmt.Errorf("ledger: reservation: %w", err)
	case status == "open":
		return fmt.Errorf("%w: %s > %s", ErrOverHold, req.Amount, money.Amount(held))
	case status != "committed":
		return ErrReservationClosed
	case money.Amount(charged) != req.Amount:
		return ErrIdempotencyConflict
	}
	rc.Charged, rc.Released, rc.At, rc.Replayed = money.Amount(charged), money.Amount(held-charged), fromMicros(closedUS), true
	return nil
}

// Release ends a reservation without charge, returning its hold to the
// account. Releasing a reservation that is already closed (committed,
// released or settled) does nothing and returns nil, so a session's end
// path may always call it.
func (l *Ledger) Release(ctx context.Context, reservationID string) error {
	if !validID(reservationID) {
		return fmt.Errorf("%w: release", ErrInvalid)
	}
	now := l.now()
	l.holds.forget(reservationID)
	var replayed bool
	return l.update(ctx, kindRelease, &replayed, func(ctx context.Context, tx Tx) error {
		var (
			account string
			held    int64
		)
		err := tx.QueryRow(ctx, qClaimRelease, micros(now), reservationID).Scan(&account, &held)
		if errors.Is(err, ErrNoRow) {
			err := closedOrMissing(ctx, tx, reservationID)
			if errors.Is(err, ErrReservationClosed) {
				replayed = true
				return nil
			}
			return err
		}
		if err != nil {
			return fmt.Errorf("ledger: release: %w", err)
		}
		if _, err := tx.Exec(ctx, qUnhold, held, held, account); err != nil {
			return fmt.Errorf("ledger: release: %w", err)
		}
		l.avail.add(account, held)
		return post(ctx, tx, line{key: "release:" + reservationID, kind: kindRelease, account: account,
			reservation: reservationID, from: accHold, to: accDebit, amount: money.Amount(held), at: now})
	})
}

// RecordCDR stores the CDR of a session that had no reservation (a free
// session: in-facility visit, zero tariff). Storing the same session's
// CDR again does nothing.
func (l *Ledger) RecordCDR(ctx context.Context, c CDR) error {
	if !validID(c.SessionID) || c.Amount < 0 || c.Amount > MaxAmount {
		return fmt.Errorf("%w: CDR", ErrInvalid)
	}
	now := l.now()
	return l.update(ctx, kindCDR, nil, func(ctx context.Context, tx Tx) error {
		if c.AccountID != "" {
			// Take the account's row lock first, as every other writer
			// of the account's rows does, so that its CDRs commit in seq
			// order (paging by After relies on it; PostgreSQL draws a seq
			// at insert time, not at commit).
			if _, err := tx.Exec(ctx, qLockAccount, c.AccountID); err != nil {
				return fmt.Errorf("ledger: CDR: %w", err)
			}
		}
		return insertCDR(ctx, tx, &c, now)
	})
}

func insertCDR(ctx context.Context, tx Tx, c *CDR, now time.Time) error {
	priv := int64(0)
	if c.Privileged {
		priv = 1
	}
	_, err := tx.Exec(ctx, qInsertCDR, c.SessionID, c.ReservationID, c.Service, c.Facility, c.AccountID, c.Destination,
		c.Class, micros(c.Started), micros(c.Answered), micros(c.Ended), c.BilledSeconds, int64(c.Amount), c.TariffID,
		c.TariffVersion, int64(c.Rate), c.IncrementFirst, c.IncrementNext, c.Cause, c.RecordingPath, priv, micros(now))
	if err != nil {
		return fmt.Errorf("ledger: insert CDR: %w", err)
	}
	return nil
}

// commitArgs are pgCommit's arguments; the CDR is stored as Commit's
// Update path stores it (reservation, account and amount from the
// commit, billed seconds defaulting to the used seconds).
func commitArgs(req CommitRequest, now time.Time) []any {
	args := []any{req.ReservationID, int64(req.Amount), req.UsedSeconds, micros(now)}
	c := req.CDR
	if c == nil {
		return append(args, "", "", "", "", "", int64(0), int64(0), int64(0), int64(0), "", int64(0), int64(0), int64(0), int64(0), "", "", int64(0))
	}
	billed := c.BilledSeconds
	if billed == 0 {
		billed = req.UsedSeconds
	}
	priv := int64(0)
	if c.Privileged {
		priv = 1
	}
	return append(args, c.SessionID, c.Service, c.Facility, c.Destination, c.Class, micros(c.Started), micros(c.Answered),
		micros(c.Ended), billed, c.TariffID, c.TariffVersion, int64(c.Rate), c.IncrementFirst, c.IncrementNext,
		c.Cause, c.RecordingPath, priv)
}
