package scheduler

import (
	"errors"
	"fmt"
)

// Sentinel errors. The API maps each to a stable JSON code (api/scheduler.go);
// callers branch on them with errors.Is.
var (
	// ErrNotFound means no such facility, visitor, resident or visit (or
	// one the caller may not see).
	ErrNotFound = errors.New("not found")
	// ErrInvalid means an argument is malformed: an empty id, an unknown
	// kind or role, a range that is out of bounds.
	ErrInvalid = errors.New("invalid argument")
	// ErrInvalidZone means a zone name is not an IANA time zone.
	ErrInvalidZone = errors.New("invalid time zone")
	// ErrNoSlot means the requested start is not a slot of the resident's
	// station group (not on the calendar, or a closed hour).
	ErrNoSlot = errors.New("no such slot")
	// ErrClosed means the facility is closed (outside opening hours, a
	// holiday or a lockdown) at the requested time.
	ErrClosed = errors.New("facility closed")
	// ErrSlotFull means every station of the slot is taken.
	ErrSlotFull = errors.New("slot full")
	// ErrWeeklyLimit means the resident has used the week's visits of that
	// kind (Sunday–Saturday, facility time).
	ErrWeeklyLimit = errors.New("weekly visit limit reached")
	// ErrOutsideWindow means the slot is before the booking lead time or
	// beyond the booking horizon, or already over.
	ErrOutsideWindow = errors.New("outside booking window")
	// ErrNotApproved means the visitor is not on the resident's approved list.
	ErrNotApproved = errors.New("visitor not approved for resident")
	// ErrResidentBusy means the resident already has a visit at that time.
	ErrResidentBusy = errors.New("resident already has a visit then")
	// ErrCancelCutoff means a visitor tried to cancel after the facility's
	// cancellation cutoff.
	ErrCancelCutoff = errors.New("past cancellation cutoff")
	// ErrVisitClosed means the visit is cancelled, ended or failed, so it can
	// no longer be joined, cancelled or moved to that status.
	ErrVisitClosed = errors.New("visit closed")
	// ErrPrivileged means an officer asked to monitor a privileged
	// (attorney) visit, which is never monitored or recorded.
	ErrPrivileged = errors.New("privileged visit may not be monitored")
	// ErrBadCredentials means a wrong email or password at sign-in.
	ErrBadCredentials = errors.New("bad credentials")
	// ErrDuplicate means the visitor's email is taken by another account.
	ErrDuplicate = errors.New("already exists")
	// ErrConflict means a booking lost too many races in a row; retry.
	ErrConflict = errors.New("booking conflict, retry")
)

// ConfigError names the configuration field that failed validation.
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("scheduler: config %s: %s", e.Field, e.Reason)
}

func configErr(field, format string, args ...any) error {
	return &ConfigError{Field: field, Reason: fmt.Sprintf(format, args...)}
}
