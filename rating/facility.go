package rating

import (
	"time"
	_ "time/tzdata" // facilities name IANA zones; embed tzdata so any host resolves them
)

// Service is the kind of session a tariff prices.
type Service string

// Services.
const (
	Audio Service = "audio"
	Video Service = "video"
)

// VisitKind says how a video visit is joined; it picks the video rate.
type VisitKind string

// Visit kinds.
const (
	Remote     VisitKind = "remote"      // visitor joins from home: billed per minute
	InFacility VisitKind = "in_facility" // visitor on site: always free (DESIGN.md)
	DirectDial VisitKind = "direct_dial" // on-demand video call: billed per minute
)

// FacilityType is prison or jail; with the average daily population it
// selects the FCC cap tier.
type FacilityType string

// Facility types.
const (
	Prison FacilityType = "prison"
	Jail   FacilityType = "jail"
)

// Destination classes decided by the facility's location (see Facility).
const (
	ClassLocal         = "local"
	ClassIntrastate    = "intrastate"
	ClassInterstate    = "interstate"
	ClassInternational = "international"
	ClassPrivileged    = "privileged" // attorney numbers: free, never recorded
)

// Facility is a correctional facility as the Book knows it. Its zone
// decides time bands and tariff effective dates; its type and average
// daily population decide its regulatory caps; its prefixes decide the
// destination class of a call: a destination matching LocalPrefixes is
// local, StatePrefixes intrastate, any other +1 (NANP) number interstate,
// everything else international. Tariffs may refine this by prefix.
type Facility struct {
	ID            string
	Name          string
	Zone          string         // IANA name, e.g. "America/Chicago"
	Location      *time.Location // Zone, loaded with time.LoadLocation
	Type          FacilityType
	ADP           int    // average daily population
	State         string // US state, e.g. "IL"
	LocalPrefixes []string
	StatePrefixes []string
	CallLimit     time.Duration // per-call limit when a quote gives none (default 15m)
	VisitLimit    time.Duration // video session limit when a quote gives none (default 60m)
	Reserve       time.Duration // usage the first reservation covers (default 5m)
}

// Facility defaults.
const (
	DefaultCallLimit  = 15 * time.Minute
	DefaultVisitLimit = 60 * time.Minute
	DefaultReserve    = 5 * time.Minute
)
