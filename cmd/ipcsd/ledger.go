package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"ipcs/internal/money"
	"ipcs/internal/sqldb"
	"ipcs/ledger"
	lpostgres "ipcs/ledger/postgres"
	lsqlite "ipcs/ledger/sqlite"
	"ipcs/signaling"
)

// openLedger opens the ledger on the daemon's database, registers every
// rated facility's zone with it, settles what a previous run of this node
// left open, and schedules the periodic settlement of expired holds.
func (d *daemon) openLedger(ctx context.Context) (*ledger.Ledger, error) {
	var store ledger.Store
	switch d.db.Dialect {
	case sqldb.SQLite:
		s, err := lsqlite.Open(ctx, d.db, lsqlite.Config{}, d.metrics.Ledger)
		if err != nil {
			return nil, err
		}
		d.closers = append(d.closers, func(context.Context) error { return s.Close() })
		store = s
	case sqldb.Postgres:
		s, err := lpostgres.Open(ctx, d.db.DSN, lpostgres.Config{})
		if err != nil {
			return nil, err
		}
		d.closers = append(d.closers, func(context.Context) error { return s.Close() })
		store = s
	default:
		return nil, fmt.Errorf("ledger: unsupported database %s", d.db.Dialect)
	}
	l, err := ledger.New(store, ledger.Config{NodeID: d.cfg.NodeID}, d.clock, d.metrics.Ledger,
		ledger.WithLogger(d.log))
	if err != nil {
		return nil, err
	}
	for _, id := range d.book.Facilities() {
		f, _ := d.book.Facility(id)
		if err := l.SetFacility(ctx, ledger.Facility{ID: f.ID, Zone: f.Zone}); err != nil {
			return nil, fmt.Errorf("ledger: facility %s: %w", id, err)
		}
	}
	n, err := l.Recover(ctx)
	if err != nil {
		return nil, fmt.Errorf("ledger: recover: %w", err)
	}
	if n > 0 {
		d.log.Warn("ledger: settled reservations left open by the previous run", "count", n)
	}
	d.servers = append(d.servers, l.Run)
	return l, nil
}

// visitCrediter credits a resident for a visit the facility cancelled
// after it was charged: the amount is what the visit's CDRs billed (one
// per opening of the visit: signaling.SessionOf maps their session ids
// back to the visit), and the key makes a repeated cancellation credit
// once.
type visitCrediter struct{ l *ledger.Ledger }

// errVisitUnsettled means a visit's reservation is still open: what it
// will be charged is not known yet, so it cannot be credited.
var errVisitUnsettled = errors.New("visit charge not settled yet")

func (c visitCrediter) CreditVisit(ctx context.Context, visitID, residentID, reason string) error {
	// A visit whose final commit failed keeps its hold until the ledger
	// settles it; crediting before would miss that charge for good
	// (credit_due stays set and the next cancellation retries).
	open, err := c.l.OpenReservations(ctx, residentID)
	if err != nil {
		return err
	}
	for _, r := range open {
		if signaling.SessionOf(r.SessionID) == visitID {
			return fmt.Errorf("%w: reservation %s is open until %s", errVisitUnsettled, r.ID, r.Expires.Format(time.RFC3339))
		}
	}
	var charged money.Amount
	var after int64
	for {
		cdrs, next, err := c.l.CDRs(ctx, ledger.CDRQuery{AccountID: residentID, Limit: 1000}, after)
		if err != nil {
			return err
		}
		for _, r := range cdrs {
			if signaling.SessionOf(r.SessionID) == visitID {
				charged += r.Amount
			}
		}
		if len(cdrs) == 0 || next == after {
			break
		}
		after = next
	}
	if charged <= 0 {
		return nil
	}
	_, err = c.l.Credit(ctx, ledger.CreditRequest{
		Key: "visit-credit:" + visitID, AccountID: residentID, Amount: charged,
		Reason: "visit cancelled by facility: " + reason, Ref: visitID, StaffID: "scheduler",
	})
	if errors.Is(err, ledger.ErrIdempotencyConflict) {
		return nil // credited before with another reason text
	}
	return err
}
