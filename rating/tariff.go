package rating

import (
	"time"

	"ipcs/internal/money"
)

// Tariff is one version of a facility's price list for one service,
// in force from Effective (local midnight in the facility's zone) until a
// later version of the same facility and service takes over. It is
// immutable once loaded.
type Tariff struct {
	ID        string
	Version   int
	Facility  string
	Service   Service
	Effective time.Time // local midnight of the effective date, facility zone
	File      string    // the file it was loaded from

	classes []classRate // by class index
	byName  map[string]int16
	prefix  *prefixTable // audio: destination → class index
}

// classRate is the price of one class: the base rate, the increment and
// optional time bands that override the rate.
type classRate struct {
	name  string
	rate  money.Amount
	first int64
	every int64
	bands []band
}

// band is a time-of-day window in the facility's zone, optionally limited
// to some weekdays, with its own rate. The band in force at the session's
// start prices the whole session.
type band struct {
	name     string
	days     uint8 // bit per time.Weekday; 0 = every day
	from, to int   // minutes after local midnight; from > to wraps past midnight
	rate     money.Amount
}

func (b *band) covers(wd time.Weekday, minute int) bool {
	if b.days != 0 && b.days&(1<<wd) == 0 {
		return false
	}
	if b.from <= b.to {
		return minute >= b.from && minute < b.to
	}
	return minute >= b.from || minute < b.to
}

// price sets *p to the Price of class c for a session starting at start,
// its band decided by the wall clock of the facility's zone. It writes
// field by field (no temporary Price to copy) and stays small enough to
// inline into Quote.
func (t *Tariff) price(p *Price, c int16, start time.Time, zone *zoneIndex) {
	cr := &t.classes[c]
	p.TariffID, p.Version, p.Class, p.Band = t.ID, t.Version, cr.name, ""
	p.Rate, p.First, p.Every = cr.rate, cr.first, cr.every
	if len(cr.bands) > 0 {
		cr.band(p, start, zone)
	}
}

// band sets the band and rate of the first band covering start's wall
// clock, if any.
func (cr *classRate) band(p *Price, start time.Time, zone *zoneIndex) {
	wd, minute := zone.wall(start)
	for i := range cr.bands {
		if b := &cr.bands[i]; b.covers(wd, minute) {
			p.Band, p.Rate = b.name, b.rate
			return
		}
	}
}

// classFor returns the class index for a normalized destination, or -1.
func (t *Tariff) classFor(dst string) int16 {
	if t.prefix == nil {
		return -1
	}
	return t.prefix.lookup(dst)
}

// Class returns the destination class the tariff gives a normalized E.164
// number, or "" when none.
func (t *Tariff) Class(dst string) string {
	if c := t.classFor(dst); c >= 0 {
		return t.classes[c].name
	}
	return ""
}
