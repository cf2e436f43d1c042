package rating

import (
	"fmt"
	"time"

	"ipcs/internal/money"
)

// Record is a rated session as the ledger stores it (a CDR's rating part):
// enough to price it again under a corrected tariff.
type Record struct {
	SessionID     string
	Facility      string
	Service       Service
	Destination   string // normalized E.164, audio
	Class         string // class it was rated in
	VisitKind     VisitKind
	Privileged    bool
	Start         time.Time    // answer instant
	Seconds       int64        // used seconds (Usage.Seconds)
	Amount        money.Amount // amount charged
	TariffID      string
	TariffVersion int
}

// RerateRow is one session re-priced.
type RerateRow struct {
	SessionID string       `json:"session_id"`
	Seconds   int64        `json:"seconds"`
	Class     string       `json:"class"`
	Band      string       `json:"band,omitempty"`
	Charged   money.Amount `json:"charged"`
	OldPrice  string       `json:"old_tariff"`
	NewPrice  string       `json:"new_tariff"`
	Rate      money.Amount `json:"rate"`
	Correct   money.Amount `json:"correct"`
	// Delta is Correct − Charged: negative is an overcharge to credit.
	Delta money.Amount `json:"delta"`
}

// RerateReport is the result of re-rating: one row per affected session
// and the totals. Credit is what the ledger owes back (the sum of
// overcharges); undercharges are reported, never re-billed (DESIGN.md:
// differences are credited, not collected).
type RerateReport struct {
	TariffID     string       `json:"tariff_id"`
	Version      int          `json:"version"`
	Rows         []RerateRow  `json:"rows"`
	Skipped      int          `json:"skipped"` // records of other tariffs or already on this version
	Charged      money.Amount `json:"charged"`
	Correct      money.Amount `json:"correct"`
	Credit       money.Amount `json:"credit"`
	Undercharged money.Amount `json:"undercharged"`
}

// Rerate prices recs again under tariff id at version (loaded in b) and
// reports each difference. Records of other tariff ids, or already rated
// at that version, are skipped. The class is decided again from the
// destination (audio) or visit kind (video), and the band from the
// record's start in the facility's zone, exactly as Quote does; the
// amount is Price.Charge of the recorded seconds, so re-rating and live
// rating round the same way.
func (b *Book) Rerate(id string, version int, recs []Record) (*RerateReport, error) {
	t, ok := b.Tariff(id, version)
	if !ok {
		return nil, fmt.Errorf("%w: tariff %s version %d", ErrNoTariff, id, version)
	}
	f := b.facilities[t.Facility]
	rep := &RerateReport{TariffID: id, Version: version, Rows: []RerateRow{}}
	for _, r := range recs {
		if r.TariffID != id || r.TariffVersion == version || r.Privileged ||
			(r.Service == Video && r.VisitKind == InFacility) {
			rep.Skipped++
			continue
		}
		if r.Facility != t.Facility || r.Service != t.Service {
			return nil, fmt.Errorf("%w: session %s is %s/%s, tariff %s is %s/%s",
				ErrNoTariff, r.SessionID, r.Facility, r.Service, id, t.Facility, t.Service)
		}
		var c int16 = -1
		if t.Service == Audio {
			c = t.classFor(r.Destination)
		} else if i, ok := t.byName[string(r.VisitKind)]; ok {
			c = i
		}
		if c < 0 {
			if i, ok := t.byName[r.Class]; ok { // keep the recorded class
				c = i
			} else {
				return nil, fmt.Errorf("%w: session %s: no class in tariff %s v%d", ErrNoTariff, r.SessionID, id, version)
			}
		}
		var p Price
		t.price(&p, c, r.Start, f.zone)
		correct := p.Charge(r.Seconds)
		row := RerateRow{
			SessionID: r.SessionID, Seconds: r.Seconds, Class: p.Class, Band: p.Band,
			Charged: r.Amount, OldPrice: fmt.Sprintf("%s@%d", r.TariffID, r.TariffVersion),
			NewPrice: fmt.Sprintf("%s@%d", id, version), Rate: p.Rate, Correct: correct, Delta: correct - r.Amount,
		}
		rep.Rows = append(rep.Rows, row)
		rep.Charged += r.Amount
		rep.Correct += correct
		if row.Delta < 0 {
			rep.Credit -= row.Delta
		} else {
			rep.Undercharged += row.Delta
		}
	}
	return rep, nil
}
