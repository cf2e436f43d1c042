package ledger

// IndexesBehind is an optional Store capability. A store that has it
// keeps the journal's and the CDRs' per-account indexes not as SQL
// indexes but as postings that its writer adds behind the writes, many
// rows at a time (ledger/sqlite, behind.go):
//
//	ledger_journal_by_account (account, first, last, at_min, at_max, entries)
//	ledger_cdrs_by_account (account, first, last, seqs)
//	ledger_index_marks (name, upto)  -- 'journal', 'cdrs': the last id posted
//
// A posting lists, as a JSON array, the ids of one account's rows from
// first to last. Every row with an id at or below its table's mark is in
// exactly one posting; the rows above it (the tail) are in none yet. The
// Ledger then reads one account's rows as its postings' rows plus the
// tail's, found by a scan of the tail alone, with the queries below, in
// SQLite's dialect (json_each, two-argument MAX). An SQL index on
// account_id costs every batch one b-tree leaf per account it touches; a
// posting takes many batches' rows of one account at once.
type IndexesBehind interface {
	IndexesBehind()
}

// accountQueries are the statements that find one account's rows.
type accountQueries struct {
	statement, weekDeposits, cdrsOfAccount string
}

var (
	indexedQueries = accountQueries{statement: qStatement, weekDeposits: qWeekDeposits, cdrsOfAccount: qCDRsOfAccount}
	behindQueries  = accountQueries{statement: qStatementBehind, weekDeposits: qWeekDepositsBehind, cdrsOfAccount: qCDRsOfAccountBehind}
)

// The queries for a store with IndexesBehind. Each is two arms on
// disjoint rows: the account's postings, expanded by json_each and
// joined to their rows by id (ids up to the mark), and the tail (ids
// above it) scanned by id. CROSS JOIN makes SQLite walk the postings
// first; a joined row must still be the account's. The arms take the
// same arguments as the indexed queries, numbered.
const (
	journalMark = `COALESCE((SELECT upto FROM ledger_index_marks WHERE name = 'journal'), 0)`
	cdrMark     = `COALESCE((SELECT upto FROM ledger_index_marks WHERE name = 'cdrs'), 0)`

	qStatementBehind = `SELECT j.id, j.kind, j.reservation_id, j.src, j.dst, j.amount, j.party, j.memo, j.at_us
FROM ledger_journal_by_account p CROSS JOIN json_each(p.entries) e CROSS JOIN ledger_journal j ON j.id = e.value
WHERE p.account = ?1 AND p.last > ?4 AND p.at_max >= ?2 AND p.at_min < ?3
AND j.account_id = ?1 AND j.id > ?4 AND j.at_us >= ?2 AND j.at_us < ?3
UNION ALL
SELECT id, kind, reservation_id, src, dst, amount, party, memo, at_us FROM ledger_journal
WHERE id > MAX(?4, ` + journalMark + `) AND account_id = ?1 AND at_us >= ?2 AND at_us < ?3
ORDER BY 1 LIMIT ?5`

	qWeekDepositsBehind = `SELECT COALESCE(SUM(amount), 0) FROM (
SELECT j.amount FROM ledger_journal_by_account p CROSS JOIN json_each(p.entries) e CROSS JOIN ledger_journal j ON j.id = e.value
WHERE p.account = ?1 AND p.at_max >= ?2 AND j.account_id = ?1 AND j.at_us >= ?2 AND j.kind = 'deposit'
UNION ALL
SELECT amount FROM ledger_journal WHERE id > ` + journalMark + ` AND account_id = ?1 AND at_us >= ?2 AND kind = 'deposit')`

	// No column of ledger_cdrs is named as one of json_each's.
	qCDRsOfAccountBehind = `SELECT ` + cdrList + `
FROM ledger_cdrs_by_account p CROSS JOIN json_each(p.seqs) e CROSS JOIN ledger_cdrs ON seq = e.value
WHERE p.account = ?1 AND p.last > ?6 AND account_id = ?1 AND seq > ?6 AND (?2 = '' OR facility = ?3) AND ended_us >= ?4 AND ended_us < ?5
UNION ALL
SELECT ` + cdrList + ` FROM ledger_cdrs
WHERE seq > MAX(?6, ` + cdrMark + `) AND account_id = ?1 AND (?2 = '' OR facility = ?3) AND ended_us >= ?4 AND ended_us < ?5
ORDER BY 1 LIMIT ?7`
)
