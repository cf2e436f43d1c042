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

// price builds the Price of class c for a session starting at start.
func (t *Tariff) price(c int16, start time.Time, loc *time.Location) Price {
	cr := &t.classes[c]
	p := Price{TariffID: t.ID, Version: t.Version, Class: cr.name, Rate: cr.rate, First: cr.first, Every: cr.every}
	if len(cr.bands) > 0 {
		lt := start.In(loc)
		h, m, _ := lt.Clock()
		wd := lt.Weekday()
		for i := range cr.bands {
			if b := &cr.bands[i]; b.covers(wd, h*60+m) {
				p.Band, p.Rate = b.name, b.rate
				break
			}
		}
	}
	return p
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
