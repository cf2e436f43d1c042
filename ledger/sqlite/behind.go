package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// The journal's and the CDRs' per-account indexes are postings that the
// writer adds behind the writes (ledger.IndexesBehind): before it
// commits a batch, once either table has IndexRows rows or more above
// its mark, it adds one posting per account for them to
// ledger_journal_by_account and ledger_cdrs_by_account and moves the
// marks, in the batch's own transaction. An SQL index on (account_id,
// …) would cost every batch one 4 KiB b-tree leaf per account it
// touches, rewritten in the WAL and again at the checkpoint, and a
// session's reserve and commit land in different batches; a fill costs
// one sort of the tail and one short row per account in it. Reads of
// one account scan at most the tail above the mark (docs/LEDGER.md).
const (
	qTails = `SELECT
	(SELECT COALESCE(MAX(id), 0) FROM ledger_journal) - (SELECT upto FROM ledger_index_marks WHERE name = 'journal'),
	(SELECT COALESCE(MAX(seq), 0) FROM ledger_cdrs) - (SELECT upto FROM ledger_index_marks WHERE name = 'cdrs')`
	// A fill adds one posting per account: the ids of its rows above
	// the mark, as a JSON array.
	qFillJournal = `INSERT OR IGNORE INTO ledger_journal_by_account (account, first, last, at_min, at_max, entries)
SELECT account_id, MIN(id), MAX(id), MIN(at_us), MAX(at_us), json_group_array(id) FROM ledger_journal
WHERE id > (SELECT upto FROM ledger_index_marks WHERE name = 'journal') GROUP BY account_id`
	qMarkJournal = `UPDATE ledger_index_marks SET upto = (SELECT COALESCE(MAX(id), 0) FROM ledger_journal) WHERE name = 'journal'`
	qFillCDRs    = `INSERT OR IGNORE INTO ledger_cdrs_by_account (account, first, last, seqs)
SELECT account_id, MIN(seq), MAX(seq), json_group_array(seq) FROM ledger_cdrs
WHERE seq > (SELECT upto FROM ledger_index_marks WHERE name = 'cdrs') GROUP BY account_id`
	qMarkCDRs = `UPDATE ledger_index_marks SET upto = (SELECT COALESCE(MAX(seq), 0) FROM ledger_cdrs) WHERE name = 'cdrs'`
)

var fillStatements = []string{qFillJournal, qMarkJournal, qFillCDRs, qMarkCDRs}

// IndexesBehind marks the Store as keeping the per-account indexes
// behind the writes: the Ledger reads one account's rows accordingly.
func (s *Store) IndexesBehind() {}

// catchUp indexes every row above the marks, in one transaction: at
// open, so that a file from before (whose SQL indexes the schema
// dropped), or one whose tail grew, starts with a short tail.
func catchUp(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("ledger/sqlite: index: %w", err)
	}
	defer tx.Rollback()
	for _, q := range fillStatements {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("ledger/sqlite: index: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("ledger/sqlite: index: %w", err)
	}
	return nil
}

// indexBehind runs on the writer, in the open transaction of a batch
// that wrote, just before its COMMIT: when a tail has reached
// IndexRows, it fills both index tables. The fill needs no savepoint:
// OR IGNORE lets no row abort it (none can be there twice: each fill
// starts above the mark the last one moved), so a failure is an I/O
// error, which makes the batch's COMMIT fail too; nothing is half
// indexed, and reads stay right, since they scan the tail.
func (s *Store) indexBehind(wc *wconn) {
	t := wc.newTx()
	var journal, cdrs int64
	if err := t.QueryRow(context.Background(), qTails).Scan(&journal, &cdrs); err != nil {
		s.indexFailed()
		return
	}
	if journal < int64(s.cfg.IndexRows) && cdrs < int64(s.cfg.IndexRows) {
		return
	}
	for _, q := range fillStatements {
		if _, err := wc.exec(q); err != nil {
			s.indexFailed()
			return
		}
	}
}

// indexFailed counts a failed fill (ipcs_ledger_store_errors_total).
func (s *Store) indexFailed() {
	if s.m != nil {
		s.m.StoreErrors.WithLabelValues("index").Inc()
	}
}
