// Package postgres is the shared, multi-node ledger.Store on PostgreSQL
// (and engines that speak its protocol), using a native pgx pool.
//
// # Concurrency
//
// Each Update is one PostgreSQL transaction (READ COMMITTED) on a pooled
// connection. QueryOne (ledger.OneShot: the Ledger's one-statement
// Reserve and Commit) is group-committed: a bounded queue
// (Config.MaxInFlight; full: ledger.ErrOverload) feeds Config.Writers
// writer goroutines, each of which takes every op queued while it was
// busy (up to Config.MaxBatch) and sends them as ONE transaction in ONE
// round trip (BEGIN, the statements sorted by their lock order, COMMIT,
// pipelined), answering each op once COMMIT returned. A statement that
// fails aborts PostgreSQL's transaction; its op alone gets the error and
// the batch is sent again without it, so no op is undone by another's
// failure. Each op is still one conditional statement inside a
// transaction, so the multi-node guarantees below are unchanged. Several
// writers keep the server busy while one batch waits for its WAL flush,
// and concurrent transactions from many goroutines and nodes share WAL
// flushes, PostgreSQL's own group commit. Close stops the writers,
// answers what is queued with ledger.ErrClosed and waits for the batches
// in flight. The ledger's
// conditional statements (the reservation's UPDATE … WHERE available >=
// min) make two nodes unable to overdraw an account; row locks are taken
// reservation before account, so they cannot deadlock one another.
// In-flight operations are bounded (Config.MaxInFlight); beyond it
// Update returns ledger.ErrOverload at once.
//
// # Errors
//
// Serialization failures, deadlocks and unique violations come back as
// ledger.ErrRetry (the Ledger runs the operation again); other database
// errors are wrapped. A group commit whose COMMIT or connection fails
// fails every op of the batch.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"ipcs/ledger"
)

// Config tunes the pool. Zero values mean the defaults.
type Config struct {
	// MaxConns is the pool size. Default 32: operations are mostly one
	// statement each (ledger.OneShot), so more connections put more
	// commits into each of PostgreSQL's WAL flushes.
	MaxConns int32
	// MaxInFlight bounds concurrent operations, and separately the ops
	// queued for a group commit; beyond it Update and QueryOne return
	// ledger.ErrOverload. Default 1024.
	MaxInFlight int
	// Writers is the number of group-commit writers, each sending one
	// batch (one transaction) at a time on a pooled connection. Default
	// 2: one batch is in PostgreSQL's WAL flush while the next executes;
	// more writers make smaller batches (more commits) for little gain
	// (docs/PERFORMANCE.md, "Ledger").
	Writers int
	// MaxBatch bounds the ops in one group commit. Default 128.
	MaxBatch int
}

// Validate reports the first bad field.
func (c Config) Validate() error {
	if c.MaxConns < 0 || c.MaxInFlight < 0 || c.Writers < 0 || c.MaxBatch < 0 {
		return fmt.Errorf("ledger/postgres: negative MaxConns, MaxInFlight, Writers or MaxBatch")
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.MaxConns == 0 {
		c.MaxConns = 32
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 1024
	}
	if c.Writers == 0 {
		c.Writers = 2
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = 128
	}
	return c
}

// Store is the PostgreSQL ledger.Store.
type Store struct {
	pool *pgxpool.Pool
	cfg  Config
	sem  chan struct{}
	// binds caches '?' → '$n' rewrites by query text.
	binds sync.Map

	queue chan *op      // ops waiting for a group commit
	stop  chan struct{} // closed by Close: the writers drain and end
	wg    sync.WaitGroup

	// mu guards closed; QueryOne holds it shared while it enqueues so
	// that nothing enters the queue after Close has begun draining it.
	mu     sync.RWMutex
	closed bool
}

// Open connects to dsn (postgres://…; a search_path parameter selects the
// schema), creates the ledger tables if needed and returns the Store.
func Open(ctx context.Context, dsn string, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("ledger/postgres: parse address: %w", err)
	}
	pc.MaxConns = cfg.MaxConns
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("ledger/postgres: connect: %w", err)
	}
	s := &Store{pool: pool, cfg: cfg, sem: make(chan struct{}, cfg.MaxInFlight),
		queue: make(chan *op, cfg.MaxInFlight), stop: make(chan struct{})}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	s.wg.Add(cfg.Writers)
	for range cfg.Writers {
		go s.writer()
	}
	return s, nil
}

// migrate runs the schema under an advisory lock, so that nodes starting
// together do not race on CREATE.
func (s *Store) migrate(ctx context.Context) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("ledger/postgres: migrate: %w", err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7220151)`); err != nil {
		return fmt.Errorf("ledger/postgres: migrate lock: %w", err)
	}
	for _, q := range schema {
		if _, err := tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("ledger/postgres: migrate: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("ledger/postgres: migrate: %w", err)
	}
	return nil
}

// Close stops the group-commit writers (queued ops fail with
// ledger.ErrClosed; batches in flight finish) and closes the pool.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	s.wg.Wait()
	s.pool.Close()
	return nil
}

// Update runs fn in one transaction.
func (s *Store) Update(ctx context.Context, fn func(context.Context, ledger.Tx) error) error {
	select {
	case s.sem <- struct{}{}:
	default:
		return ledger.ErrOverload
	}
	defer func() { <-s.sem }()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("ledger/postgres: begin: %w", classify(err))
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := fn(ctx, &pgTx{s: s, tx: tx}); err != nil {
		return classify(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("ledger/postgres: commit: %w", classify(err))
	}
	return nil
}

// View runs fn in a read-only REPEATABLE READ transaction: one snapshot.
func (s *Store) View(ctx context.Context, fn func(context.Context, ledger.Tx) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("ledger/postgres: begin read: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	return fn(ctx, &pgTx{s: s, tx: tx})
}

// classifyOneShot is classify for a one-statement fast path (QueryOne):
// a statement that fails on a constraint (class 23) wrote nothing, and
// the Ledger's Update path, with statements of their own, explains or
// redoes it. A one-statement commit racing an extension of the same
// reservation meets the account's CHECK (held ≥ 0) on the row version
// the statement began with, before PostgreSQL re-reads the row that the
// extension changed.
func classifyOneShot(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && strings.HasPrefix(pe.Code, "23") {
		return fmt.Errorf("%w: %w", ledger.ErrRetry, err)
	}
	return classify(err)
}

// classify turns races PostgreSQL reports into ledger.ErrRetry.
func classify(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "40001", "40P01", "23505": // serialization failure, deadlock, unique violation
			return fmt.Errorf("%w: %w", ledger.ErrRetry, err)
		}
	}
	return err
}

// bind rewrites the Ledger's portable placeholders: each '?' is the next
// $n, and '?NNN' is $NNN (a query uses one style or the other).
func (s *Store) bind(q string) string {
	if v, ok := s.binds.Load(q); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 0
	in := false
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'':
			in = !in
			b.WriteByte(c)
		case c == '?' && !in && i+1 < len(q) && q[i+1] >= '0' && q[i+1] <= '9':
			// ?NNN (SQLite's numbered parameter, which the Ledger uses to
			// bind a value once for several uses) is $NNN.
			b.WriteByte('$')
		case c == '?' && !in:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	s.binds.Store(q, b.String())
	return b.String()
}

type pgTx struct {
	s  *Store
	tx pgx.Tx
}

func (t *pgTx) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := t.tx.Exec(ctx, t.s.bind(q), args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (t *pgTx) QueryRow(ctx context.Context, q string, args ...any) ledger.Row {
	return row{t.tx.QueryRow(ctx, t.s.bind(q), args...)}
}

func (t *pgTx) Query(ctx context.Context, q string, args ...any) (ledger.Rows, error) {
	r, err := t.tx.Query(ctx, t.s.bind(q), args...)
	if err != nil {
		return nil, err
	}
	return r, nil
}

type row struct{ r pgx.Row }

func (r row) Scan(dest ...any) error {
	err := r.r.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return ledger.ErrNoRow
	}
	return err
}
