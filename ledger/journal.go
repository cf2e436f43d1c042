package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"ipcs/internal/money"
)

// Journal account names. Every journal row moves a positive amount from
// one account to another, so each row, and hence the journal, balances by
// construction. "debit" and "hold" are the resident's (keyed by the row's
// account_id, and for holds by reservation_id); the others are system
// accounts whose journal balances Check reports.
const (
	accDebit    = "debit"    // the resident's available balance
	accHold     = "hold"     // money reserved for one session
	accDeposits = "deposits" // family deposits clearing (outside money in)
	accTrust    = "trust"    // trust/commissary transfers clearing
	accCredits  = "credits"  // re-rating and goodwill credits
	accRefunds  = "refunds"  // release refunds paid out
	accRevenue  = "revenue"  // charged usage and services
)

// Operation kinds: the journal's kind column and the metrics' kind label.
const (
	kindDeposit  = "deposit"
	kindTransfer = "transfer"
	kindReserve  = "reserve"
	kindExtend   = "extend"
	kindCheckpt  = "checkpoint"
	kindCommit   = "commit"
	kindRelease  = "release"
	kindSettle   = "settle"
	kindCredit   = "credit"
	kindCharge   = "charge"
	kindRefund   = "refund"
	kindCDR      = "cdr"
	kindAccount  = "account"
	kindBalance  = "balance"
	kindStmt     = "statement"
	kindCheck    = "check"
)

const (
	qLookupOp = `SELECT kind, hash, ref, amount, at_us FROM ledger_ops WHERE key = ?`
	qInsertOp = `INSERT INTO ledger_ops (key, kind, hash, ref, amount, at_us) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING`
	qJournal  = `INSERT INTO ledger_journal (op_key, kind, account_id, reservation_id, src, dst, amount, party, memo, at_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	// The hot journal rows with their constant columns spelled out: fewer
	// values to bind (SQLite copies each bound string).
	qJournalReserve  = `INSERT INTO ledger_journal (op_key, kind, account_id, reservation_id, src, dst, amount, party, memo, at_us) VALUES (?, 'reserve', ?, ?, 'debit', 'hold', ?, ?, '', ?)`
	qJournalCommit   = `INSERT INTO ledger_journal (op_key, kind, account_id, reservation_id, src, dst, amount, party, memo, at_us) VALUES (?1, 'commit', ?2, ?3, 'hold', 'revenue', ?4, '', '', ?6), (?1, 'commit', ?2, ?3, 'hold', 'debit', ?5, '', '', ?6)`
	qInsertReserveOp = `INSERT INTO ledger_ops (key, kind, hash, ref, amount, at_us) VALUES (?, 'reserve', ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING`
	qJournal2        = `INSERT INTO ledger_journal (op_key, kind, account_id, reservation_id, src, dst, amount, party, memo, at_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	// qHold is the reservation: ONE conditional statement that moves
	// min(want, available) from available to held if that is at least
	// min. Both engines evaluate every SET expression on the old row, so
	// last_move records the amount moved for RETURNING (neither dialect
	// portably returns old values). Under READ COMMITTED PostgreSQL
	// re-checks the WHERE on the newest row version after a concurrent
	// update, so two nodes can never overdraw one account.
	qHold = `UPDATE ledger_accounts SET
	last_move = CASE WHEN available < ? THEN available ELSE ? END,
	available = available - CASE WHEN available < ? THEN available ELSE ? END,
	held = held + CASE WHEN available < ? THEN available ELSE ? END
WHERE id = ? AND status = 'active' AND available >= ? RETURNING last_move`
	// qHoldNew is qHold for a reserve: it also requires the idempotency
	// key to be unused, so that the first use of a key needs no separate
	// look-up (one statement fewer); when it matches no row, the key is
	// looked up to tell a replay or conflict from a refusal.
	qHoldNew = `UPDATE ledger_accounts SET
	last_move = CASE WHEN available < ?1 THEN available ELSE ?1 END,
	available = available - CASE WHEN available < ?1 THEN available ELSE ?1 END,
	held = held + CASE WHEN available < ?1 THEN available ELSE ?1 END
WHERE id = ?2 AND status = 'active' AND available >= ?3 AND NOT EXISTS (SELECT 1 FROM ledger_ops WHERE key = ?4) RETURNING last_move, available`
	// qHoldHint is qHoldNew when the Ledger knows the account's
	// available balance (hint.go): it moves ?1 = min(want, hint), which
	// is what qHoldNew would move, on the condition that available is
	// still the hint — so it needs no RETURNING (the cheaper statement
	// on SQLite); it matches nothing when the hint is stale, and
	// qHoldNew runs. It is as conditional as qHoldNew: available >= ?1
	// holds whenever available = ?3.
	qHoldHint = `UPDATE ledger_accounts SET available = available - ?1, held = held + ?1
WHERE id = ?2 AND available = ?3 AND status = 'active' AND NOT EXISTS (SELECT 1 FROM ledger_ops WHERE key = ?4)`
	qAccountState = `SELECT status, available FROM ledger_accounts WHERE id = ?`
)

// opRecord is the first result of an idempotent operation.
type opRecord struct {
	ref    string
	amount money.Amount
	at     time.Time
}

// lookupOp finds key's first result. It returns ErrIdempotencyConflict
// when the key was used for another kind or body.
func lookupOp(ctx context.Context, tx Tx, key, kind string, h reqHash) (opRecord, bool, error) {
	var (
		k          string
		hash, a, t int64
		rec        opRecord
	)
	err := tx.QueryRow(ctx, qLookupOp, key).Scan(&k, &hash, &rec.ref, &a, &t)
	if errors.Is(err, ErrNoRow) {
		return rec, false, nil
	}
	if err != nil {
		return rec, false, fmt.Errorf("ledger: look up key: %w", err)
	}
	if k != kind || hash != int64(h) {
		return rec, false, ErrIdempotencyConflict
	}
	rec.amount, rec.at = money.Amount(a), fromMicros(t)
	return rec, true, nil
}

// insertOp records key's result; a concurrent transaction that took the
// key first makes this one retry (and then replay).
func insertOp(ctx context.Context, tx Tx, key, kind string, h reqHash, rec opRecord) error {
	n, err := tx.Exec(ctx, qInsertOp, key, kind, int64(h), rec.ref, int64(rec.amount), micros(rec.at))
	if err != nil {
		return fmt.Errorf("ledger: record key: %w", err)
	}
	if n == 0 {
		return ErrRetry
	}
	return nil
}

// line is one journal row.
type line struct {
	key, kind, account, reservation string
	from, to                        string
	amount                          money.Amount
	party, memo                     string
	at                              time.Time
}

func (j *line) args(dst []any) []any {
	return append(dst, j.key, j.kind, j.account, j.reservation, j.from, j.to, int64(j.amount), j.party, j.memo, micros(j.at))
}

// post appends lines to the journal, skipping zero amounts.
func post(ctx context.Context, tx Tx, lines ...line) error {
	var nonzero [2]*line
	n := 0
	flush := func() error {
		var err error
		switch n {
		case 1:
			var a [10]any
			_, err = tx.Exec(ctx, qJournal, nonzero[0].args(a[:0])...)
		case 2:
			var a [20]any
			args := nonzero[1].args(nonzero[0].args(a[:0]))
			_, err = tx.Exec(ctx, qJournal2, args...)
		}
		n = 0
		if err != nil {
			return fmt.Errorf("ledger: journal: %w", err)
		}
		return nil
	}
	for i := range lines {
		if lines[i].amount == 0 {
			continue
		}
		if lines[i].amount < 0 {
			return fmt.Errorf("ledger: journal: negative amount %s", lines[i].amount)
		}
		nonzero[n] = &lines[i]
		n++
		if n == 2 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// hold runs qHold and returns the amount moved, or the reason none was:
// ErrNotFound, ErrAccountReleased or ErrInsufficientFunds.
func hold(ctx context.Context, tx Tx, account string, want, min money.Amount) (money.Amount, error) {
	w := int64(want)
	var moved int64
	err := tx.QueryRow(ctx, qHold, w, w, w, w, w, w, account, int64(min)).Scan(&moved)
	if errors.Is(err, ErrNoRow) {
		return 0, whyNot(ctx, tx, account)
	}
	if err != nil {
		return 0, fmt.Errorf("ledger: hold: %w", err)
	}
	return money.Amount(moved), nil
}

// whyNot explains a conditional update on an account that matched no row.
func whyNot(ctx context.Context, tx Tx, account string) error {
	var (
		status string
		avail  int64
	)
	err := tx.QueryRow(ctx, qAccountState, account).Scan(&status, &avail)
	switch {
	case errors.Is(err, ErrNoRow):
		return fmt.Errorf("account %q: %w", account, ErrNotFound)
	case err != nil:
		return fmt.Errorf("ledger: account state: %w", err)
	case Status(status) == StatusReleased:
		return ErrAccountReleased
	}
	return ErrInsufficientFunds
}
