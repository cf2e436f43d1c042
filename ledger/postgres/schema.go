package postgres

// schema creates the ledger's tables in PostgreSQL (in the first schema
// of the connection's search_path). Amounts are BIGINT micro-dollars,
// instants BIGINT Unix microseconds (UTC), so that the ledger's SQL is the
// same on both dialects. Balance rows leave room on their pages
// (fillfactor) so the hot balance updates stay HOT. The journal is
// append-only: a trigger refuses UPDATE and DELETE.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS ledger_facilities (
	id TEXT PRIMARY KEY,
	zone TEXT NOT NULL,
	deposit_max BIGINT NOT NULL,
	weekly_max BIGINT NOT NULL
)`,
	`CREATE TABLE IF NOT EXISTS ledger_accounts (
	id TEXT PRIMARY KEY,
	facility TEXT NOT NULL,
	status TEXT NOT NULL,
	release_date TEXT NOT NULL DEFAULT '',
	available BIGINT NOT NULL DEFAULT 0 CHECK (available >= 0),
	held BIGINT NOT NULL DEFAULT 0 CHECK (held >= 0),
	last_move BIGINT NOT NULL DEFAULT 0,
	created_us BIGINT NOT NULL
) WITH (fillfactor = 50)`,
	`CREATE TABLE IF NOT EXISTS ledger_ops (
	key TEXT PRIMARY KEY,
	kind TEXT NOT NULL,
	hash BIGINT NOT NULL,
	ref TEXT NOT NULL,
	amount BIGINT NOT NULL,
	at_us BIGINT NOT NULL
)`,
	`CREATE TABLE IF NOT EXISTS ledger_reservations (
	id TEXT PRIMARY KEY,
	account_id TEXT NOT NULL,
	session_id TEXT NOT NULL,
	node TEXT NOT NULL,
	status TEXT NOT NULL,
	held BIGINT NOT NULL CHECK (held >= 0),
	charged BIGINT NOT NULL CHECK (charged >= 0 AND charged <= held),
	used_seconds BIGINT NOT NULL,
	used_amount BIGINT NOT NULL,
	extensions BIGINT NOT NULL,
	ttl_us BIGINT NOT NULL,
	expires_us BIGINT NOT NULL,
	created_us BIGINT NOT NULL,
	closed_us BIGINT NOT NULL
) WITH (fillfactor = 70)`,
	`CREATE INDEX IF NOT EXISTS ledger_reservations_open ON ledger_reservations (expires_us) WHERE status = 'open'`,
	// Recover finds a node's open reservations through the open index
	// (few rows); an index of their own cost every reserve and commit a
	// b-tree insert and delete. Dropped from files made before.
	`DROP INDEX IF EXISTS ledger_reservations_node`,
	`CREATE TABLE IF NOT EXISTS ledger_journal (
	id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	op_key TEXT NOT NULL,
	kind TEXT NOT NULL,
	account_id TEXT NOT NULL,
	reservation_id TEXT NOT NULL,
	src TEXT NOT NULL,
	dst TEXT NOT NULL,
	amount BIGINT NOT NULL CHECK (amount > 0),
	party TEXT NOT NULL,
	memo TEXT NOT NULL,
	at_us BIGINT NOT NULL
)`,
	`CREATE INDEX IF NOT EXISTS ledger_journal_account ON ledger_journal (account_id, at_us)`,
	`CREATE OR REPLACE FUNCTION ledger_journal_append_only() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN RAISE EXCEPTION 'ledger_journal is append-only'; END $$`,
	`CREATE OR REPLACE TRIGGER ledger_journal_append_only BEFORE UPDATE OR DELETE ON ledger_journal
FOR EACH ROW EXECUTE FUNCTION ledger_journal_append_only()`,
	`CREATE TABLE IF NOT EXISTS ledger_cdrs (
	seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	session_id TEXT NOT NULL UNIQUE,
	reservation_id TEXT NOT NULL,
	service TEXT NOT NULL,
	facility TEXT NOT NULL,
	account_id TEXT NOT NULL,
	destination TEXT NOT NULL,
	class TEXT NOT NULL,
	started_us BIGINT NOT NULL,
	answered_us BIGINT NOT NULL,
	ended_us BIGINT NOT NULL,
	billed_seconds BIGINT NOT NULL,
	amount BIGINT NOT NULL,
	tariff_id TEXT NOT NULL,
	tariff_version BIGINT NOT NULL,
	rate BIGINT NOT NULL,
	increment_first BIGINT NOT NULL,
	increment_next BIGINT NOT NULL,
	cause TEXT NOT NULL,
	recording_path TEXT NOT NULL,
	privileged BIGINT NOT NULL,
	recorded_us BIGINT NOT NULL
)`,
	`CREATE INDEX IF NOT EXISTS ledger_cdrs_account ON ledger_cdrs (account_id, seq)`,
}
