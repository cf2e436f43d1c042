// Package ledger is the residents' prepaid debit ledger: accounts,
// deposits, trust transfers, reservations (holds) for metered sessions,
// commits with their CDRs, releases, credits, release refunds and charges
// for other services, kept as a double-entry journal on a Store
// (ledger/sqlite, the embedded default, or ledger/postgres, shared by
// several nodes).
//
// The journal (ledger_journal) is append-only and is the truth. Each row
// moves a positive amount from one account to another: the resident's
// "debit" (available) balance, a reservation's "hold", and the system
// accounts "deposits", "trust", "credits", "refunds" and "revenue". An
// account's balance row (available, held) is a cached sum changed only in
// the same transaction as the rows that move it; Check recomputes every
// cached balance from the journal and reports each difference. No
// operation takes a balance below zero: every debit is a conditional
// UPDATE (… WHERE available >= x), and CHECK constraints back it up.
//
// Every money movement carries an idempotency key: a retry with the same
// key and request returns the first result (Replayed set); the same key
// with another request is ErrIdempotencyConflict. Commit is keyed by its
// reservation and happens once.
//
// Sessions follow RFC 4006 credit control: Reserve a slice before the
// session starts, Extend it as the Meter asks, Checkpoint usage, Commit
// actual usage (the rest is released) or Release. A reservation carries
// an expiry that each Extend and Checkpoint pushes out; after a crash,
// Recover (at start-up, this node's reservations) and SettleStale (any
// node, once expired; Run calls it periodically) commit the last
// checkpointed usage and release the rest. A crash therefore costs the
// resident at most the usage since the last checkpoint, never more.
//
// # Concurrency
//
// A Ledger is safe for concurrent use and starts no goroutines of its
// own; Run blocks until its ctx ends and is owned by the caller. Several
// Ledgers on one PostgreSQL never overdraw an account: Reserve is one
// conditional statement that PostgreSQL re-checks against the newest row
// version, and every state change of a reservation is a conditional
// UPDATE on its status, so a settlement racing a commit moves money once.
// On a store that implements OneShot (PostgreSQL), Reserve and Commit
// are each one statement, with the same conditional UPDATEs
// (fastpath.go), which the store group-commits with other callers'
// statements in one transaction, sorted by the lock order of
// lockorder.go. The SQLite store batches concurrent
// operations into group commits through a writer and a sync goroutine
// that it owns (see ledger/sqlite).
//
// # Errors
//
// Failures are the sentinels of errors.go, wrapped with context; branch
// with errors.Is. ResultCode names each as the stable snake_case code
// used as the metrics' result label and the API's error code. ErrRetry
// and ErrNoRow belong to the Store contract and do not reach callers
// (an operation that keeps losing races returns a wrapped ErrRetry).
package ledger
