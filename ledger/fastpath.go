package ledger

// Single-statement fast paths for stores that implement OneShot
// (PostgreSQL). Each statement does all of an operation's writes, so an
// operation costs one statement instead of a BEGIN, five statements and
// a COMMIT; the store group-commits many such statements in one
// transaction and one round trip (ledger/postgres, group.go). The statements
// are PostgreSQL's dialect (data-modifying CTEs, $n placeholders with
// explicit casts) and mirror the portable Update path exactly: the same
// conditional UPDATEs, the same rows, the same lock order (reservation
// before account). They only ever succeed or do nothing: every outcome
// other than success (a replayed or conflicting key, insufficient funds,
// a released account, a closed reservation, an over-hold commit, a race)
// returns no row, or fails as a whole, and the Ledger then runs the
// Update path, which explains it.
//
// All sub-statements of a WITH see one snapshot and run to completion;
// each insert selects FROM the conditional UPDATE's RETURNING, so it
// writes only when that UPDATE moved money, and FROM the account's
// UPDATE, so that it draws its journal ids and CDR seq only once it holds
// the account's row lock: one account's rows then commit in id order,
// which paging a statement or CDR list by id (After) relies on. A
// statement that fails on a constraint did nothing, like one that
// returns no row (ledger/postgres: classifyOneShot).
const (
	// pgReserve: $1 key, $2 account, $3 want, $4 min, $5 reservation id,
	// $6 session, $7 node, $8 ttl µs, $9 expires µs, $10 now µs, $11 hash.
	// The hold is qHold (one conditional statement, re-checked by
	// PostgreSQL against the newest row version) plus a guard that the
	// key is new; a concurrent first use of the key makes the ops insert
	// fail with a unique violation, which undoes the whole statement.
	pgReserve = `WITH h AS (
	UPDATE ledger_accounts SET
		last_move = LEAST(available, $3::bigint),
		available = available - LEAST(available, $3::bigint),
		held = held + LEAST(available, $3::bigint)
	WHERE id = $2::text AND status = 'active' AND available >= $4::bigint
		AND NOT EXISTS (SELECT 1 FROM ledger_ops WHERE key = $1::text)
	RETURNING last_move
), r AS (
	INSERT INTO ledger_reservations (id, account_id, session_id, node, status, held, charged, used_seconds, used_amount, extensions, ttl_us, expires_us, created_us, closed_us)
	SELECT $5::text, $2::text, $6::text, $7::text, 'open', last_move, 0, 0, 0, 0, $8::bigint, $9::bigint, $10::bigint, 0 FROM h
), j AS (
	INSERT INTO ledger_journal (op_key, kind, account_id, reservation_id, src, dst, amount, party, memo, at_us)
	SELECT $1::text, 'reserve', $2::text, $5::text, 'debit', 'hold', last_move, $6::text, '', $10::bigint FROM h
), o AS (
	INSERT INTO ledger_ops (key, kind, hash, ref, amount, at_us)
	SELECT $1::text, 'reserve', $11::bigint, $5::text, last_move, $9::bigint FROM h
)
SELECT last_move FROM h`

	// pgCommit: $1 reservation, $2 amount, $3 used seconds, $4 now µs,
	// then the CDR ($5 session id, '' for none): $6 service, $7 facility,
	// $8 destination, $9 class, $10 started µs, $11 answered µs, $12 ended
	// µs, $13 billed seconds, $14 tariff id, $15 tariff version, $16 rate,
	// $17 increment first, $18 increment next, $19 cause, $20 recording
	// path, $21 privileged.
	pgCommit = `WITH c AS (
	UPDATE ledger_reservations SET status = 'committed', charged = $2::bigint, used_seconds = $3::bigint, used_amount = $2::bigint, closed_us = $4::bigint
	WHERE id = $1::text AND status = 'open' AND held >= $2::bigint
	RETURNING account_id, held
), a AS (
	UPDATE ledger_accounts SET available = ledger_accounts.available + (c.held - $2::bigint), held = ledger_accounts.held - c.held
	FROM c WHERE ledger_accounts.id = c.account_id
	RETURNING ledger_accounts.id
), j AS (
	INSERT INTO ledger_journal (op_key, kind, account_id, reservation_id, src, dst, amount, party, memo, at_us)
	SELECT 'commit:' || $1::text, 'commit', c.account_id, $1::text, 'hold', v.dst, v.amount, '', '', $4::bigint
	FROM c CROSS JOIN a CROSS JOIN LATERAL (VALUES (1, 'revenue', $2::bigint), (2, 'debit', c.held - $2::bigint)) AS v(n, dst, amount)
	WHERE v.amount > 0 ORDER BY v.n
), d AS (
	INSERT INTO ledger_cdrs (session_id, reservation_id, service, facility, account_id, destination, class, started_us, answered_us, ended_us, billed_seconds, amount, tariff_id, tariff_version, rate, increment_first, increment_next, cause, recording_path, privileged, recorded_us)
	SELECT $5::text, $1::text, $6::text, $7::text, c.account_id, $8::text, $9::text, $10::bigint, $11::bigint, $12::bigint, $13::bigint, $2::bigint, $14::text, $15::bigint, $16::bigint, $17::bigint, $18::bigint, $19::text, $20::text, $21::bigint, $4::bigint
	FROM c CROSS JOIN a WHERE $5::text <> ''
	ON CONFLICT (session_id) DO NOTHING
)
SELECT account_id, held FROM c`
)
