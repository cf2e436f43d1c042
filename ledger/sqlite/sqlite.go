// Package sqlite is the embedded ledger.Store: the ledger_* tables in the
// SQLite file that internal/sqldb opens, written through one group-commit
// writer.
//
// # Concurrency
//
// SQLite has one writer. Store.Update hands each operation to a single
// writer goroutine through a bounded queue (Config.QueueLen); the writer
// takes every operation waiting, up to Config.MaxBatch, runs them in one
// transaction, each inside its own savepoint so that one failing
// operation leaves the others, commits once (one fsync with
// synchronous=FULL) and then answers every caller. A full queue is
// refused at once with ledger.ErrOverload. Reads (View) run on a separate
// small read-only pool, so balances and statements never wait behind a
// batch (WAL readers see the last commit). Close stops the writer, answers
// what is queued with ledger.ErrClosed and waits for it.
//
// # Errors
//
// An operation's own error rolls back its savepoint and is returned to
// its caller only. A failed COMMIT fails every operation of the batch;
// nothing of it is kept.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"sync"

	"ipcs/internal/sqldb"
	"ipcs/ledger"
	"ipcs/metrics"
)

// Config tunes the group-commit writer. Zero values mean the defaults.
type Config struct {
	// QueueLen bounds operations waiting for the writer; beyond it Update
	// returns ledger.ErrOverload. Default 8192.
	QueueLen int
	// MaxBatch bounds the operations in one transaction. Default 512.
	MaxBatch int
	// Synchronous is SQLite's synchronous setting for ledger writes:
	// "FULL" (default: a commit survives power loss) or "NORMAL" (it
	// survives a process crash, the sqldb default).
	Synchronous string
	// ReadConns is the size of the read pool. Default 4.
	ReadConns int
}

// Validate reports the first bad field.
func (c Config) Validate() error {
	switch {
	case c.QueueLen < 0 || c.MaxBatch < 0 || c.ReadConns < 0:
		return fmt.Errorf("ledger/sqlite: negative QueueLen, MaxBatch or ReadConns")
	case c.Synchronous != "" && c.Synchronous != "FULL" && c.Synchronous != "NORMAL":
		return fmt.Errorf("ledger/sqlite: Synchronous %q is not FULL or NORMAL", c.Synchronous)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.QueueLen == 0 {
		c.QueueLen = 8192
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = 512
	}
	if c.Synchronous == "" {
		c.Synchronous = "FULL"
	}
	if c.ReadConns == 0 {
		c.ReadConns = 4
	}
	return c
}

// Store is the SQLite ledger.Store.
type Store struct {
	write *sql.DB // our writer's pool on the shared file
	read  *sql.DB // our read-only pool
	cfg   Config
	m     *metrics.Ledger
	wstmt stmtCache
	rstmt stmtCache

	queue chan *request
	stop  chan struct{}
	done  chan struct{}

	// mu guards closed; Update holds it shared while it enqueues so that
	// nothing enters the queue after Close has begun draining it.
	mu     sync.RWMutex
	closed bool
}

type request struct {
	ctx  context.Context
	fn   func(context.Context, ledger.Tx) error
	done chan error
}

// Open creates the ledger tables in db (a SQLite sqldb.DB, whose file
// path it also opens its own connections to) if needed and starts the
// writer. m may be nil.
func Open(ctx context.Context, db *sqldb.DB, cfg Config, m *metrics.Ledger) (*Store, error) {
	if db == nil || db.Dialect != sqldb.SQLite {
		return nil, fmt.Errorf("ledger/sqlite: need a SQLite database")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	for _, q := range schema {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("ledger/sqlite: migrate: %w", err)
		}
	}
	// The ledger opens its own connections to the shared file: the
	// writer's (synchronous as configured, statements prepared once per
	// connection; the second connection lets a statement be prepared
	// while the first is inside a batch) and a read-only pool. Other
	// packages' writes on db wait for a batch through SQLite's file lock
	// and busy timeout.
	w := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "foreign_keys(1)", "synchronous(" + cfg.Synchronous + ")"} {
		w.Add("_pragma", p)
	}
	w.Set("_txlock", "immediate")
	write, err := sql.Open("sqlite", "file:"+db.DSN+"?"+w.Encode())
	if err != nil {
		return nil, fmt.Errorf("ledger/sqlite: open writer: %w", err)
	}
	write.SetMaxOpenConns(2)
	write.SetMaxIdleConns(2)
	write.SetConnMaxIdleTime(0)
	r := url.Values{}
	r.Add("_pragma", "busy_timeout(10000)")
	r.Add("_pragma", "query_only(1)")
	read, err := sql.Open("sqlite", "file:"+db.DSN+"?"+r.Encode())
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("ledger/sqlite: open read pool: %w", err)
	}
	read.SetMaxOpenConns(cfg.ReadConns)
	read.SetMaxIdleConns(cfg.ReadConns)
	s := &Store{
		write: write, read: read, cfg: cfg, m: m,
		wstmt: stmtCache{db: write}, rstmt: stmtCache{db: read},
		queue: make(chan *request, cfg.QueueLen),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	go s.writer()
	return s, nil
}

// Close stops the writer, failing queued operations with
// ledger.ErrClosed, and closes the read pool. The shared sqldb.DB stays
// open.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	<-s.done
	s.wstmt.close()
	s.rstmt.close()
	return errors.Join(s.write.Close(), s.read.Close())
}

// Update queues fn for the writer and waits for its batch to commit.
func (s *Store) Update(ctx context.Context, fn func(context.Context, ledger.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	req := &request{ctx: ctx, fn: fn, done: make(chan error, 1)}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ledger.ErrClosed
	}
	select {
	case s.queue <- req:
	default:
		s.mu.RUnlock()
		return ledger.ErrOverload
	}
	s.mu.RUnlock()
	// Once queued, wait for the answer even if ctx ends: the writer skips
	// a request whose ctx has ended before it runs, and fn must not run
	// while its caller reads what fn writes.
	return <-req.done
}

// View runs fn in a read transaction (a WAL snapshot) on the read pool.
func (s *Store) View(ctx context.Context, fn func(context.Context, ledger.Tx) error) error {
	tx, err := s.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("ledger/sqlite: begin read: %w", err)
	}
	defer tx.Rollback()
	return fn(ctx, &sqlTx{tx: tx, stmts: &s.rstmt})
}

func (s *Store) writer() {
	defer close(s.done)
	// The writer's statements run under its own lifetime, not a caller's:
	// one caller giving up must not interrupt a shared transaction.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	batch := make([]*request, 0, s.cfg.MaxBatch)
	for {
		batch = batch[:0]
		select {
		case <-s.stop:
			s.drain(ledger.ErrClosed)
			return
		case r := <-s.queue:
			batch = append(batch, r)
		}
	fill:
		for len(batch) < s.cfg.MaxBatch {
			select {
			case r := <-s.queue:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		s.run(ctx, batch)
	}
}

func (s *Store) drain(err error) {
	for {
		select {
		case r := <-s.queue:
			r.done <- err
		default:
			return
		}
	}
}

// run executes one batch in one transaction and answers every request.
func (s *Store) run(ctx context.Context, batch []*request) {
	errs := make([]error, len(batch))
	live := 0
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		live++
	}
	if live == 0 {
		answer(batch, errs)
		return
	}
	if s.m != nil {
		s.m.BatchSize.Observe(float64(live))
	}
	if err := s.runTx(ctx, batch, errs, live); err != nil {
		for i := range errs {
			if errs[i] == nil || !errors.Is(errs[i], context.Canceled) {
				errs[i] = err
			}
		}
	}
	answer(batch, errs)
}

func answer(batch []*request, errs []error) {
	for i, r := range batch {
		r.done <- errs[i]
	}
}

func (s *Store) runTx(ctx context.Context, batch []*request, errs []error, live int) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("ledger/sqlite: begin: %w", err)
	}
	t := &sqlTx{tx: tx, stmts: &s.wstmt}
	single := live == 1
	for i, r := range batch {
		if errs[i] != nil {
			continue
		}
		if single {
			// One operation: its transaction is its savepoint.
			if errs[i] = r.fn(ctx, t); errs[i] != nil {
				tx.Rollback()
				return nil
			}
			break
		}
		if _, err := t.Exec(ctx, "SAVEPOINT op"); err != nil {
			tx.Rollback()
			return fmt.Errorf("ledger/sqlite: savepoint: %w", err)
		}
		if errs[i] = r.fn(ctx, t); errs[i] != nil {
			if _, err := t.Exec(ctx, "ROLLBACK TO op"); err != nil {
				tx.Rollback()
				return fmt.Errorf("ledger/sqlite: rollback to savepoint: %w", err)
			}
		}
		if _, err := t.Exec(ctx, "RELEASE op"); err != nil {
			tx.Rollback()
			return fmt.Errorf("ledger/sqlite: release savepoint: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("ledger/sqlite: commit: %w", err)
	}
	return nil
}
