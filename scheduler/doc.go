// Package scheduler keeps the video-visit calendars of facilities: weekly
// opening hours per station group in the facility's local time, slots,
// station capacity, visitors and their approvals, bookings, cancellations,
// direct-dial admissions and the join tokens the signaling server admits
// participants by.
//
// # Time
//
// A calendar is written in the facility's wall-clock time and its IANA
// zone (tzdata is embedded). Slots are built by walking local wall-clock
// times and resolving each one explicitly: a time that clocks skip (spring
// forward) yields no slot; a time they repeat (fall back) yields two
// slots with distinct instants, told apart by Slot.Fold. A visit stores
// its zone, local start and fold as well as its UTC instants, so it keeps
// its facility local time; visitors see the same instant in their own
// zone. Weekly limits count Sunday to Saturday of the facility-local
// date. The clock is injected and read once per operation.
//
// # Storage
//
// Tables prefixed sched_ live in the database the ledger uses (SQLite by
// default, PostgreSQL for several nodes), created at New. Capacity and
// weekly limits are primary keys: a booking inserts the lowest free
// station number of its slot and the lowest free quota number of its
// resident's week in single INSERT … SELECT statements, so two visitors
// racing for the last station cannot both win, on one node or many.
//
// # Concurrency
//
// A Scheduler is safe for concurrent use and starts no goroutines. Its
// only in-memory state is a cache of compiled calendars and zones, each
// under its own mutex, never held across a database call. Each booking,
// cancellation or status change is one database transaction; a
// transaction that loses a race (a unique violation, serialization
// failure or busy database) is rerun from the start, and a loser then
// sees the slot full. The Crediter is called after the cancellation has
// committed, never inside a transaction.
//
// # Errors
//
// Sentinels are in errors.go and are wrapped with context; branch with
// errors.Is. Invalid configuration is a *ConfigError naming the field.
// The API maps ErrSlotFull, ErrWeeklyLimit, ErrOutsideWindow,
// ErrNotApproved, ErrCancelCutoff, ErrNoSlot, ErrClosed, ErrNotFound and
// the rest to JSON error codes (api/scheduler.go). A failed operation
// writes nothing: every check and claim of a booking shares one
// transaction.
package scheduler
