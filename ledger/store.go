package ledger

import "context"

// Store is a transactional SQL backend: ledger/sqlite and ledger/postgres
// satisfy it. The Ledger owns every query (portable SQL with '?'
// placeholders, which a PostgreSQL store rebinds to $n); a Store owns its
// connection, its schema (the ledger_* tables, created at open) and how
// transactions are grouped.
//
// Update runs fn in a read-write transaction and commits it when fn
// returns nil. If fn returns an error, none of fn's writes are kept and
// Update returns that error. A Store may run several callers' fn in one
// database transaction (group commit); it then returns to each caller
// only after the shared commit is durable. fn must not keep tx after it
// returns and must be safe to run again: when Update returns ErrRetry,
// and inside one Update (the SQLite store runs a batch again, with
// savepoints, when one fn fails after writing). fn should run its
// checks before its writes, so that a refusal writes nothing.
//
// View runs fn in a read-only snapshot.
type Store interface {
	Update(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
	View(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
	Close() error
}

// Tx is the part of a transaction the Ledger uses. Query text uses '?'
// placeholders, or numbered '?NNN' ones (a value bound once, used
// several times; one style per query); arguments are int64 or string.
type Tx interface {
	// Exec runs a statement and returns the number of rows it changed.
	Exec(ctx context.Context, query string, args ...any) (int64, error)
	// QueryRow runs a query expected to return at most one row; its Scan
	// returns ErrNoRow when there is none.
	QueryRow(ctx context.Context, query string, args ...any) Row
	// Query runs a query returning rows; the caller closes them.
	Query(ctx context.Context, query string, args ...any) (Rows, error)
}

// Row is one result row.
type Row interface {
	Scan(dest ...any) error
}

// Rows is a result set.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// OneShot is an optional Store capability: QueryOne runs one statement
// atomically (all of its writes or none) and durably, and scans its
// single result row into dest. It returns ErrNoRow when the statement
// returned no row, and ErrRetry (wrapped) when it lost a race.
//
// A store may run several callers' statements in one transaction and one
// round trip (group commit), answering each only after that transaction
// committed; a statement that fails is then taken out and the others run
// again without it, so one caller's failure never undoes another's
// statement. order is the statement's lock order: within a shared
// transaction statements run sorted by order, and every statement locks
// rows only in that order (its resident account, and a reservation just
// before its account), so two shared transactions cannot deadlock. A
// statement with order "" runs in a transaction of its own.
//
// ledger/postgres implements it. The Ledger then runs Reserve and Commit
// as ONE statement each, with data-modifying CTEs in PostgreSQL's dialect
// (see fastpath.go), and falls back to the Update path whenever that
// statement does not succeed outright (a replay, a refusal, a race).
type OneShot interface {
	QueryOne(ctx context.Context, order, query string, args []any, dest ...any) error
}
