package scheduler

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// BookRequest asks for a visit in one slot.
type BookRequest struct {
	VisitorID  string
	ResidentID string
	// Start is the slot's start instant, as Slots returned it. In a
	// repeated hour the two slots have different instants, so the
	// instant names the slot unambiguously.
	Start time.Time
	// Kind is KindRemote or KindInFacility; direct dial has DirectDial.
	Kind Kind
}

// Booking is a booked visit and the join tokens of its two parties.
type Booking struct {
	Visit    Visit
	Visitor  JoinTicket
	Resident JoinTicket
}

// LocalLayout is how Visit.Local writes a facility wall-clock start.
const LocalLayout = "2006-01-02T15:04"

// Book books a visit for an approved visitor with a resident in the
// resident's station group. It checks, in this order: kind, approval,
// that Start is a slot on the calendar, the lead time and horizon,
// closures; then, in one transaction, that the resident is free, the
// weekly limit (Sunday–Saturday of the slot's facility-local date) and a
// free station. Limits and stations are claimed through primary keys, so
// concurrent bookings on any number of nodes never overfill a slot.
func (s *Scheduler) Book(ctx context.Context, req BookRequest) (Booking, error) {
	b, err := s.book(ctx, req, s.clk.Now())
	kind := string(req.Kind)
	if !req.Kind.Valid() {
		kind = "invalid"
	}
	s.m.Bookings.WithLabelValues(kind, result(err)).Inc()
	return b, err
}

// result is the bounded metrics label for an outcome.
func result(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrSlotFull):
		return "full"
	case errors.Is(err, ErrWeeklyLimit):
		return "limit"
	case errors.Is(err, ErrOutsideWindow):
		return "window"
	case errors.Is(err, ErrNotApproved):
		return "not_approved"
	case errors.Is(err, ErrResidentBusy):
		return "busy"
	case errors.Is(err, ErrClosed), errors.Is(err, ErrNoSlot):
		return "closed"
	case errors.Is(err, ErrInvalid), errors.Is(err, ErrNotFound):
		return "invalid"
	}
	return "error"
}

func (s *Scheduler) book(ctx context.Context, req BookRequest, now time.Time) (Booking, error) {
	if req.Kind != KindRemote && req.Kind != KindInFacility {
		return Booking{}, fmt.Errorf("%w: kind %q (remote or in_facility)", ErrInvalid, req.Kind)
	}
	if !validID(req.ResidentID) || req.VisitorID == "" || len(req.VisitorID) > 64 {
		return Booking{}, fmt.Errorf("%w: resident and visitor ids", ErrInvalid)
	}
	a, err := s.approved(ctx, req.ResidentID, req.VisitorID)
	if err != nil {
		return Booking{}, err
	}
	cal, err := s.Calendar(ctx, a.facility)
	if err != nil {
		return Booking{}, err
	}
	cfg := cal.Config()
	slot, ok := cal.slotAt(a.group, req.Start.UTC())
	if !ok {
		return Booking{}, fmt.Errorf("%w: %s in %s/%s", ErrNoSlot, req.Start.UTC().Format(time.RFC3339), a.facility, a.group)
	}
	if cfg.LeadTime > 0 && slot.Start.Before(now.Add(cfg.LeadTime)) {
		return Booking{}, fmt.Errorf("%w: book at least %s ahead", ErrOutsideWindow, cfg.LeadTime)
	}
	if !now.Before(slot.End) {
		return Booking{}, fmt.Errorf("%w: slot is over", ErrOutsideWindow)
	}
	if slot.Start.After(now.Add(cfg.Horizon)) {
		return Booking{}, fmt.Errorf("%w: book at most %s ahead", ErrOutsideWindow, cfg.Horizon)
	}
	cs, err := s.Closures(ctx, a.facility, slot.Start, slot.End)
	if err != nil {
		return Booking{}, err
	}
	if closed(cs, a.group, slot.Start, slot.End) {
		return Booking{}, fmt.Errorf("%w: %s", ErrClosed, cs[0].Reason)
	}
	v := Visit{
		ID: newID("vis-"), Facility: a.facility, Group: a.group, ResidentID: req.ResidentID, VisitorID: req.VisitorID,
		Kind: req.Kind, Start: slot.Start, End: slot.End, Local: slot.Local.Format(LocalLayout), Fold: slot.Fold,
		Zone: cfg.Zone, Privileged: a.privileged, Status: StatusBooked, CreatedAt: now.UTC().Truncate(time.Second),
	}
	if err := s.insertVisit(ctx, &v, []Slot{slot}, cfg.WeeklyLimits[v.Kind], weekOf(slot.Local)); err != nil {
		return Booking{}, err
	}
	return s.booking(v)
}

func (s *Scheduler) booking(v Visit) (Booking, error) {
	b := Booking{Visit: v}
	var err error
	if b.Visitor, err = s.joinTicket(v, RoleVisitor, v.VisitorID); err != nil {
		return Booking{}, err
	}
	if b.Resident, err = s.joinTicket(v, RoleResident, v.ResidentID); err != nil {
		return Booking{}, err
	}
	return b, nil
}

// insertVisit claims the resident's quota (when limit > 0) and a station
// in each of slots, and inserts v, all in one transaction.
func (s *Scheduler) insertVisit(ctx context.Context, v *Visit, slots []Slot, limit int, week string) error {
	now := v.CreatedAt.Unix()
	return s.inTx(ctx, func(tx *sql.Tx) error {
		// Lock the resident's row first: PostgreSQL runs this at READ
		// COMMITTED, where two transactions booking one resident (a
		// booking of the slot in progress and a direct dial, whose starts
		// differ, so the unique index cannot tell) would both count no
		// visit and both insert. The second now waits for the first and
		// then counts its visit. SQLite serialises write transactions.
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE sched_residents SET updated_at = updated_at WHERE id = ?`), v.ResidentID); err != nil {
			return fmt.Errorf("scheduler: lock resident: %w", err)
		}
		var busy int
		err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM sched_visits WHERE resident_id = ?
			AND status IN ('booked', 'started') AND start_utc < ? AND end_utc > ?`),
			v.ResidentID, v.End.Unix(), v.Start.Unix()).Scan(&busy)
		if err != nil {
			return fmt.Errorf("scheduler: resident busy: %w", err)
		}
		if busy > 0 {
			return ErrResidentBusy
		}
		if limit > 0 {
			res, err := tx.ExecContext(ctx, s.q(claimQuotaSQL), limit,
				v.ResidentID, week, string(v.Kind), v.ID, v.ResidentID, week, string(v.Kind))
			if err != nil {
				return fmt.Errorf("scheduler: claim quota: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return fmt.Errorf("%w: %d %s visits in the week of %s", ErrWeeklyLimit, limit, v.Kind, week)
			}
		}
		for i, sl := range slots {
			var station int
			err := tx.QueryRowContext(ctx, s.q(claimStationSQL), sl.Stations,
				v.Facility, v.Group, sl.Start.Unix(), v.ID, v.Facility, v.Group, sl.Start.Unix()).Scan(&station)
			if errors.Is(err, sql.ErrNoRows) {
				return ErrSlotFull
			} else if err != nil {
				return fmt.Errorf("scheduler: claim station: %w", err)
			}
			if i == 0 {
				v.Station = station
			}
		}
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO sched_visits (`+visitCols+`, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', 0, ?)`),
			v.ID, v.Facility, v.Group, v.ResidentID, v.VisitorID, string(v.Kind), string(v.Status),
			v.Start.Unix(), v.End.Unix(), v.Zone, v.Local, v.Fold, b2i(v.Privileged), v.Station, now, now)
		if err != nil {
			return fmt.Errorf("scheduler: insert visit: %w", err)
		}
		return nil
	})
}

// DirectDial admits an on-demand video visit now: the visitor must be
// approved, the resident's group open (not closed) and a station free.
// It runs to the end of the current slot, or of the next one as well when
// less than MinDirectDial is left and the next is open and free. It is
// billed like a remote visit (Kind direct_dial) and counts against the
// direct_dial weekly limit.
func (s *Scheduler) DirectDial(ctx context.Context, residentID, visitorID string) (Booking, error) {
	b, err := s.directDial(ctx, residentID, visitorID, s.clk.Now())
	s.m.DirectDial.WithLabelValues(result(err)).Inc()
	return b, err
}

func (s *Scheduler) directDial(ctx context.Context, residentID, visitorID string, now time.Time) (Booking, error) {
	if !validID(residentID) || visitorID == "" || len(visitorID) > 64 {
		return Booking{}, fmt.Errorf("%w: resident and visitor ids", ErrInvalid)
	}
	now = now.UTC().Truncate(time.Second)
	a, err := s.approved(ctx, residentID, visitorID)
	if err != nil {
		return Booking{}, err
	}
	cal, err := s.Calendar(ctx, a.facility)
	if err != nil {
		return Booking{}, err
	}
	cfg := cal.Config()
	cur, ok := cal.slotContaining(a.group, now)
	if !ok {
		return Booking{}, fmt.Errorf("%w: outside visiting hours", ErrClosed)
	}
	cs, err := s.Closures(ctx, a.facility, now, cur.End.Add(cfg.SlotLength))
	if err != nil {
		return Booking{}, err
	}
	if closed(cs, a.group, now, cur.End) {
		return Booking{}, fmt.Errorf("%w: %s", ErrClosed, cs[0].Reason)
	}
	slots := []Slot{cur}
	if cur.End.Sub(now) < MinDirectDial {
		if next, ok := cal.slotAt(a.group, cur.End); ok && !closed(cs, a.group, next.Start, next.End) {
			slots = append(slots, next)
		}
	}
	local := now.In(cal.Location())
	v := Visit{
		ID: newID("vis-"), Facility: a.facility, Group: a.group, ResidentID: residentID, VisitorID: visitorID,
		Kind: KindDirectDial, Start: now, End: slots[len(slots)-1].End, Local: local.Format(LocalLayout),
		Fold: foldOf(now, cal.Location()), Zone: cfg.Zone, Privileged: a.privileged, Status: StatusBooked, CreatedAt: now,
	}
	err = s.insertVisit(ctx, &v, slots, cfg.WeeklyLimits[KindDirectDial], weekOf(local))
	if errors.Is(err, ErrSlotFull) && len(slots) == 2 {
		// The next slot is full; settle for what is left of this one.
		slots = slots[:1]
		v.End = cur.End
		err = s.insertVisit(ctx, &v, slots, cfg.WeeklyLimits[KindDirectDial], weekOf(local))
	}
	if err != nil {
		return Booking{}, err
	}
	return s.booking(v)
}

// foldOf reports whether t is the second occurrence of its wall-clock
// minute in loc (1) or not (0).
func foldOf(t time.Time, loc *time.Location) int {
	l := t.In(loc)
	y, m, d := l.Date()
	h, mi, _ := l.Clock()
	ts, n := resolve(loc, y, m, d, h*60+mi)
	if n == 2 && !t.Before(ts[1]) {
		return 1
	}
	return 0
}

// Cancellation is a cancelled visit and whether a charge was credited.
type Cancellation struct {
	Visit Visit
	// Credited is true when the visit had been charged and the Crediter
	// confirmed the credit. Visit.CreditDue stays true while it has not.
	Credited bool
}

// CancelByVisitor cancels visitor's booked visit, up to the facility's
// cancellation cutoff before its start. Nothing has been charged for a
// visit that has not started, so there is nothing to credit. Another
// visitor's visit is ErrNotFound.
func (s *Scheduler) CancelByVisitor(ctx context.Context, visitID, visitorID string) (Visit, error) {
	now := s.clk.Now()
	v, err := s.Visit(ctx, visitID)
	if err != nil {
		return Visit{}, err
	}
	if v.VisitorID != visitorID {
		return Visit{}, fmt.Errorf("%w: visit %s", ErrNotFound, visitID)
	}
	if v.Status != StatusBooked {
		return Visit{}, fmt.Errorf("%w: visit is %s", ErrVisitClosed, v.Status)
	}
	cal, err := s.Calendar(ctx, v.Facility)
	if err != nil {
		return Visit{}, err
	}
	if cut := cal.Config().CancelCutoff; !now.Before(v.Start.Add(-cut)) {
		return Visit{}, fmt.Errorf("%w: cancel at least %s before the start", ErrCancelCutoff, cut)
	}
	v, err = s.cancel(ctx, v, "visitor", false, now)
	if err != nil {
		return Visit{}, err
	}
	s.m.Cancellations.WithLabelValues("visitor").Inc()
	if s.ender != nil { // someone may wait in the visit's room already
		if err := s.ender.EndVisit(ctx, v.ID); err != nil {
			s.log.Warn("cancelled visit's waiting room not closed", "visit_id", v.ID, "err", err)
		}
	}
	return v, nil
}

// CancelByFacility cancels a booked or started visit at any time (staff,
// lockdowns). A started visit of a billed kind may have been charged, so
// the Crediter is asked to credit it; if that fails the visit stays
// cancelled with CreditDue set and the error is returned, and cancelling
// it again retries the credit. Cancelling a cancelled visit with no credit
// due returns it unchanged.
func (s *Scheduler) CancelByFacility(ctx context.Context, visitID, reason string) (Cancellation, error) {
	now := s.clk.Now()
	v, err := s.Visit(ctx, visitID)
	if err != nil {
		return Cancellation{}, err
	}
	switch v.Status {
	case StatusBooked, StatusStarted:
		due := v.Status == StatusStarted && v.Kind.Billed()
		if v, err = s.cancel(ctx, v, "facility", due, now); err != nil {
			return Cancellation{}, err
		}
		s.m.Cancellations.WithLabelValues("facility").Inc()
	case StatusCancelled:
	default:
		return Cancellation{}, fmt.Errorf("%w: visit is %s", ErrVisitClosed, v.Status)
	}
	c := Cancellation{Visit: v}
	// Cancelled first, so nobody joins again; then the live session, if
	// any (participants may be waiting in a booked visit too), ends and
	// settles before the credit reads what was charged. A retry (a
	// cancelled visit whose credit is still due) ends it again: the first
	// attempt may have timed out.
	if s.ender != nil && (v.CancelledBy == "facility" || v.CreditDue) {
		if err := s.ender.EndVisit(ctx, v.ID); err != nil {
			return c, fmt.Errorf("scheduler: end live visit %s: %w", v.ID, err)
		}
	}
	if !v.CreditDue {
		return c, nil
	}
	if s.credit == nil {
		s.log.Warn("visit cancelled with a credit due and no crediter", "visit_id", v.ID, "facility", v.Facility)
		return c, nil
	}
	if err := s.credit.CreditVisit(ctx, v.ID, v.ResidentID, reason); err != nil {
		return c, fmt.Errorf("scheduler: credit visit %s: %w", v.ID, err)
	}
	if _, err := s.db.ExecContext(ctx, s.q(`UPDATE sched_visits SET credit_due = 0, updated_at = ? WHERE id = ?`), now.Unix(), v.ID); err != nil {
		return c, fmt.Errorf("scheduler: clear credit due: %w", err)
	}
	c.Visit.CreditDue, c.Credited = false, true
	return c, nil
}

// cancel marks v cancelled if it is still in the status it was read in,
// and frees its station and weekly quota.
func (s *Scheduler) cancel(ctx context.Context, v Visit, by string, creditDue bool, now time.Time) (Visit, error) {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE sched_visits SET status = ?, cancelled_by = ?, credit_due = ?, updated_at = ?
			WHERE id = ? AND status = ?`), string(StatusCancelled), by, b2i(creditDue), now.Unix(), v.ID, string(v.Status))
		if err != nil {
			return fmt.Errorf("scheduler: cancel: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("%w: visit %s changed meanwhile", ErrConflict, v.ID)
		}
		for _, q := range []string{`DELETE FROM sched_stations WHERE visit_id = ?`, `DELETE FROM sched_quota WHERE visit_id = ?`} {
			if _, err := tx.ExecContext(ctx, s.q(q), v.ID); err != nil {
				return fmt.Errorf("scheduler: cancel: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return Visit{}, err
	}
	v.Status, v.CancelledBy, v.CreditDue = StatusCancelled, by, creditDue
	return v, nil
}
