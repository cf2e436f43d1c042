// Package rating decides what every call and video visit costs and how
// long it may run, and meters every live session.
//
// A Book holds facilities and versioned tariffs loaded from YAML (or JSON)
// files (ParseBook, LoadBook; format in docs/TARIFFS.md), each rate checked
// at load against the FCC per-minute caps shipped in caps/fcc.yaml.
// Book.Quote prices a session about to start and bounds its length by the
// balance, its limit and its hard end; Price.Charge prices its usage under
// the tariff's increment rule with one rounding (down, to the
// micro-dollar); Price.Affordable is its inverse. The Meter follows every
// answered session on one timing wheel: it warns before the end, extends
// the reservation through a Funder, checkpoints usage, and ends the session
// when money or time runs out. Book.Rerate prices stored sessions again
// under a corrected tariff version.
//
// Money is money.Amount (int64 micro-dollars) everywhere here; decimal
// strings only in files and reports.
//
// # Concurrency
//
// A Book is immutable after loading: Quote, Charge, Affordable and Rerate
// are safe from any number of goroutines and Quote allocates nothing.
//
// A Meter owns one wheel goroutine, ticking every second of its clock, and
// a fixed pool of Funder workers fed by a bounded queue; no goroutine or
// timer exists per session. The wheel never calls the Funder: it queues
// extension and checkpoint jobs and, when the queue is full, defers them to
// a later tick. Each session's mutable state sits under its own small mutex,
// never held across a Funder call or a callback. OnEvent is called from the
// wheel goroutine (Warning, Ended) or a worker (Extended); it must not
// block — pass the event to the session's own goroutine and return. Ended
// is delivered at most once, and only when the Meter ended the session
// (not Stop); Metered.Stop is idempotent and safe concurrently with the
// Meter ending the session (the first end wins). Close stops the wheel and
// the workers and waits for them.
//
// # Errors
//
// Sentinels are in errors.go: ErrInsufficientFunds (cannot pay one
// increment; SIP 402), ErrInvalidDestination (SIP 404), ErrUnknownFacility,
// ErrNoTariff, ErrWindowClosed, ErrMeterClosed, ErrInvalidSession. File
// refusals are *FileError values naming file, field, rate and cap, wrapping
// ErrInvalidTariff, ErrCapExceeded or ErrFeeForbidden. Funder errors are
// counted and logged by the Meter, never returned: a failed extension
// leaves the projected end where the grant puts it.
package rating
