package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"sync/atomic"

	"ipcs/metrics"
)

// ckptEvery is how many committed batches the checkpointer lets pass
// between two checkpoints: about 1,000–3,000 WAL frames under load
// (SQLite's own default is 1,000 frames), and one checkpoint (two
// fsyncs) per 64 operations when each operation is a batch of its own.
const ckptEvery = 64

// checkpointer copies the WAL back into the database file on a
// connection of its own, so that the bulk of that work — reading the
// frames, writing the pages, fsyncing the WAL and the database — runs
// beside the writer instead of inside one of its COMMITs (the writer's
// connection has wal_autocheckpoint=0; with SQLite's default it spent
// about an eighth of its time checkpointing, docs/PERFORMANCE.md
// "Ledger").
//
// It runs PASSIVE checkpoints: they never wait for, nor block, the
// writer or readers, and copy only frames no reader still needs. SQLite
// restarts the WAL from its beginning only when a write transaction
// begins with every frame copied, which a checkpoint running beside a
// busy writer never achieves; so after two passes (the second copies
// what the writer committed during the first) the checkpointer sets
// ready, and the writer, between two batches, runs one more PASSIVE
// checkpoint itself — only the few frames since — after which its next
// batch restarts the WAL. Checkpoints fsync the WAL before they copy and
// the database after (synchronous=NORMAL on both connections), so they
// never make a commit less durable than the syncer does. A failed
// checkpoint is counted (ipcs_ledger_store_errors_total{task="checkpoint"})
// and tried again at the next trigger; meanwhile the WAL only grows.
type checkpointer struct {
	db    *sql.DB
	m     *metrics.Ledger // may be nil
	kick  chan int        // batches committed since the last kick (never blocks the syncer)
	done  chan struct{}   // closed when run ends
	ready atomic.Bool     // the WAL is (nearly) copied: the writer may finish the checkpoint
}

func newCheckpointer(path string, m *metrics.Ledger) (*checkpointer, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "synchronous(NORMAL)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("ledger/sqlite: open checkpointer: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxIdleTime(0)
	return &checkpointer{db: db, m: m, kick: make(chan int, 1), done: make(chan struct{})}, nil
}

// committed tells the checkpointer that n more batches committed. It
// never blocks: counts not yet taken are added up.
func (c *checkpointer) committed(n int) {
	for {
		select {
		case c.kick <- n:
			return
		default:
		}
		select {
		case m := <-c.kick:
			n += m
		default:
		}
	}
}

// run checkpoints every ckptEvery batches until kick is closed, then
// closes its connection.
func (c *checkpointer) run() {
	defer close(c.done)
	defer c.db.Close()
	n := 0
	for k := range c.kick {
		n += k
		if n < ckptEvery || c.ready.Load() {
			continue
		}
		n = 0
		if c.pass() && c.pass() {
			c.ready.Store(true)
		}
	}
}

// pass runs one PASSIVE checkpoint and reports whether it succeeded
// (SQLITE_BUSY, another checkpoint running, is a row with busy = 1).
func (c *checkpointer) pass() bool {
	var busy, log, copied int64
	// PASSIVE never waits, so no context is needed to bound it.
	err := c.db.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &copied)
	if err != nil && c.m != nil {
		c.m.StoreErrors.WithLabelValues("checkpoint").Inc()
	}
	return err == nil && busy == 0
}

// finish is the writer's part, called between two batches (no
// transaction open): when the checkpointer has copied nearly all of the
// WAL, copy the rest on the writer's connection, so that the writer's
// next transaction restarts the WAL.
func (c *checkpointer) finish(wc *wconn) {
	if !c.ready.CompareAndSwap(true, false) {
		return
	}
	_, _ = wc.exec("PRAGMA wal_checkpoint(PASSIVE)")
}

// stop ends run; the syncer, the only sender, has ended.
func (c *checkpointer) stop() {
	close(c.kick)
	<-c.done
}
