package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"ipcs/ledger"
)

// op is one QueryOne waiting for a group commit.
type op struct {
	ctx   context.Context
	order string
	query string
	args  []any
	dest  []any
	res   error // the statement's own outcome: nil or ledger.ErrNoRow
	done  chan error
}

// QueryOne runs one statement atomically and durably and scans its row
// into dest; it implements ledger.OneShot. The query uses PostgreSQL's $n
// placeholders. A statement with a lock order joins a group commit: one
// of Config.Writers writer goroutines sends it with the other statements
// queued meanwhile as one transaction in one round trip (see group.go).
// One with order "" runs alone, in an implicit transaction.
func (s *Store) QueryOne(ctx context.Context, order, q string, args []any, dest ...any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if order == "" {
		return s.queryAlone(ctx, q, args, dest)
	}
	o := &op{ctx: ctx, order: order, query: q, args: args, dest: dest, done: make(chan error, 1)}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ledger.ErrClosed
	}
	select {
	case s.queue <- o:
	default:
		s.mu.RUnlock()
		return ledger.ErrOverload
	}
	s.mu.RUnlock()
	// Once queued, wait for the answer even if ctx ends: a writer skips
	// an op whose ctx ended before its batch was sent, and the caller
	// must not read dest while a writer may scan into it.
	return <-o.done
}

func (s *Store) queryAlone(ctx context.Context, q string, args []any, dest []any) error {
	select {
	case s.sem <- struct{}{}:
	default:
		return ledger.ErrOverload
	}
	defer func() { <-s.sem }()
	err := s.pool.QueryRow(ctx, q, args...).Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return ledger.ErrNoRow
	}
	return classifyOneShot(err)
}

// writer takes the ops queued while it was busy (up to Config.MaxBatch)
// and runs them as one transaction, until Close.
func (s *Store) writer() {
	defer s.wg.Done()
	batch := make([]*op, 0, s.cfg.MaxBatch)
	for {
		select {
		case <-s.stop:
			s.drain()
			return
		case o := <-s.queue:
			batch = append(batch[:0], o)
		}
	fill:
		for len(batch) < s.cfg.MaxBatch {
			select {
			case o := <-s.queue:
				batch = append(batch, o)
			default:
				break fill
			}
		}
		s.run(batch)
		clear(batch)
	}
}

// drain answers what is still queued with ledger.ErrClosed; Close has
// stopped new ops from entering.
func (s *Store) drain() {
	for {
		select {
		case o := <-s.queue:
			o.done <- ledger.ErrClosed
		default:
			return
		}
	}
}

// run sends batch as one transaction and answers its ops. When one
// statement fails, PostgreSQL aborts the transaction: that op is answered
// with its error and the others are sent again without it, so a failure
// (a lost race, a deadlock) never undoes another op. An error that is no
// single statement's (the connection, the COMMIT) fails them all.
func (s *Store) run(batch []*op) {
	live := make([]*op, 0, len(batch))
	for _, o := range batch {
		if err := o.ctx.Err(); err != nil {
			o.done <- err
			continue
		}
		live = append(live, o)
	}
	// The lock order (ledger.OneShot): shared transactions that lock
	// rows in one order cannot deadlock one another.
	slices.SortStableFunc(live, func(a, b *op) int { return cmp.Compare(a.order, b.order) })
	for len(live) > 0 {
		failed, err := s.send(live)
		if err == nil {
			for _, o := range live {
				o.done <- o.res
			}
			return
		}
		if failed < 0 {
			for _, o := range live {
				o.done <- err
			}
			return
		}
		live[failed].done <- classifyOneShot(err)
		live = slices.Delete(live, failed, failed+1)
	}
}

// send runs ops in one transaction and one round trip: BEGIN, each
// statement, COMMIT, pipelined. It returns nil once COMMIT succeeded
// (every op's res is then set), or the error and the index of the op
// whose statement failed (-1 when it was no single statement).
func (s *Store) send(ops []*op) (int, error) {
	// The batch belongs to no single caller: it runs to completion even
	// if a caller gives up (Close waits for it).
	ctx := context.Background()
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return -1, fmt.Errorf("ledger/postgres: acquire: %w", err)
	}
	defer c.Release() // a connection left inside a transaction is destroyed
	b := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(ops)+2)}
	b.Queue("BEGIN")
	for _, o := range ops {
		b.Queue(o.query, o.args...)
	}
	b.Queue("COMMIT")
	br := c.SendBatch(ctx, b)
	failed, ferr := -1, error(nil)
	if _, err := br.Exec(); err != nil {
		ferr = err
	}
	for i, o := range ops {
		err := br.QueryRow().Scan(o.dest...)
		switch {
		case err == nil:
			o.res = nil
		case errors.Is(err, pgx.ErrNoRows):
			o.res = ledger.ErrNoRow
		case ferr == nil:
			ferr = err
			var pe *pgconn.PgError
			if errors.As(err, &pe) {
				failed = i
			}
		}
	}
	if _, err := br.Exec(); err != nil && ferr == nil {
		ferr = err // COMMIT
	}
	if err := br.Close(); err != nil && ferr == nil {
		ferr = err
	}
	if ferr == nil {
		return -1, nil
	}
	if tx := c.Conn().PgConn().TxStatus(); tx != 'I' && !c.Conn().IsClosed() {
		// Leave the failed transaction so the connection can be reused.
		c.Exec(ctx, "ROLLBACK")
	}
	if failed >= 0 {
		return failed, classify(ferr)
	}
	return -1, fmt.Errorf("ledger/postgres: group commit: %w", classify(ferr))
}
