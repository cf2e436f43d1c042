package scheduler

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Visit is one booked (or direct-dial) video visit. The signaling server
// admits participants by it: Start and End bound the session, Privileged
// forbids monitoring and recording, Kind decides billing.
type Visit struct {
	ID         string
	Facility   string
	Group      string
	ResidentID string
	VisitorID  string
	Kind       Kind
	Start      time.Time // UTC
	End        time.Time // UTC
	// Local is the slot's facility wall-clock start ("2006-01-02T15:04")
	// and Fold which occurrence of it (0, or 1 for the repeated hour when
	// clocks go back). They are stored, not derived: a booking keeps its
	// facility local time.
	Local      string
	Fold       int
	Zone       string // the facility's IANA zone
	Privileged bool
	Status     Status
	Station    int
	CreatedAt  time.Time
	// CancelledBy is "visitor" or "facility" for a cancelled visit.
	CancelledBy string
	// CreditDue is set when staff cancelled a charged visit and the
	// credit has not been confirmed yet.
	CreditDue bool
}

const visitCols = `id, facility, grp, resident_id, visitor_id, kind, status, start_utc, end_utc, zone, local_start, fold,
	privileged, station, created_at, cancelled_by, credit_due`

func scanVisit(sc scanner) (Visit, error) {
	var v Visit
	var kind, status string
	var st, en, created int64
	var priv, due int
	err := sc.Scan(&v.ID, &v.Facility, &v.Group, &v.ResidentID, &v.VisitorID, &kind, &status, &st, &en, &v.Zone,
		&v.Local, &v.Fold, &priv, &v.Station, &created, &v.CancelledBy, &due)
	if err != nil {
		return Visit{}, err
	}
	v.Kind, v.Status = Kind(kind), Status(status)
	v.Start, v.End, v.CreatedAt = time.Unix(st, 0).UTC(), time.Unix(en, 0).UTC(), time.Unix(created, 0).UTC()
	v.Privileged, v.CreditDue = priv == 1, due == 1
	return v, nil
}

// Visit returns the visit with id; ErrNotFound if there is none.
func (s *Scheduler) Visit(ctx context.Context, id string) (Visit, error) {
	return s.visit(ctx, s.db, id)
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Scheduler) visit(ctx context.Context, q querier, id string) (Visit, error) {
	if id == "" || len(id) > 64 {
		return Visit{}, fmt.Errorf("%w: visit %q", ErrNotFound, id)
	}
	v, err := scanVisit(q.QueryRowContext(ctx, s.q(`SELECT `+visitCols+` FROM sched_visits WHERE id = ?`), id))
	if err != nil {
		return Visit{}, fmt.Errorf("scheduler: visit %s: %w", id, noRows(err, ErrNotFound))
	}
	return v, nil
}

func (s *Scheduler) visits(ctx context.Context, where string, args ...any) ([]Visit, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+visitCols+` FROM sched_visits WHERE `+where+` ORDER BY start_utc, id LIMIT 500`), args...)
	if err != nil {
		return nil, fmt.Errorf("scheduler: visits: %w", err)
	}
	defer rows.Close()
	out := []Visit{}
	for rows.Next() {
		v, err := scanVisit(rows)
		if err != nil {
			return nil, fmt.Errorf("scheduler: visits: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// VisitorVisits returns visitor's visits that end after since (at most
// 500, by start), whatever their status.
func (s *Scheduler) VisitorVisits(ctx context.Context, visitorID string, since time.Time) ([]Visit, error) {
	return s.visits(ctx, `visitor_id = ? AND end_utc > ?`, visitorID, since.Unix())
}

// ResidentVisits returns resident's visits that end after since.
func (s *Scheduler) ResidentVisits(ctx context.Context, residentID string, since time.Time) ([]Visit, error) {
	return s.visits(ctx, `resident_id = ? AND end_utc > ?`, residentID, since.Unix())
}

// FacilityDay returns facility's visits that start on local date
// ("YYYY-MM-DD" in the facility's zone; "" means today there), for the
// officers' list.
func (s *Scheduler) FacilityDay(ctx context.Context, facility, date string) ([]Visit, error) {
	cal, err := s.Calendar(ctx, facility)
	if err != nil {
		return nil, err
	}
	loc := cal.Location()
	var y int
	var m time.Month
	var d int
	if date == "" {
		y, m, d = s.clk.Now().In(loc).Date()
	} else {
		t, err := time.Parse(time.DateOnly, date)
		if err != nil {
			return nil, fmt.Errorf("%w: date %q", ErrInvalid, date)
		}
		y, m, d = t.Date()
	}
	// time.Date moves a midnight that clocks skip to the first instant
	// after it, which is the start of that day.
	from := time.Date(y, m, d, 0, 0, 0, 0, loc)
	to := time.Date(y, m, d+1, 0, 0, 0, 0, loc)
	return s.visits(ctx, `facility = ? AND start_utc >= ? AND start_utc < ?`, facility, from.Unix(), to.Unix())
}

// transitions lists, for each target status SetStatus accepts, the
// statuses a visit may move from.
var transitions = map[Status][]Status{
	StatusStarted: {StatusBooked},
	StatusEnded:   {StatusStarted},
	StatusFailed:  {StatusBooked, StatusStarted},
}

// SetStatus moves a visit to started, ended or failed; the signaling
// server calls it as the session goes. Setting the status a visit already
// has is a no-op. An ended or failed visit frees its station; a failed
// one also gives back its weekly quota. Other moves are ErrVisitClosed.
func (s *Scheduler) SetStatus(ctx context.Context, id string, to Status) (Visit, error) {
	from, ok := transitions[to]
	if !ok {
		return Visit{}, fmt.Errorf("%w: status %q", ErrInvalid, to)
	}
	now := s.clk.Now().Unix()
	var out Visit
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		v, err := s.visit(ctx, tx, id)
		if err != nil {
			return err
		}
		if v.Status == to {
			out = v
			return nil
		}
		allowed := false
		for _, f := range from {
			allowed = allowed || v.Status == f
		}
		if !allowed {
			return fmt.Errorf("%w: %s visit cannot become %s", ErrVisitClosed, v.Status, to)
		}
		res, err := tx.ExecContext(ctx, s.q(`UPDATE sched_visits SET status = ?, updated_at = ? WHERE id = ? AND status = ?`),
			string(to), now, id, string(v.Status))
		if err != nil {
			return fmt.Errorf("scheduler: set status: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("%w: visit %s changed meanwhile", ErrConflict, id)
		}
		if to == StatusEnded || to == StatusFailed {
			if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM sched_stations WHERE visit_id = ?`), id); err != nil {
				return fmt.Errorf("scheduler: free station: %w", err)
			}
		}
		if to == StatusFailed {
			if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM sched_quota WHERE visit_id = ?`), id); err != nil {
				return fmt.Errorf("scheduler: free quota: %w", err)
			}
		}
		v.Status = to
		out = v
		return nil
	})
	if err != nil {
		return Visit{}, err
	}
	return out, nil
}
