package signaling

import (
	"context"
	"time"
)

// Visit is what signaling needs to know about a booked visit. The daemon
// fills it from scheduler.Visit.
type Visit struct {
	ID         string
	Facility   string
	ResidentID string    // the debit account that pays for metered kinds
	Kind       string    // "remote", "in_facility" or "direct_dial" (rating.VisitKind)
	Start, End time.Time // the slot; joinable only in [Start, End), ended at End
	Privileged bool      // attorney visit: never monitored, never recorded
	Cancelled  bool      // a cancelled booking cannot be joined
}

// Visit kinds; in-facility visits are free, the others are metered.
const (
	KindRemote     = "remote"
	KindInFacility = "in_facility"
	KindDirectDial = "direct_dial"
)

// Visits looks visits up; the daemon adapts *scheduler.Scheduler to it.
// It must return an error wrapping ErrUnknownVisit when id is not booked.
type Visits interface {
	Visit(ctx context.Context, id string) (Visit, error)
}

// VisitsFunc adapts a function to Visits.
type VisitsFunc func(ctx context.Context, id string) (Visit, error)

// Visit calls f.
func (f VisitsFunc) Visit(ctx context.Context, id string) (Visit, error) { return f(ctx, id) }

// Role is a participant's role, from the join token.
type Role string

// Roles in a join token (ARCHITECTURE.md, join tokens).
const (
	RoleVisitor  Role = "visitor"
	RoleResident Role = "resident"
	RoleOfficer  Role = "officer"
)

// Reasons a visit ends, sent in the "ended" event and stored as the CDR
// cause. Cut-offs (ended by ipcs) are counted in metrics Cutoffs{reason}.
const (
	ReasonCompleted = "completed" // every participant left
	ReasonWindow    = "window"    // the slot closed
	ReasonExhausted = "exhausted" // the resident's balance ran out
	ReasonOfficer   = "officer"   // ended by staff
	ReasonCancelled = "cancelled" // the facility cancelled the visit while it was live
	ReasonShutdown  = "shutdown"  // the daemon is stopping
	ReasonAbandoned = "abandoned" // nobody connected for Config.EmptyGrace
	ReasonFunds     = "funds"     // could not reserve the first increment
	ReasonError     = "error"     // an internal failure
)
