package ledger

import (
	"time"

	"ipcs/internal/money"
)

// Status is an account's state.
type Status string

// Account states.
const (
	StatusActive   Status = "active"
	StatusReleased Status = "released"
)

// Account is a resident's debit account. Its ID is the resident id.
type Account struct {
	ID       string
	Facility string
	Status   Status // "" means active
	// ReleaseDate is the release day in the facility's zone (only the
	// year, month and day count); zero while the resident is held.
	ReleaseDate time.Time
}

// Facility holds a facility's ledger settings. Zero limits mean the
// Config's defaults.
type Facility struct {
	ID         string
	Zone       string // IANA zone, e.g. "America/Chicago"
	DepositMax money.Amount
	WeeklyMax  money.Amount
}

// Balance is an account's cached balance: Available can be reserved or
// charged; Held is reserved by live sessions.
type Balance struct {
	AccountID   string
	Facility    string
	Status      Status
	ReleaseDate time.Time
	Available   money.Amount
	Held        money.Amount
}

// DepositRequest is a family member's deposit.
type DepositRequest struct {
	Key         string // idempotency key
	AccountID   string
	Amount      money.Amount
	DepositorID string // the family member (visitor) id
}

// TransferRequest moves money from the resident's trust (commissary)
// account into the debit account.
type TransferRequest struct {
	Key       string
	AccountID string
	Amount    money.Amount
	StaffID   string
	Memo      string
}

// CreditRequest credits an account: a re-rated session, a failed visit.
type CreditRequest struct {
	Key       string
	AccountID string
	Amount    money.Amount
	Reason    string // audit trail, required
	Ref       string // e.g. the re-rated session id
	StaffID   string // who (or which job) credited
}

// ChargeRequest charges an account for a service other than a metered
// session (messaging stamps, media); it never takes the balance below zero.
type ChargeRequest struct {
	Key       string
	AccountID string
	Amount    money.Amount
	Service   string
	Ref       string
}

// RefundRequest refunds a released resident's whole available balance.
type RefundRequest struct {
	Key       string
	AccountID string
	StaffID   string
}

// Receipt is the result of a money movement (deposit, transfer, credit,
// charge, refund). Replayed is true when the key had already been used
// with the same request and this is the first result again.
type Receipt struct {
	ID        string
	AccountID string
	Amount    money.Amount
	At        time.Time
	Replayed  bool
}

// ReserveRequest asks to hold money for a session.
type ReserveRequest struct {
	Key       string // idempotency key, e.g. "reserve:" + session id
	AccountID string
	SessionID string
	Want      money.Amount
	Min       money.Amount // at least this or ErrInsufficientFunds; ≤0 means 1 micro-dollar
	Expires   time.Time    // zero: now + Config.HoldTTL
}

// Reservation is a hold on an account for one session.
type Reservation struct {
	ID        string
	AccountID string
	SessionID string
	Granted   money.Amount // min(Want, available)
	Expires   time.Time
	Replayed  bool
}

// CommitRequest ends a reservation: Amount is charged, the rest released,
// and CDR (if any) stored in the same transaction.
type CommitRequest struct {
	ReservationID string
	Amount        money.Amount
	UsedSeconds   int64
	CDR           *CDR
}

// CommitReceipt is the result of Commit; a replay returns the first one.
type CommitReceipt struct {
	ReservationID string
	AccountID     string
	Charged       money.Amount
	Released      money.Amount
	At            time.Time
	Replayed      bool
}

// Entry is one journal line: Amount moves from account From to account
// To. Account names are "debit" (the resident's available balance),
// "hold" (a reservation), and the system accounts "deposits", "trust",
// "credits", "refunds" and "revenue".
type Entry struct {
	ID            int64
	Kind          string // deposit, transfer, reserve, extend, commit, release, settle, credit, charge, refund
	AccountID     string
	ReservationID string
	From, To      string
	Amount        money.Amount
	Party         string // depositor, staff or service
	Memo          string
	At            time.Time
}

// AvailableDelta is the entry's effect on the resident's available balance.
func (e Entry) AvailableDelta() money.Amount { return delta(e, accDebit) }

// HeldDelta is the entry's effect on the resident's held balance.
func (e Entry) HeldDelta() money.Amount { return delta(e, accHold) }

func delta(e Entry, acc string) money.Amount {
	switch acc {
	case e.To:
		return e.Amount
	case e.From:
		return -e.Amount
	}
	return 0
}

// StatementQuery selects journal entries of one account: Since ≤ at <
// Until (zero: unbounded), oldest first, at most Limit (default 100, max
// 1000) after entry id After.
type StatementQuery struct {
	Since, Until time.Time
	After        int64
	Limit        int
}

// Difference is one cached balance that does not match the journal.
type Difference struct {
	Account string // account or reservation id
	Field   string // available, held, reservation, negative
	Cached  money.Amount
	Journal money.Amount
}

// CheckReport is the result of Check: every cached balance recomputed
// from the journal. Totals are the system accounts' journal balances.
type CheckReport struct {
	Accounts     int
	Reservations int
	Entries      int64
	Differences  []Difference
	Totals       map[string]money.Amount
}

// Clean reports whether no difference was found.
func (r CheckReport) Clean() bool { return len(r.Differences) == 0 }
