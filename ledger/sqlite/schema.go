package sqlite

// schema creates the ledger's tables in SQLite. Amounts are INTEGER
// micro-dollars, instants INTEGER Unix microseconds (UTC). Tables keyed by
// text are WITHOUT ROWID (one b-tree per table). The journal is
// append-only: triggers refuse UPDATE and DELETE. CHECK constraints are
// the last line of defence against a negative balance.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS ledger_facilities (
	id TEXT PRIMARY KEY,
	zone TEXT NOT NULL,
	deposit_max INTEGER NOT NULL,
	weekly_max INTEGER NOT NULL
) WITHOUT ROWID`,
	`CREATE TABLE IF NOT EXISTS ledger_accounts (
	id TEXT PRIMARY KEY,
	facility TEXT NOT NULL,
	status TEXT NOT NULL,
	release_date TEXT NOT NULL DEFAULT '',
	available INTEGER NOT NULL DEFAULT 0 CHECK (available >= 0),
	held INTEGER NOT NULL DEFAULT 0 CHECK (held >= 0),
	last_move INTEGER NOT NULL DEFAULT 0,
	created_us INTEGER NOT NULL
) WITHOUT ROWID`,
	`CREATE TABLE IF NOT EXISTS ledger_ops (
	key TEXT PRIMARY KEY,
	kind TEXT NOT NULL,
	hash INTEGER NOT NULL,
	ref TEXT NOT NULL,
	amount INTEGER NOT NULL,
	at_us INTEGER NOT NULL
) WITHOUT ROWID`,
	`CREATE TABLE IF NOT EXISTS ledger_reservations (
	id TEXT PRIMARY KEY,
	account_id TEXT NOT NULL,
	session_id TEXT NOT NULL,
	node TEXT NOT NULL,
	status TEXT NOT NULL,
	held INTEGER NOT NULL CHECK (held >= 0),
	charged INTEGER NOT NULL CHECK (charged >= 0 AND charged <= held),
	used_seconds INTEGER NOT NULL,
	used_amount INTEGER NOT NULL,
	extensions INTEGER NOT NULL,
	ttl_us INTEGER NOT NULL,
	expires_us INTEGER NOT NULL,
	created_us INTEGER NOT NULL,
	closed_us INTEGER NOT NULL
) WITHOUT ROWID`,
	`CREATE INDEX IF NOT EXISTS ledger_reservations_open ON ledger_reservations (expires_us) WHERE status = 'open'`,
	// Recover finds a node's open reservations through the open index
	// (few rows); an index of their own cost every reserve and commit a
	// b-tree insert and delete. Dropped from files made before.
	`DROP INDEX IF EXISTS ledger_reservations_node`,
	`CREATE TABLE IF NOT EXISTS ledger_journal (
	id INTEGER PRIMARY KEY,
	op_key TEXT NOT NULL,
	kind TEXT NOT NULL,
	account_id TEXT NOT NULL,
	reservation_id TEXT NOT NULL,
	src TEXT NOT NULL,
	dst TEXT NOT NULL,
	amount INTEGER NOT NULL CHECK (amount > 0),
	party TEXT NOT NULL,
	memo TEXT NOT NULL,
	at_us INTEGER NOT NULL
)`,
	// The per-account indexes are postings filled behind the writes
	// (behind.go); files made before had SQL indexes, dropped here and
	// replaced at open by postings of the whole journal.
	`DROP INDEX IF EXISTS ledger_journal_account`,
	`CREATE TABLE IF NOT EXISTS ledger_journal_by_account (
	account TEXT NOT NULL,
	first INTEGER NOT NULL,
	last INTEGER NOT NULL,
	at_min INTEGER NOT NULL,
	at_max INTEGER NOT NULL,
	entries TEXT NOT NULL,
	PRIMARY KEY (account, first)
) WITHOUT ROWID`,
	`CREATE TRIGGER IF NOT EXISTS ledger_journal_no_update BEFORE UPDATE ON ledger_journal
BEGIN SELECT RAISE(ABORT, 'ledger_journal is append-only'); END`,
	`CREATE TRIGGER IF NOT EXISTS ledger_journal_no_delete BEFORE DELETE ON ledger_journal
BEGIN SELECT RAISE(ABORT, 'ledger_journal is append-only'); END`,
	`CREATE TABLE IF NOT EXISTS ledger_cdrs (
	seq INTEGER PRIMARY KEY,
	session_id TEXT NOT NULL UNIQUE,
	reservation_id TEXT NOT NULL,
	service TEXT NOT NULL,
	facility TEXT NOT NULL,
	account_id TEXT NOT NULL,
	destination TEXT NOT NULL,
	class TEXT NOT NULL,
	started_us INTEGER NOT NULL,
	answered_us INTEGER NOT NULL,
	ended_us INTEGER NOT NULL,
	billed_seconds INTEGER NOT NULL,
	amount INTEGER NOT NULL,
	tariff_id TEXT NOT NULL,
	tariff_version INTEGER NOT NULL,
	rate INTEGER NOT NULL,
	increment_first INTEGER NOT NULL,
	increment_next INTEGER NOT NULL,
	cause TEXT NOT NULL,
	recording_path TEXT NOT NULL,
	privileged INTEGER NOT NULL,
	recorded_us INTEGER NOT NULL
)`,
	`DROP INDEX IF EXISTS ledger_cdrs_account`,
	`CREATE TABLE IF NOT EXISTS ledger_cdrs_by_account (
	account TEXT NOT NULL,
	first INTEGER NOT NULL,
	last INTEGER NOT NULL,
	seqs TEXT NOT NULL,
	PRIMARY KEY (account, first)
) WITHOUT ROWID`,
	`CREATE TABLE IF NOT EXISTS ledger_index_marks (
	name TEXT PRIMARY KEY,
	upto INTEGER NOT NULL
) WITHOUT ROWID`,
	`INSERT INTO ledger_index_marks (name, upto) VALUES ('journal', 0), ('cdrs', 0) ON CONFLICT (name) DO NOTHING`,
}
