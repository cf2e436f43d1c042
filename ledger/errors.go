package ledger

import "errors"

// The ledger's sentinels. Callers branch on them with errors.Is; the API
// maps each to one wire code in api/ledger.go (ledgerError).
var (
	// ErrInsufficientFunds means the account cannot cover the amount (or
	// a reservation's minimum); nothing was written.
	ErrInsufficientFunds = errors.New("insufficient funds")
	// ErrPerTransactionLimit means a deposit is above the facility's
	// per-transaction maximum.
	ErrPerTransactionLimit = errors.New("deposit above the per-transaction limit")
	// ErrWeeklyLimit means a deposit would take the resident's deposits in
	// the facility's calendar week (Sunday–Saturday) above the weekly
	// maximum.
	ErrWeeklyLimit = errors.New("deposit above the weekly limit")
	// ErrIdempotencyConflict means the key was already used for a
	// different request (or a reservation was already committed with a
	// different amount).
	ErrIdempotencyConflict = errors.New("idempotency key reused with a different request")
	// ErrAccountReleased means the resident has been released: the
	// account takes no deposits, reservations or charges, only credits and
	// the release refund.
	ErrAccountReleased = errors.New("account released")
	// ErrAccountActive means a release refund was asked for an account
	// whose resident has not been released.
	ErrAccountActive = errors.New("account not released")
	// ErrRefundWindow means a release refund was asked earlier than 30
	// days or later than 12 months after the release date.
	ErrRefundWindow = errors.New("outside the release refund window")
	// ErrNotFound means no such account, reservation or facility.
	ErrNotFound = errors.New("not found")
	// ErrOverHold means a commit asked for more than the reservation
	// holds. Nothing is written and the reservation stays open: the
	// caller commits at most Reservation.Held (the Meter never grants more
	// than was reserved), so no path overdraws an account.
	ErrOverHold = errors.New("commit above the reserved amount")
	// ErrReservationClosed means the reservation was already released or
	// settled, so it can be neither extended, checkpointed nor committed.
	ErrReservationClosed = errors.New("reservation already closed")
	// ErrInvalid means a request is malformed (empty key or id, negative
	// or absurd amount, bad zone); the API refuses such input before it
	// reaches the ledger.
	ErrInvalid = errors.New("invalid ledger request")
	// ErrOverload means the backend's bounded queue is full; retry later
	// (HTTP 503, SIP 503).
	ErrOverload = errors.New("ledger overloaded")
	// ErrClosed means the store was closed.
	ErrClosed = errors.New("ledger closed")
	// ErrNoRow is what a backend's Row.Scan returns when a query matched
	// no row (the Store contract; callers of the Ledger never see it).
	ErrNoRow = errors.New("no row")
	// ErrRetry is what a backend returns, or what an operation returns
	// through a backend, when the transaction lost a race (a unique key
	// taken by a concurrent transaction, a serialization failure or
	// deadlock); the Ledger runs the operation again.
	ErrRetry = errors.New("transaction lost a race; retry")
)
