package callswitch

import (
	"time"
)

// authorization is what policy decided for one call attempt.
type authorization struct {
	resident   *resident
	facility   *facility
	dest       string        // E.164
	privileged bool          // never recorded, never monitored
	limit      time.Duration // most restrictive per-call limit (0: rating's default)
}

// checkPolicy applies the facility's and resident's rules to a call from
// r to dest (E.164) starting at now. Most restrictive wins: any refusal
// refuses, and the call limit is the smallest of the facility's, the
// resident's and the number's. Privileged (attorney) numbers skip the
// allowed-number list, so that counsel is always reachable, but not
// status, blocks or calling hours.
func checkPolicy(f *facility, r *resident, dest string, now time.Time) (authorization, error) {
	a := authorization{resident: r, facility: f, dest: dest, privileged: f.privileged[dest]}
	if r.status != StatusActive {
		return a, ErrResidentInactive
	}
	if f.blocked[dest] || r.blocked[dest] {
		return a, ErrBlocked
	}
	if f.requireAL && !a.privileged && !r.allowed[dest] {
		return a, ErrNotAllowed
	}
	if !f.open(now) {
		return a, ErrCallingHours
	}
	a.limit = minLimit(minLimit(f.callLimit, r.callLimit), r.numberLimits[dest])
	return a, nil
}

// open reports whether a call may start at now in the facility's zone.
func (f *facility) open(now time.Time) bool {
	if len(f.hours) == 0 {
		return true
	}
	lt := now.In(f.loc)
	m := lt.Hour()*60 + lt.Minute()
	for _, w := range f.hours {
		if w.from < w.to {
			if m >= w.from && m < w.to {
				return true
			}
		} else if m >= w.from || m < w.to { // wraps past midnight
			return true
		}
	}
	return false
}

func minLimit(a, b time.Duration) time.Duration {
	switch {
	case a == 0:
		return b
	case b == 0:
		return a
	case b < a:
		return b
	}
	return a
}
