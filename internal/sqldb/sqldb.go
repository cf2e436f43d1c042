// Package sqldb opens the one database that the ledger and the scheduler
// share: an embedded SQLite file (the default) or PostgreSQL for several
// nodes. It knows only connection strings and dialects; each package owns
// its own tables and migrations.
package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // registers driver "pgx"
	_ "modernc.org/sqlite"             // registers driver "sqlite"
)

// Dialect names the SQL engine behind a DB.
type Dialect int

// The dialects ipcs speaks.
const (
	SQLite Dialect = iota + 1
	Postgres
)

func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "postgres"
	}
	return "unknown"
}

// DB is an open database and its dialect.
type DB struct {
	*sql.DB
	Dialect Dialect
	// DSN is the connection string it was opened with; the PostgreSQL
	// ledger may open a native pgx pool on it.
	DSN string
}

// Open opens dsn: "postgres://…" or "postgresql://…" for PostgreSQL,
// anything else is a SQLite file path (created on first use, in WAL mode
// with a busy timeout and foreign keys on). It pings before returning.
func Open(ctx context.Context, dsn string) (*DB, error) {
	if dsn == "" {
		return nil, fmt.Errorf("sqldb: empty database address")
	}
	var db *DB
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		sdb, err := sql.Open("pgx", dsn)
		if err != nil {
			return nil, fmt.Errorf("sqldb: open postgres: %w", err)
		}
		sdb.SetMaxOpenConns(32)
		sdb.SetMaxIdleConns(32)
		db = &DB{DB: sdb, Dialect: Postgres, DSN: dsn}
	} else {
		path := strings.TrimPrefix(dsn, "sqlite://")
		q := url.Values{}
		for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)", "foreign_keys(1)", "synchronous(NORMAL)"} {
			q.Add("_pragma", p)
		}
		q.Set("_txlock", "immediate")
		sdb, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
		if err != nil {
			return nil, fmt.Errorf("sqldb: open sqlite %s: %w", path, err)
		}
		// SQLite has one writer; one connection avoids SQLITE_BUSY storms
		// and lets callers batch writes into group commits.
		sdb.SetMaxOpenConns(1)
		db = &DB{DB: sdb, Dialect: SQLite, DSN: path}
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqldb: ping %s: %w", db.Dialect, err)
	}
	return db, nil
}

// Rebind rewrites '?' placeholders to '$1, $2, …' for PostgreSQL and
// returns q unchanged for SQLite. Question marks inside single-quoted
// literals are left alone.
func (db *DB) Rebind(q string) string {
	if db.Dialect != Postgres {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n, inQuote := 0, false
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'':
			inQuote = !inQuote
			b.WriteByte(c)
		case c == '?' && !inQuote:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
