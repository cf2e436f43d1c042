package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"ipcs/ledger"
)

// syncFile is syncData; tests replace it to fail an fsync.
var syncFile = syncData

// maxPending bounds the committed batches waiting for an fsync; beyond
// it the writer waits, which backs the queue up to Update's ErrOverload.
const maxPending = 64

// lingerRounds bounds how often the writer, once the syncer is free,
// yields before it commits (see linger).
const lingerRounds = 4

// batch is one group commit: its requests, their answers, and whether
// its transaction committed anything that needs an fsync.
type batch struct {
	reqs  []*request
	errs  []error
	live  []bool // run (its ctx had not ended when it was taken)
	wrote bool   // the transaction changed the database
	// savepoints is set once an operation failed after writing: the
	// batch was run again with a savepoint per operation, and so is the
	// rest of it.
	savepoints bool
}

// writer runs batches on the writer connection until Close, handing each
// to the syncer, and closes the connection.
func (s *Store) writer(wc *wconn, writerDone chan<- struct{}) {
	defer close(writerDone)
	defer close(s.pending)
	defer wc.close()
	s.loop(wc)
}

// loop keeps one transaction open while the syncer is busy: it runs
// each operation as soon as it arrives and commits the batch when the
// syncer is free to fsync it (or the batch is full). The fsync of one
// batch thus overlaps the work of the next, and batches grow as large
// as the fsync is slow.
func (s *Store) loop(wc *wconn) {
	var (
		b    *batch // the open batch: run, not yet committed
		open bool   // a transaction is open
	)
	// flush commits the open batch and hands it to the syncer.
	flush := func() {
		if b == nil {
			return
		}
		if open {
			if b.wrote {
				s.indexBehind(wc)
			}
			s.commit(wc, b)
			open = false
		}
		s.pending <- b
		b = nil
		s.ckpt.finish(wc)
	}
	defer flush()
	for {
		if b == nil {
			// Idle: wait for work.
			select {
			case <-s.stop:
				s.drain(ledger.ErrClosed)
				return
			case r := <-s.queue:
				b = &batch{}
				open = s.add(wc, b, r, open)
			}
		}
		// Take whatever is queued, up to MaxBatch.
	fill:
		for len(b.reqs) < s.cfg.MaxBatch {
			select {
			case r := <-s.queue:
				open = s.add(wc, b, r, open)
			default:
				break fill
			}
		}
		if len(b.reqs) >= s.cfg.MaxBatch {
			flush()
			continue
		}
		// Commit when the syncer is free; meanwhile keep adding work.
		select {
		case <-s.idle:
			s.linger(wc, b, &open)
			flush()
		case r := <-s.queue:
			open = s.add(wc, b, r, open)
		case <-s.stop:
			flush()
			s.drain(ledger.ErrClosed)
			return
		}
	}
}

// linger lets the callers that the syncer has just answered queue their
// next operations before the writer commits: it yields the processor
// and takes what was queued meanwhile, again while that brings work, at
// most lingerRounds times (and never past MaxBatch). Without it those
// operations would wait in the next batch for one more fsync; with it a
// batch is larger and batches fewer, and every batch costs its COMMIT
// the pages all batches touch (account rows, the tails of the tables)
// and the syncer one fsync (docs/PERFORMANCE.md, "Ledger"). A yield
// with nothing else runnable returns at once, so a lone caller waits
// no longer.
func (s *Store) linger(wc *wconn, b *batch, open *bool) {
	for round := 0; round < lingerRounds; round++ {
		runtime.Gosched()
		got := false
	take:
		for len(b.reqs) < s.cfg.MaxBatch {
			select {
			case r := <-s.queue:
				*open = s.add(wc, b, r, *open)
				got = true
			default:
				break take
			}
		}
		if !got {
			return
		}
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

// add runs r in b's transaction (beginning one if none is open) and
// reports whether a transaction is open afterwards. Most operations
// validate before they write (replays, insufficient funds, closed
// reservations and over-hold commits fail without writing), so none
// needs a savepoint of its own. One that fails after writing makes add
// roll the transaction back and run the batch again, each operation
// inside a savepoint.
func (s *Store) add(wc *wconn, b *batch, r *request, open bool) bool {
	i := len(b.reqs)
	b.reqs = append(b.reqs, r)
	b.errs = append(b.errs, nil)
	b.live = append(b.live, false)
	if err := r.ctx.Err(); err != nil {
		b.errs[i] = err
		return open
	}
	if e := s.broken.Load(); e != nil {
		b.errs[i] = *e
		return open
	}
	b.live[i] = true
	if !open {
		if _, err := wc.exec("BEGIN IMMEDIATE"); err != nil {
			b.errs[i] = fmt.Errorf("ledger/sqlite: begin: %w", err)
			b.live[i] = false
			return false
		}
	}
	t := wc.newTx()
	if b.savepoints {
		b.errs[i] = s.runSavepoint(wc, t, r)
		b.wrote = true
		return true
	}
	err := r.fn(context.Background(), t)
	b.errs[i] = err
	if err == nil || !t.dirty {
		b.wrote = b.wrote || t.dirty
		return true
	}
	// Failed after writing: undo the transaction, run everything again.
	wc.exec("ROLLBACK")
	b.savepoints = true
	if _, err := wc.exec("BEGIN IMMEDIATE"); err != nil {
		s.fail(b, fmt.Errorf("ledger/sqlite: begin: %w", err))
		return false
	}
	b.wrote = false
	for j, r := range b.reqs {
		if !b.live[j] {
			continue
		}
		b.errs[j] = s.runSavepoint(wc, t, r)
		b.wrote = true
	}
	return true
}

// runSavepoint runs one operation inside a savepoint, so that its
// failure leaves the batch's other operations.
func (s *Store) runSavepoint(wc *wconn, t *wtx, r *request) error {
	if _, err := wc.exec("SAVEPOINT op"); err != nil {
		return fmt.Errorf("ledger/sqlite: savepoint: %w", err)
	}
	err := r.fn(context.Background(), t)
	if err != nil {
		if _, e := wc.exec("ROLLBACK TO op"); e != nil {
			err = fmt.Errorf("ledger/sqlite: rollback to savepoint: %w (after %w)", e, err)
		}
	}
	if _, e := wc.exec("RELEASE op"); e != nil && err == nil {
		err = fmt.Errorf("ledger/sqlite: release savepoint: %w", e)
	}
	return err
}

// commit ends b's transaction: COMMIT if it wrote, else ROLLBACK. A
// failed COMMIT fails every operation of the batch (nothing is kept).
func (s *Store) commit(wc *wconn, b *batch) {
	live := 0
	for _, l := range b.live {
		if l {
			live++
		}
	}
	if s.m != nil && live > 0 {
		s.m.BatchSize.Observe(float64(live))
	}
	if !b.wrote {
		wc.exec("ROLLBACK")
		return
	}
	if _, err := wc.exec("COMMIT"); err != nil {
		wc.exec("ROLLBACK")
		s.fail(b, fmt.Errorf("ledger/sqlite: commit: %w", err))
	}
}

// fail answers every operation of b that ran with err, except those
// whose caller gave up.
func (s *Store) fail(b *batch, err error) {
	b.wrote = false
	for i := range b.errs {
		if b.live[i] && (b.errs[i] == nil || !errors.Is(b.errs[i], context.Canceled)) {
			b.errs[i] = err
		}
	}
}

// syncer answers committed batches in commit order. With Synchronous
// "FULL" it first fsyncs the -wal file once for every batch that
// committed since the last fsync (a second level of group commit, which
// overlaps the fsync with the writer's next batch). A batch that wrote
// nothing is answered after the fsync of the batches before it, because
// its answers (replays, refusals) may rest on their writes.
func (s *Store) syncer(writerDone <-chan struct{}) {
	defer close(s.done)
	defer s.ckpt.stop()
	var wal *os.File
	defer func() {
		if wal != nil {
			wal.Close()
		}
	}()
	group := make([]*batch, 0, maxPending)
	for {
		// Tell the writer it may commit: it holds its batch open while
		// an fsync runs.
		select {
		case s.idle <- struct{}{}:
		default:
		}
		b, ok := <-s.pending
		if !ok {
			break
		}
		group = append(group[:0], b)
	more:
		for len(group) < cap(group) {
			select {
			case b, ok := <-s.pending:
				if !ok {
					break more
				}
				group = append(group, b)
			default:
				break more
			}
		}
		wrote := 0
		for _, b := range group {
			if b.wrote {
				wrote++
			}
		}
		var err error
		if wrote > 0 && s.cfg.Synchronous == "FULL" {
			if err = s.syncWAL(&wal); err != nil {
				err = fmt.Errorf("ledger/sqlite: fsync: %w", err)
				s.broken.CompareAndSwap(nil, &err)
			}
		}
		if e := s.broken.Load(); e != nil && err == nil {
			// Fail-stop: a batch committed before an fsync failed is not
			// durable for the fsync after it (the kernel may have dropped
			// the failed pages, and WAL recovery stops at the first bad
			// frame), nor is anything resting on it.
			err = *e
		}
		for _, b := range group {
			for i, r := range b.reqs {
				e := b.errs[i]
				if err != nil && b.live[i] {
					e = err
				}
				r.done <- e
			}
		}
		if wrote > 0 && err == nil {
			s.ckpt.committed(wrote)
		}
	}
	<-writerDone
}

// syncWAL fsyncs the -wal file: every frame written by a COMMIT that
// returned before the call is durable when it returns. The file lives as
// long as the writer's connection (SQLite removes it only when the last
// connection closes); the first call also fsyncs the directory, which
// SQLite would do on the first sync of a new WAL.
func (s *Store) syncWAL(wal **os.File) error {
	if *wal == nil {
		f, err := os.Open(s.walPath)
		if err != nil {
			return err
		}
		if d, err := os.Open(filepath.Dir(s.walPath)); err == nil {
			err = d.Sync()
			d.Close()
			if err != nil {
				f.Close()
				return err
			}
		}
		*wal = f
	}
	return syncFile(*wal)
}
