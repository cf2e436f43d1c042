package ledger

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"ipcs/internal/money"
)

const (
	qOpenAccount = `INSERT INTO ledger_accounts (id, facility, status, release_date, available, held, last_move, created_us)
VALUES (?, ?, ?, ?, 0, 0, 0, ?) ON CONFLICT (id) DO UPDATE SET facility = excluded.facility`
	qReleaseAccount = `UPDATE ledger_accounts SET status = 'released', release_date = ? WHERE id = ?`
	qSetFacility    = `INSERT INTO ledger_facilities (id, zone, deposit_max, weekly_max) VALUES (?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET zone = excluded.zone, deposit_max = excluded.deposit_max, weekly_max = excluded.weekly_max`
	qBalance   = `SELECT facility, status, release_date, available, held FROM ledger_accounts WHERE id = ?`
	qStatement = `SELECT id, kind, reservation_id, src, dst, amount, party, memo, at_us FROM ledger_journal
WHERE account_id = ? AND at_us >= ? AND at_us < ? AND id > ? ORDER BY id LIMIT ?`
	cdrList = `seq, session_id, reservation_id, service, facility, account_id, destination, class, started_us, answered_us, ended_us,
billed_seconds, amount, tariff_id, tariff_version, rate, increment_first, increment_next, cause, recording_path, privileged`
	cdrColumns = `SELECT ` + cdrList + ` FROM ledger_cdrs `
	// qCDRsOfAccount walks the (account_id, seq) index: one resident's
	// CDRs without reading anyone else's. qCDRs serves the other queries
	// (by facility, or all) in seq order.
	qCDRsOfAccount = cdrColumns + `WHERE account_id = ? AND (? = '' OR facility = ?) AND ended_us >= ? AND ended_us < ? AND seq > ? ORDER BY seq LIMIT ?`
	qCDRs          = cdrColumns + `WHERE (? = '' OR facility = ?) AND ended_us >= ? AND ended_us < ? AND seq > ? ORDER BY seq LIMIT ?`
)

// OpenAccount creates a resident's debit account with a zero balance, or,
// when it exists, moves it to a.Facility (a transfer between facilities)
// and leaves everything else alone; calling it again is harmless. To
// seed a balance idempotently (the demo), follow it with
// TransferFromTrust or Credit under a fixed key such as
// "seed:"+a.ID.
func (l *Ledger) OpenAccount(ctx context.Context, a Account) error {
	if !validID(a.ID) || !validID(a.Facility) {
		return fmt.Errorf("%w: account id and facility are required", ErrInvalid)
	}
	if a.Status == "" {
		a.Status = StatusActive
	}
	if a.Status != StatusActive && a.Status != StatusReleased {
		return fmt.Errorf("%w: status %q", ErrInvalid, a.Status)
	}
	now := l.now()
	return l.update(ctx, kindAccount, nil, func(ctx context.Context, tx Tx) error {
		_, err := tx.Exec(ctx, qOpenAccount, a.ID, a.Facility, string(a.Status), dateString(a.ReleaseDate), micros(now))
		if err != nil {
			return fmt.Errorf("ledger: open account: %w", err)
		}
		return nil
	})
}

// ReleaseAccount marks the resident released on day (in the facility's
// zone): the account then takes no deposits, reservations or charges,
// and the release refund window runs from it.
func (l *Ledger) ReleaseAccount(ctx context.Context, accountID string, day time.Time) error {
	if !validID(accountID) || day.IsZero() {
		return fmt.Errorf("%w: release account", ErrInvalid)
	}
	return l.update(ctx, kindAccount, nil, func(ctx context.Context, tx Tx) error {
		n, err := tx.Exec(ctx, qReleaseAccount, dateString(day), accountID)
		if err != nil {
			return fmt.Errorf("ledger: release account: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("account %q: %w", accountID, ErrNotFound)
		}
		return nil
	})
}

// SetFacility stores a facility's zone and deposit limits (zero limits:
// the Config defaults).
func (l *Ledger) SetFacility(ctx context.Context, f Facility) error {
	if !validID(f.ID) || f.DepositMax < 0 || f.DepositMax > MaxAmount || f.WeeklyMax < 0 || f.WeeklyMax > MaxAmount {
		return fmt.Errorf("%w: facility", ErrInvalid)
	}
	if _, err := l.location(f.Zone); err != nil || f.Zone == "" {
		return fmt.Errorf("%w: facility zone %q", ErrInvalid, f.Zone)
	}
	return l.update(ctx, kindAccount, nil, func(ctx context.Context, tx Tx) error {
		if _, err := tx.Exec(ctx, qSetFacility, f.ID, f.Zone, int64(f.DepositMax), int64(f.WeeklyMax)); err != nil {
			return fmt.Errorf("ledger: set facility: %w", err)
		}
		return nil
	})
}

// Balance returns an account's cached balance. Callers that answer a
// family member must not pass it on (DESIGN.md).
func (l *Ledger) Balance(ctx context.Context, accountID string) (Balance, error) {
	b := Balance{AccountID: accountID}
	err := l.view(ctx, kindBalance, func(ctx context.Context, tx Tx) error {
		var (
			status, release string
			avail, held     int64
		)
		err := tx.QueryRow(ctx, qBalance, accountID).Scan(&b.Facility, &status, &release, &avail, &held)
		if errors.Is(err, ErrNoRow) {
			return fmt.Errorf("account %q: %w", accountID, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("ledger: balance: %w", err)
		}
		b.Status, b.ReleaseDate, b.Available, b.Held = Status(status), parseDate(release), money.Amount(avail), money.Amount(held)
		return nil
	})
	return b, err
}

func clampLimit(n int) int {
	switch {
	case n <= 0:
		return 100
	case n > 1000:
		return 1000
	}
	return n
}

func untilMicros(t time.Time) int64 {
	if t.IsZero() {
		return math.MaxInt64
	}
	return t.UnixMicro()
}

// Statement returns an account's journal entries, oldest first. It
// returns ErrNotFound for an unknown account.
func (l *Ledger) Statement(ctx context.Context, accountID string, q StatementQuery) ([]Entry, error) {
	var out []Entry
	err := l.view(ctx, kindStmt, func(ctx context.Context, tx Tx) error {
		out = out[:0]
		var status string
		var avail int64
		if err := tx.QueryRow(ctx, qAccountState, accountID).Scan(&status, &avail); errors.Is(err, ErrNoRow) {
			return fmt.Errorf("account %q: %w", accountID, ErrNotFound)
		} else if err != nil {
			return fmt.Errorf("ledger: statement: %w", err)
		}
		rows, err := tx.Query(ctx, l.q.statement, accountID, micros(q.Since), untilMicros(q.Until), q.After, int64(clampLimit(q.Limit)))
		if err != nil {
			return fmt.Errorf("ledger: statement: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			e := Entry{AccountID: accountID}
			var amt, at int64
			if err := rows.Scan(&e.ID, &e.Kind, &e.ReservationID, &e.From, &e.To, &amt, &e.Party, &e.Memo, &at); err != nil {
				return fmt.Errorf("ledger: statement: %w", err)
			}
			e.Amount, e.At = money.Amount(amt), fromMicros(at)
			out = append(out, e)
		}
		return rows.Err()
	})
	return out, err
}

// CDRs returns stored CDRs matching q, oldest first, and the cursor
// (After) for the next page.
func (l *Ledger) CDRs(ctx context.Context, q CDRQuery, after int64) ([]CDR, int64, error) {
	var (
		out  []CDR
		next = after
	)
	err := l.view(ctx, kindCDR, func(ctx context.Context, tx Tx) error {
		out, next = out[:0], after
		query, args := qCDRs, []any{q.Facility, q.Facility, micros(q.Since), untilMicros(q.Until), after, int64(clampLimit(q.Limit))}
		if q.AccountID != "" {
			query, args = l.q.cdrsOfAccount, append([]any{q.AccountID}, args...)
		}
		rows, err := tx.Query(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("ledger: CDRs: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				c                                CDR
				seq, st, an, en, amt, rate, priv int64
			)
			if err := rows.Scan(&seq, &c.SessionID, &c.ReservationID, &c.Service, &c.Facility, &c.AccountID, &c.Destination,
				&c.Class, &st, &an, &en, &c.BilledSeconds, &amt, &c.TariffID, &c.TariffVersion, &rate,
				&c.IncrementFirst, &c.IncrementNext, &c.Cause, &c.RecordingPath, &priv); err != nil {
				return fmt.Errorf("ledger: CDRs: %w", err)
			}
			c.Started, c.Answered, c.Ended = fromMicros(st), fromMicros(an), fromMicros(en)
			c.Amount, c.Rate, c.Privileged = money.Amount(amt), money.Amount(rate), priv != 0
			out = append(out, c)
			next = seq
		}
		return rows.Err()
	})
	return out, next, err
}
