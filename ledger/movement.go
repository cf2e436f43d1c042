package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"ipcs/internal/money"
)

const (
	qAccountLimits = `SELECT a.status, a.release_date, COALESCE(f.zone, ''), COALESCE(f.deposit_max, 0), COALESCE(f.weekly_max, 0)
FROM ledger_accounts a LEFT JOIN ledger_facilities f ON f.id = a.facility WHERE a.id = ?`
	qAddAvailable = `UPDATE ledger_accounts SET available = available + ? WHERE id = ?`
	qWeekDeposits = `SELECT COALESCE(CAST(SUM(amount) AS BIGINT), 0) FROM ledger_journal WHERE account_id = ? AND kind = 'deposit' AND at_us >= ?`
	qDebit        = `UPDATE ledger_accounts SET available = available - ? WHERE id = ? AND status = 'active' AND available >= ?`
	qDrain        = `UPDATE ledger_accounts SET last_move = available, available = 0 WHERE id = ? AND status = 'released' AND available > 0 RETURNING last_move`
)

// movement runs one keyed money movement: it replays key's first result,
// or runs fn and records its result under key.
func (l *Ledger) movement(ctx context.Context, kind, key string, h reqHash, account string,
	fn func(ctx context.Context, tx Tx, now time.Time, id string) (money.Amount, error)) (Receipt, error) {
	now := l.now()
	var rc Receipt
	err := l.update(ctx, kind, &rc.Replayed, func(ctx context.Context, tx Tx) error {
		rec, found, err := lookupOp(ctx, tx, key, kind, h)
		if err != nil {
			return err
		}
		if found {
			rc = Receipt{ID: rec.ref, AccountID: account, Amount: rec.amount, At: rec.at, Replayed: true}
			return nil
		}
		id := receiptID(kind[0])
		amt, err := fn(ctx, tx, now, id)
		if err != nil {
			return err
		}
		rc = Receipt{ID: id, AccountID: account, Amount: amt, At: now.UTC()}
		return insertOp(ctx, tx, key, kind, h, opRecord{ref: id, amount: amt, at: now})
	})
	if err != nil {
		return Receipt{}, err
	}
	return rc, nil
}

type limits struct {
	status      Status
	releaseDate time.Time
	loc         *time.Location
	depositMax  money.Amount
	weeklyMax   money.Amount
}

func (l *Ledger) accountLimits(ctx context.Context, tx Tx, account string) (limits, error) {
	var (
		lim                   limits
		status, release, zone string
		depositMax, weeklyMax int64
	)
	err := tx.QueryRow(ctx, qAccountLimits, account).Scan(&status, &release, &zone, &depositMax, &weeklyMax)
	if errors.Is(err, ErrNoRow) {
		return lim, fmt.Errorf("account %q: %w", account, ErrNotFound)
	}
	if err != nil {
		return lim, fmt.Errorf("ledger: account: %w", err)
	}
	loc, err := l.location(zone)
	if err != nil {
		return lim, err
	}
	lim = limits{status: Status(status), releaseDate: parseDate(release), loc: loc,
		depositMax: money.Amount(depositMax), weeklyMax: money.Amount(weeklyMax)}
	if lim.depositMax <= 0 {
		lim.depositMax = l.cfg.DepositMax
	}
	if lim.weeklyMax <= 0 {
		lim.weeklyMax = l.cfg.WeeklyMax
	}
	return lim, nil
}

func validAmount(a money.Amount) bool { return a > 0 && a <= MaxAmount }

// Deposit lands a family member's deposit once per key. It enforces the
// facility's per-transaction maximum and the weekly maximum per resident
// over the calendar week (Sunday 00:00 to Saturday 24:00 in the
// facility's zone), counting deposits only (not trust transfers or
// credits). The receipt carries no balance: a family member never sees
// one.
func (l *Ledger) Deposit(ctx context.Context, req DepositRequest) (Receipt, error) {
	if !validKey(req.Key) || !validID(req.AccountID) || !validID(req.DepositorID) || !validAmount(req.Amount) {
		return Receipt{}, fmt.Errorf("%w: deposit", ErrInvalid)
	}
	h := newHash(kindDeposit).str(req.AccountID).str(req.DepositorID).i64(int64(req.Amount))
	return l.movement(ctx, kindDeposit, req.Key, h, req.AccountID, func(ctx context.Context, tx Tx, now time.Time, id string) (money.Amount, error) {
		lim, err := l.accountLimits(ctx, tx, req.AccountID)
		if err != nil {
			return 0, err
		}
		if lim.status == StatusReleased {
			return 0, ErrAccountReleased
		}
		if req.Amount > lim.depositMax {
			return 0, fmt.Errorf("%w: %s > %s", ErrPerTransactionLimit, req.Amount, lim.depositMax)
		}
		// Credit first: the row lock serializes this account's deposits,
		// so the week's sum below cannot miss a concurrent one.
		if _, err := tx.Exec(ctx, qAddAvailable, int64(req.Amount), req.AccountID); err != nil {
			return 0, fmt.Errorf("ledger: deposit: %w", err)
		}
		var week int64
		if err := tx.QueryRow(ctx, l.q.weekDeposits, req.AccountID, micros(WeekStart(now, lim.loc))).Scan(&week); err != nil {
			return 0, fmt.Errorf("ledger: weekly deposits: %w", err)
		}
		if money.Amount(week)+req.Amount > lim.weeklyMax {
			return 0, fmt.Errorf("%w: %s this week + %s > %s", ErrWeeklyLimit, money.Amount(week), req.Amount, lim.weeklyMax)
		}
		return req.Amount, post(ctx, tx, line{key: req.Key, kind: kindDeposit, account: req.AccountID,
			from: accDeposits, to: accDebit, amount: req.Amount, party: req.DepositorID, at: now})
	})
}

// TransferFromTrust moves money from the resident's trust (commissary)
// account into the debit account, once per key. Deposit limits do not
// apply: it is the resident's own money.
func (l *Ledger) TransferFromTrust(ctx context.Context, req TransferRequest) (Receipt, error) {
	if !validKey(req.Key) || !validID(req.AccountID) || !validAmount(req.Amount) || !validText(req.Memo, 512) || !validText(req.StaffID, 128) {
		return Receipt{}, fmt.Errorf("%w: transfer", ErrInvalid)
	}
	h := newHash(kindTransfer).str(req.AccountID).str(req.StaffID).str(req.Memo).i64(int64(req.Amount))
	return l.movement(ctx, kindTransfer, req.Key, h, req.AccountID, func(ctx context.Context, tx Tx, now time.Time, id string) (money.Amount, error) {
		if err := addAvailable(ctx, tx, req.AccountID, req.Amount, true); err != nil {
			return 0, err
		}
		return req.Amount, post(ctx, tx, line{key: req.Key, kind: kindTransfer, account: req.AccountID,
			from: accTrust, to: accDebit, amount: req.Amount, party: req.StaffID, memo: req.Memo, at: now})
	})
}

// Credit credits an account once per key (re-rating differences, failed
// visits), with the reason in the journal as the audit trail. Released
// accounts may be credited: the credit is part of their release refund.
func (l *Ledger) Credit(ctx context.Context, req CreditRequest) (Receipt, error) {
	if !validKey(req.Key) || !validID(req.AccountID) || !validAmount(req.Amount) ||
		req.Reason == "" || !validText(req.Reason, 512) || !validText(req.Ref, 128) || !validText(req.StaffID, 128) {
		return Receipt{}, fmt.Errorf("%w: credit", ErrInvalid)
	}
	h := newHash(kindCredit).str(req.AccountID).str(req.Reason).str(req.Ref).str(req.StaffID).i64(int64(req.Amount))
	memo := req.Reason
	if req.Ref != "" {
		memo += " [" + req.Ref + "]"
	}
	return l.movement(ctx, kindCredit, req.Key, h, req.AccountID, func(ctx context.Context, tx Tx, now time.Time, id string) (money.Amount, error) {
		if err := addAvailable(ctx, tx, req.AccountID, req.Amount, false); err != nil {
			return 0, err
		}
		return req.Amount, post(ctx, tx, line{key: req.Key, kind: kindCredit, account: req.AccountID,
			from: accCredits, to: accDebit, amount: req.Amount, party: req.StaffID, memo: memo, at: now})
	})
}

func addAvailable(ctx context.Context, tx Tx, account string, amt money.Amount, activeOnly bool) error {
	n, err := tx.Exec(ctx, qAddAvailable, int64(amt), account)
	if err != nil {
		return fmt.Errorf("ledger: credit account: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("account %q: %w", account, ErrNotFound)
	}
	if activeOnly {
		var (
			status string
			avail  int64
		)
		if err := tx.QueryRow(ctx, qAccountState, account).Scan(&status, &avail); err != nil {
			return fmt.Errorf("ledger: account state: %w", err)
		}
		if Status(status) == StatusReleased {
			return ErrAccountReleased
		}
	}
	return nil
}

// Charge charges an account for another service (messaging stamps,
// media) once per key, with one conditional statement that never takes
// the balance below zero.
func (l *Ledger) Charge(ctx context.Context, req ChargeRequest) (Receipt, error) {
	if !validKey(req.Key) || !validID(req.AccountID) || !validAmount(req.Amount) || !validText(req.Service, 64) || !validText(req.Ref, 128) {
		return Receipt{}, fmt.Errorf("%w: charge", ErrInvalid)
	}
	h := newHash(kindCharge).str(req.AccountID).str(req.Service).str(req.Ref).i64(int64(req.Amount))
	return l.movement(ctx, kindCharge, req.Key, h, req.AccountID, func(ctx context.Context, tx Tx, now time.Time, id string) (money.Amount, error) {
		n, err := tx.Exec(ctx, qDebit, int64(req.Amount), req.AccountID, int64(req.Amount))
		if err != nil {
			return 0, fmt.Errorf("ledger: charge: %w", err)
		}
		if n == 0 {
			return 0, whyNot(ctx, tx, req.AccountID)
		}
		return req.Amount, post(ctx, tx, line{key: req.Key, kind: kindCharge, account: req.AccountID,
			from: accDebit, to: accRevenue, amount: req.Amount, party: req.Service, memo: req.Ref, at: now})
	})
}

// ReleaseRefund pays a released resident's whole available balance out,
// once per key, only from RefundAfterDays days to RefundWithinMonths
// months after the release date, by the facility's calendar (DESIGN.md).
// An empty balance is ErrInsufficientFunds.
func (l *Ledger) ReleaseRefund(ctx context.Context, req RefundRequest) (Receipt, error) {
	if !validKey(req.Key) || !validID(req.AccountID) || !validText(req.StaffID, 128) {
		return Receipt{}, fmt.Errorf("%w: refund", ErrInvalid)
	}
	h := newHash(kindRefund).str(req.AccountID).str(req.StaffID)
	return l.movement(ctx, kindRefund, req.Key, h, req.AccountID, func(ctx context.Context, tx Tx, now time.Time, id string) (money.Amount, error) {
		lim, err := l.accountLimits(ctx, tx, req.AccountID)
		if err != nil {
			return 0, err
		}
		if lim.status != StatusReleased || lim.releaseDate.IsZero() {
			return 0, ErrAccountActive
		}
		if !InRefundWindow(lim.releaseDate, now, lim.loc) {
			return 0, ErrRefundWindow
		}
		var amt int64
		err = tx.QueryRow(ctx, qDrain, req.AccountID).Scan(&amt)
		if errors.Is(err, ErrNoRow) {
			return 0, ErrInsufficientFunds
		}
		if err != nil {
			return 0, fmt.Errorf("ledger: refund: %w", err)
		}
		return money.Amount(amt), post(ctx, tx, line{key: req.Key, kind: kindRefund, account: req.AccountID,
			from: accDebit, to: accRefunds, amount: money.Amount(amt), party: req.StaffID, at: now})
	})
}

// InRefundWindow reports whether now, as a calendar day in loc, is at
// least RefundAfterDays days and at most RefundWithinMonths months after
// the release day (both ends included).
func InRefundWindow(release, now time.Time, loc *time.Location) bool {
	y, m, d := release.Date()
	ny, nm, nd := now.In(loc).Date()
	today := time.Date(ny, nm, nd, 0, 0, 0, 0, time.UTC)
	first := time.Date(y, m, d+RefundAfterDays, 0, 0, 0, 0, time.UTC)
	last := time.Date(y, m+RefundWithinMonths, d, 0, 0, 0, 0, time.UTC)
	return !today.Before(first) && !today.After(last)
}
