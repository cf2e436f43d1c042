package scheduler

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"

	"ipcs/internal/sqldb"
)

// schema is the scheduler's tables, all prefixed sched_, created at open.
// Instants are Unix seconds (UTC); a visit's slot is kept as the
// facility's zone plus its local wall-clock start and fold (STYLE.md,
// Time: never an offset). The DDL is the same on both dialects; only the
// placeholders (Rebind) and error codes differ.
//
// Capacity and weekly limits are enforced by primary keys, not by a
// mutex or a count-then-insert: a booking inserts the lowest free station
// number (1..Stations) of its slot into sched_stations and the lowest free
// quota number (1..limit) of its resident's week into sched_quota, each in
// one INSERT … SELECT. Two nodes racing for the last station both try the
// same key; the database lets exactly one commit.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS sched_facilities (
		id TEXT PRIMARY KEY,
		config TEXT NOT NULL,
		version BIGINT NOT NULL,
		updated_at BIGINT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS sched_visitors (
		id TEXT PRIMARY KEY,
		email TEXT NOT NULL UNIQUE,
		name TEXT NOT NULL,
		zone TEXT NOT NULL,
		password TEXT NOT NULL,
		attorney INTEGER NOT NULL DEFAULT 0,
		created_at BIGINT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS sched_residents (
		id TEXT PRIMARY KEY,
		facility TEXT NOT NULL,
		grp TEXT NOT NULL,
		updated_at BIGINT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS sched_approvals (
		resident_id TEXT NOT NULL,
		visitor_id TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		PRIMARY KEY (resident_id, visitor_id))`,
	`CREATE INDEX IF NOT EXISTS sched_approvals_visitor ON sched_approvals (visitor_id)`,
	`CREATE TABLE IF NOT EXISTS sched_closures (
		id TEXT PRIMARY KEY,
		facility TEXT NOT NULL,
		grp TEXT NOT NULL DEFAULT '',
		start_utc BIGINT NOT NULL,
		end_utc BIGINT NOT NULL,
		reason TEXT NOT NULL DEFAULT '',
		CHECK (end_utc > start_utc))`,
	`CREATE INDEX IF NOT EXISTS sched_closures_facility ON sched_closures (facility, end_utc)`,
	`CREATE TABLE IF NOT EXISTS sched_visits (
		id TEXT PRIMARY KEY,
		facility TEXT NOT NULL,
		grp TEXT NOT NULL,
		resident_id TEXT NOT NULL,
		visitor_id TEXT NOT NULL,
		kind TEXT NOT NULL,
		status TEXT NOT NULL,
		start_utc BIGINT NOT NULL,
		end_utc BIGINT NOT NULL,
		zone TEXT NOT NULL,
		local_start TEXT NOT NULL,
		fold INTEGER NOT NULL DEFAULT 0,
		privileged INTEGER NOT NULL DEFAULT 0,
		station INTEGER NOT NULL,
		created_at BIGINT NOT NULL,
		updated_at BIGINT NOT NULL,
		cancelled_by TEXT NOT NULL DEFAULT '',
		credit_due INTEGER NOT NULL DEFAULT 0,
		CHECK (end_utc > start_utc))`,
	`CREATE INDEX IF NOT EXISTS sched_visits_visitor ON sched_visits (visitor_id, start_utc)`,
	`CREATE INDEX IF NOT EXISTS sched_visits_facility ON sched_visits (facility, start_utc)`,
	// A resident is in one visit at a time: the common collision (two
	// visitors booking the same resident's slot) is caught by the index
	// even when two nodes race.
	`CREATE UNIQUE INDEX IF NOT EXISTS sched_visits_resident_start ON sched_visits (resident_id, start_utc)
		WHERE status <> 'cancelled' AND status <> 'failed'`,
	`CREATE TABLE IF NOT EXISTS sched_stations (
		facility TEXT NOT NULL,
		grp TEXT NOT NULL,
		slot_start BIGINT NOT NULL,
		station INTEGER NOT NULL CHECK (station >= 1),
		visit_id TEXT NOT NULL,
		PRIMARY KEY (facility, grp, slot_start, station))`,
	`CREATE INDEX IF NOT EXISTS sched_stations_visit ON sched_stations (visit_id)`,
	`CREATE TABLE IF NOT EXISTS sched_quota (
		resident_id TEXT NOT NULL,
		week TEXT NOT NULL,
		kind TEXT NOT NULL,
		seq INTEGER NOT NULL CHECK (seq >= 1),
		visit_id TEXT NOT NULL,
		PRIMARY KEY (resident_id, week, kind, seq))`,
	`CREATE INDEX IF NOT EXISTS sched_quota_visit ON sched_quota (visit_id)`,
}

// migrate creates the tables if they do not exist.
func migrate(ctx context.Context, db *sqldb.DB) error {
	for _, q := range schema {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("scheduler: migrate (%s): %w", db.Dialect, err)
		}
	}
	return nil
}

// claimStationSQL inserts the lowest free station of a slot, if any, in
// one statement, and returns it.
const claimStationSQL = `WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < ?)
INSERT INTO sched_stations (facility, grp, slot_start, station, visit_id)
SELECT CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS BIGINT), k, CAST(? AS TEXT) FROM n
WHERE k NOT IN (SELECT station FROM sched_stations WHERE facility = ? AND grp = ? AND slot_start = ?)
ORDER BY k LIMIT 1
RETURNING station`

// claimQuotaSQL inserts the lowest free quota number of a resident's
// week and kind, if any, in one statement.
const claimQuotaSQL = `WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < ?)
INSERT INTO sched_quota (resident_id, week, kind, seq, visit_id)
SELECT CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), k, CAST(? AS TEXT) FROM n
WHERE k NOT IN (SELECT seq FROM sched_quota WHERE resident_id = ? AND week = ? AND kind = ?)
ORDER BY k LIMIT 1`

// SQLite extended result codes (sqlite3.h) for the constraint failures
// that mean "someone else took it".
const (
	sqliteConstraintPrimaryKey = 1555
	sqliteConstraintUnique     = 2067
	sqliteBusy                 = 5
)

// retryable reports whether err is a lost race that a fresh transaction
// may win or answer properly: a unique violation (another booking took
// the key first), a serialization failure or deadlock, or a busy SQLite.
func retryable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505", "40001", "40P01":
			return true
		}
		return false
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqliteConstraintPrimaryKey, sqliteConstraintUnique, sqliteBusy:
			return true
		}
	}
	return false
}

// maxAttempts bounds the retries of one booking transaction. Each retry
// is caused by a booking that committed, so with S stations a loser needs
// at most S+1 attempts to win a station or see the slot full.
const maxAttempts = 32

// inTx runs fn in a transaction and commits it, retrying from the start
// when it loses a race (see retryable). fn must be safe to rerun.
func (s *Scheduler) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	var err error
	for range maxAttempts {
		var tx *sql.Tx
		tx, err = s.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("scheduler: begin: %w", err)
		}
		err = fn(tx)
		if err == nil {
			err = tx.Commit()
		} else {
			_ = tx.Rollback()
		}
		if err == nil || !retryable(err) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return fmt.Errorf("%w: %w", ErrConflict, err)
}

// q rewrites placeholders for the dialect.
func (s *Scheduler) q(query string) string { return s.db.Rebind(query) }

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// noRows maps sql.ErrNoRows to want, keeping the cause.
func noRows(err, want error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return want
	}
	return err
}
