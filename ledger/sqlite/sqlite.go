// Package sqlite is the embedded ledger.Store: the ledger_* tables in the
// SQLite file that internal/sqldb opens, written through one group-commit
// writer.
//
// # Concurrency
//
// SQLite has one writer. Store.Update hands each operation to a single
// writer goroutine through a bounded queue (Config.QueueLen); a full
// queue is refused at once with ledger.ErrOverload. The writer owns one
// connection (opened on SQLite's own API, not through the driver;
// statements prepared once: rawconn.go) and keeps a
// transaction open: it runs each operation as soon as it arrives and
// commits the batch (up to Config.MaxBatch operations) when the syncer
// goroutine is free, after yielding so that the callers the syncer just
// answered can add their next operations (writer.go, linger). The
// syncer fsyncs the -wal file once for every
// batch committed since its last fsync and only then answers their
// callers, so an fsync overlaps the next batch's work. Operations run
// without savepoints: almost all validate before they write, and when one
// fails after writing, the writer rolls the batch back and runs it again
// with a savepoint per operation, so a failing operation never takes
// others with it. Reads (View) run on a separate small read-only pool, so
// balances and statements never wait behind a batch. A third goroutine,
// the checkpointer, copies the WAL into the database on a connection of
// its own (checkpoint.go); the writer's connection never checkpoints
// inside a COMMIT, and finishes the checkpointer's work between two
// batches so that the WAL restarts. Close stops the writer, answers what
// is queued with ledger.ErrClosed and waits for all three goroutines.
//
// # Per-account indexes
//
// The journal's and the CDRs' per-account indexes are postings that the
// writer fills behind the writes, every Config.IndexRows rows, inside a
// batch's transaction (behind.go); reads of one account take the
// postings and scan the short tail above them.
//
// # Durability
//
// With Synchronous "FULL" (the default) no operation is answered before
// the WAL frames of its batch, and of every batch before it, are fsynced
// (fdatasync on Linux, as SQLite syncs its WAL):
// an answered operation survives power loss. The writer's connection runs
// SQLite's synchronous=NORMAL, because the store's own fsync replaces the
// one COMMIT would do; checkpoints still fsync the WAL and the database.
// WAL recovery keeps a prefix of the commits, so a power loss drops only
// batches not yet answered, newest first. Between its COMMIT and its
// fsync (about a millisecond) a batch is visible to View, and to the next
// batch; nothing answers a write caller before that fsync, so a caller
// never holds a result that a power loss can undo, though a balance read
// in that window may show a batch that a power loss then drops. With
// "NORMAL" the store does not fsync: operations are answered at COMMIT
// and survive a process crash, but a power loss may drop the commits
// since the last checkpoint.
//
// # Errors
//
// An operation's own error undoes only that operation. A failed COMMIT
// fails every operation of the batch; nothing of it is kept. A failed
// fsync fails the operations it covered and every later one (fail-stop:
// after a failed fsync the file's state is unknown).
package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"

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
	// Synchronous is the durability of an answered write: "FULL"
	// (default: the WAL is fsynced before answering, so it survives
	// power loss) or "NORMAL" (answered at COMMIT: it survives a process
	// crash, not necessarily a power loss). See the package comment.
	Synchronous string
	// ReadConns is the size of the read pool. Default 4.
	ReadConns int
	// IndexRows is how many journal or CDR rows may wait above the
	// per-account indexes before the writer indexes them (behind.go):
	// larger makes batches cheaper and one account's reads scan a longer
	// tail. Default 4096.
	IndexRows int
}

// Validate reports the first bad field.
func (c Config) Validate() error {
	switch {
	case c.QueueLen < 0 || c.MaxBatch < 0 || c.ReadConns < 0 || c.IndexRows < 0:
		return fmt.Errorf("ledger/sqlite: negative QueueLen, MaxBatch, ReadConns or IndexRows")
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
	if c.IndexRows == 0 {
		c.IndexRows = 4096
	}
	return c
}

// Store is the SQLite ledger.Store.
type Store struct {
	read  *sql.DB // our read-only pool (the writer's connection is its own: rawconn.go)
	cfg   Config
	m     *metrics.Ledger
	rstmt stmtCache
	ckpt  *checkpointer // owned by the syncer, which stops it
	// readers bounds concurrent read transactions to ReadConns, leaving
	// the read pool's last connection free for preparing statements.
	readers chan struct{}
	walPath string // the -wal file the syncer fsyncs

	queue   chan *request
	pending chan *batch   // committed batches waiting for their fsync, in commit order
	idle    chan struct{} // the syncer waits for a batch: the writer may commit
	stop    chan struct{}
	done    chan struct{} // closed when the syncer (the last goroutine) ends

	// mu guards closed; Update holds it shared while it enqueues so that
	// nothing enters the queue after Close has begun draining it.
	mu     sync.RWMutex
	closed bool

	// reqs recycles requests and their answer channels (two
	// allocations fewer per operation).
	reqs sync.Pool

	// broken is set when an fsync failed: nothing written after it can be
	// called durable, so every later operation fails (fail-stop, as
	// PostgreSQL does on an fsync failure).
	broken atomic.Pointer[error]
}

type request struct {
	ctx  context.Context
	fn   func(context.Context, ledger.Tx) error
	done chan error // buffered (1): the one answer
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
	if err := catchUp(ctx, db.DB); err != nil {
		return nil, err
	}
	// The ledger opens its own connections to the shared file: the
	// writer's single connection and a read-only pool. The writer runs
	// with synchronous=NORMAL: COMMIT writes the WAL frames but does not
	// fsync them; with Synchronous "FULL" the syncer fsyncs the -wal file
	// before any caller of the batch is answered (see the package
	// comment). Checkpoints sync the WAL and the database in both modes.
	// Other packages' writes on db wait for a batch through SQLite's file
	// lock and busy timeout.
	//
	// The writer never checkpoints (wal_autocheckpoint=0): the
	// checkpointer does, on its own connection, beside it
	// (checkpoint.go). Its page cache (16 MiB) holds the pages a batch
	// touches — the tails of the tables and the leaves of the
	// per-account indexes — so that it rarely reads one back.
	raw, err := openRaw(db.DSN, "PRAGMA busy_timeout = 10000", "PRAGMA foreign_keys = 1",
		"PRAGMA synchronous = NORMAL", "PRAGMA wal_autocheckpoint = 0", "PRAGMA cache_size = -16384")
	if err != nil {
		return nil, fmt.Errorf("ledger/sqlite: open writer: %w", err)
	}
	wc := newWConn(raw)
	r := url.Values{}
	r.Add("_pragma", "busy_timeout(10000)")
	r.Add("_pragma", "query_only(1)")
	read, err := sql.Open("sqlite", "file:"+db.DSN+"?"+r.Encode())
	if err != nil {
		wc.close()
		return nil, fmt.Errorf("ledger/sqlite: open read pool: %w", err)
	}
	// One connection more than read transactions may hold: a transaction
	// that meets a statement not yet in rstmt prepares it on the pool, and
	// with every connection held by such transactions that prepare would
	// wait forever (readers gates View to ReadConns).
	read.SetMaxOpenConns(cfg.ReadConns + 1)
	read.SetMaxIdleConns(cfg.ReadConns + 1)
	ckpt, err := newCheckpointer(db.DSN, m)
	if err != nil {
		read.Close()
		wc.close()
		return nil, err
	}
	s := &Store{
		read: read, cfg: cfg, m: m, ckpt: ckpt,
		rstmt:   stmtCache{db: read},
		readers: make(chan struct{}, cfg.ReadConns),
		walPath: db.DSN + "-wal",
		queue:   make(chan *request, cfg.QueueLen),
		pending: make(chan *batch, maxPending),
		idle:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	s.reqs.New = func() any { return &request{done: make(chan error, 1)} }
	writerDone := make(chan struct{})
	go s.ckpt.run()
	go s.writer(wc, writerDone)
	go s.syncer(writerDone)
	return s, nil
}

// Close stops the writer, failing queued operations with
// ledger.ErrClosed, waits for the last fsync and closes the Store's
// connections. The shared sqldb.DB stays open.
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
	s.rstmt.close()
	return s.read.Close()
}

// Update queues fn for the writer and waits for its batch to commit.
func (s *Store) Update(ctx context.Context, fn func(context.Context, ledger.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	req := s.reqs.Get().(*request)
	req.ctx, req.fn = ctx, fn
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		s.putRequest(req)
		return ledger.ErrClosed
	}
	select {
	case s.queue <- req:
	default:
		s.mu.RUnlock()
		s.putRequest(req)
		return ledger.ErrOverload
	}
	s.mu.RUnlock()
	// Once queued, wait for the answer even if ctx ends: the writer skips
	// a request whose ctx has ended before it runs, and fn must not run
	// while its caller reads what fn writes.
	err := <-req.done
	// Every queued request is answered exactly once (by the syncer or
	// by drain), and nothing touches it after that answer: it can
	// serve the next Update.
	s.putRequest(req)
	return err
}

func (s *Store) putRequest(r *request) {
	r.ctx, r.fn = nil, nil
	s.reqs.Put(r)
}

// View runs fn in a read transaction (a WAL snapshot) on the read pool.
func (s *Store) View(ctx context.Context, fn func(context.Context, ledger.Tx) error) error {
	select {
	case s.readers <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.readers }()
	tx, err := s.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("ledger/sqlite: begin read: %w", err)
	}
	defer tx.Rollback()
	return fn(ctx, &sqlTx{tx: tx, stmts: &s.rstmt})
}
