package rating

import (
	"time"

	"ipcs/internal/money"
)

// QuoteRequest describes a session about to start.
type QuoteRequest struct {
	Facility    string
	Service     Service
	Destination string    // normalized E.164 (NormalizeDestination), audio only
	VisitKind   VisitKind // video only
	Privileged  bool      // attorney number or visit: free
	Start       time.Time
	Balance     money.Amount  // available balance
	MaxDuration time.Duration // the session's own limit (0: facility default)
	End         time.Time     // hard end such as a slot close (zero: none)
}

// Quote says how long a session may run and what to reserve first.
type Quote struct {
	Price      Price
	MaxSeconds int64        // most restrictive of balance, limit, end
	Limit      LimitReason  // which one bound it
	Reserve    money.Amount // first slice to reserve (≤ Balance)
	Free       bool
}

// LimitReason names the bound that decided Quote.MaxSeconds.
type LimitReason uint8

// Limit reasons. When two bounds tie, the earlier one in this list wins.
const (
	LimitDuration LimitReason = iota // per-call/visit limit (request or facility default)
	LimitEnd                         // the session's hard end (slot close)
	LimitBalance                     // what the balance can pay for
)

func (r LimitReason) String() string {
	switch r {
	case LimitDuration:
		return "limit"
	case LimitEnd:
		return "end"
	case LimitBalance:
		return "balance"
	}
	return "unknown"
}

// Quote prices a session and bounds its length: MaxSeconds is the most
// restrictive of the balance (Price.Affordable), the duration limit and the
// hard end. A session that cannot pay one billing increment gets
// ErrInsufficientFunds. Reserve is the first slice to hold: the charge for
// the facility's Reserve duration (default 5 minutes), but never less than
// one increment, never more than MaxSeconds' charge, so never above the
// balance. Free sessions reserve nothing. Quote reads only immutable data
// and allocates nothing.
func (b *Book) Quote(req *QuoteRequest) (Quote, error) {
	f := b.index.get(req.Facility)
	if f == nil {
		return Quote{}, ErrUnknownFacility
	}
	// q is built in place: a Price is ~80 bytes, not copied per step.
	var q Quote
	p := &q.Price
	switch {
	case req.Privileged:
		// Attorney calls and visits are free (DESIGN.md) but still metered
		// for their limit.
		*p = Price{Class: ClassPrivileged, First: 1, Every: 1}
	case req.Service == Video && req.VisitKind == InFacility:
		*p = Price{Class: string(InFacility), First: 1, Every: 1}
	default:
		t, err := f.tariffAt(req.Service, req.Start)
		if err != nil {
			return Quote{}, err
		}
		var c int16 = -1
		switch req.Service {
		case Audio:
			c = t.classFor(req.Destination)
		case Video:
			if i, ok := t.byName[string(req.VisitKind)]; ok {
				c = i
			}
		}
		if c < 0 {
			return Quote{}, ErrNoTariff
		}
		t.price(p, c, req.Start, f.zone)
	}

	limit := req.MaxDuration
	if limit <= 0 {
		limit = f.CallLimit
		if req.Service == Video {
			limit = f.VisitLimit
		}
	}
	// p.Rate == 0 is p.Free(), without copying *p for a value receiver.
	q.MaxSeconds, q.Limit, q.Free = int64(limit/time.Second), LimitDuration, p.Rate == 0
	if !req.End.IsZero() {
		// Whole seconds before the hard end; a partial second cannot be used.
		left := int64(req.End.Sub(req.Start) / time.Second)
		if left <= 0 {
			return Quote{}, ErrWindowClosed
		}
		if left < q.MaxSeconds {
			q.MaxSeconds, q.Limit = left, LimitEnd
		}
	}
	if q.Free {
		return q, nil
	}
	// Affordable divides by the rate. When the balance pays for all of
	// MaxSeconds (≥ 1) it cannot bind: Charge(MaxSeconds) ≤ Balance ≤
	// money.Limit means Billed(MaxSeconds) ≤ Affordable(Balance), so the
	// common case skips it.
	if q.MaxSeconds < 1 || req.Balance > money.Limit || charge(p.Rate, p.First, p.Every, q.MaxSeconds) > req.Balance {
		aff := p.Affordable(req.Balance)
		if aff <= 0 {
			return Quote{}, ErrInsufficientFunds
		}
		if aff < q.MaxSeconds {
			q.MaxSeconds, q.Limit = aff, LimitBalance
		}
	}
	slice := int64(f.Reserve / time.Second)
	if slice < p.First {
		slice = p.First
	}
	if slice > q.MaxSeconds {
		slice = q.MaxSeconds
	}
	// Charge(slice) ≤ Charge(MaxSeconds) ≤ Balance because Charge is
	// non-decreasing and MaxSeconds ≤ Affordable(Balance).
	q.Reserve = charge(p.Rate, p.First, p.Every, slice)
	return q, nil
}
