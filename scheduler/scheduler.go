package scheduler

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"ipcs/internal/clock"
	"ipcs/internal/sqldb"
	"ipcs/internal/token"
	"ipcs/metrics"
)

// Crediter gives back whatever a visit was charged when the facility
// cancels it after it started. The ledger satisfies it (wired in
// cmd/ipcsd); the scheduler never learns amounts. It must be idempotent
// per visit id: a cancellation whose credit failed is retried by
// cancelling again, which asks again.
type Crediter interface {
	CreditVisit(ctx context.Context, visitID, residentID, reason string) error
}

// Ender ends a visit's live session (media and metering) and returns
// once its charge and CDR are settled; a visit with no live session is
// no error. The signaling hub satisfies it (wired in
// cmd/ipcsd). A facility's cancellation ends the live session before it
// credits, so the credit sees everything the visit was charged and the
// visit is not billed after it was cancelled.
type Ender interface {
	EndVisit(ctx context.Context, visitID string) error
}

// Option sets an optional collaborator of New.
type Option func(*Scheduler)

// WithLogger sets the logger; the default discards.
func WithLogger(l *slog.Logger) Option {
	return func(s *Scheduler) { s.log = l.With("component", "scheduler") }
}

// WithCrediter sets who credits charged visits that staff cancel.
// Without one, such visits are cancelled and left with a credit due.
func WithCrediter(c Crediter) Option { return func(s *Scheduler) { s.credit = c } }

// WithEnder sets who ends a cancelled visit's live session.
func WithEnder(e Ender) Option { return func(s *Scheduler) { s.ender = e } }

// Scheduler keeps facilities' visit calendars, visitors, approvals and
// bookings in the shared database. It is safe for concurrent use, also
// by several nodes sharing one PostgreSQL database.
type Scheduler struct {
	cfg    Config
	db     *sqldb.DB
	signer *token.Signer
	clk    clock.Clock
	m      *metrics.Scheduler
	log    *slog.Logger
	credit Crediter
	ender  Ender
	zones  zoneCache

	// mu guards cals, the compiled calendars by facility id, valid while
	// the row's version is unchanged.
	mu   sync.Mutex
	cals map[string]calEntry
}

type calEntry struct {
	version int64
	cal     *Calendar
}

// New opens the scheduler on db, creating its tables if needed. signer
// signs join tokens (the same key the signaling server verifies with).
func New(ctx context.Context, cfg Config, db *sqldb.DB, signer *token.Signer, clk clock.Clock, m *metrics.Scheduler, opts ...Option) (*Scheduler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if db == nil || signer == nil || clk == nil || m == nil {
		return nil, errors.New("scheduler: New needs a database, signer, clock and metrics")
	}
	s := &Scheduler{
		cfg: cfg.withDefaults(), db: db, signer: signer, clk: clk, m: m,
		log: slog.New(slog.DiscardHandler), cals: map[string]calEntry{},
	}
	for _, o := range opts {
		o(s)
	}
	if err := migrate(ctx, db); err != nil {
		return nil, err
	}
	return s, nil
}

// newID returns prefix followed by 16 random hex digits.
func newID(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return prefix + hex.EncodeToString(b[:])
}

// Zone loads an IANA zone by name, cached; ErrInvalidZone otherwise.
func (s *Scheduler) Zone(name string) (*time.Location, error) { return s.zones.load(name) }

// UpsertFacility stores cfg as facility cfg.ID's calendar, creating or
// replacing it; storing the same calendar again changes nothing, so the
// daemon may call it at every start. Existing bookings keep their slots.
func (s *Scheduler) UpsertFacility(ctx context.Context, cfg FacilityConfig) error {
	if _, err := cfg.compile(); err != nil {
		return err
	}
	body, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("scheduler: encode calendar: %w", err)
	}
	now := s.clk.Now().Unix()
	_, err = s.db.ExecContext(ctx, s.q(`INSERT INTO sched_facilities (id, config, version, updated_at) VALUES (?, ?, 1, ?)
		ON CONFLICT (id) DO UPDATE SET config = excluded.config, version = sched_facilities.version + 1, updated_at = excluded.updated_at
		WHERE sched_facilities.config <> excluded.config`), cfg.ID, string(body), now)
	if err != nil {
		return fmt.Errorf("scheduler: upsert facility %s: %w", cfg.ID, err)
	}
	return nil
}

// Calendar returns facility id's compiled calendar.
func (s *Scheduler) Calendar(ctx context.Context, id string) (*Calendar, error) {
	if !validID(id) {
		return nil, fmt.Errorf("%w: facility %q", ErrNotFound, id)
	}
	var body string
	var version int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT config, version FROM sched_facilities WHERE id = ?`), id).Scan(&body, &version)
	if err != nil {
		return nil, fmt.Errorf("scheduler: facility %s: %w", id, noRows(err, ErrNotFound))
	}
	s.mu.Lock()
	e, ok := s.cals[id]
	s.mu.Unlock()
	if ok && e.version == version {
		return e.cal, nil
	}
	var cfg FacilityConfig
	if err := json.Unmarshal([]byte(body), &cfg); err != nil {
		return nil, fmt.Errorf("scheduler: facility %s: stored calendar: %w", id, err)
	}
	cal, err := cfg.compile()
	if err != nil {
		return nil, fmt.Errorf("scheduler: facility %s: stored calendar: %w", id, err)
	}
	s.mu.Lock()
	s.cals[id] = calEntry{version: version, cal: cal}
	s.mu.Unlock()
	return cal, nil
}

// Closure closes a facility, or one station group of it, for an interval:
// a holiday or a lockdown. Slots that overlap it are not offered and
// cannot be booked; visits already booked are not touched (staff cancel
// them, which the API lists).
type Closure struct {
	ID       string
	Facility string
	Group    string // "" closes every group
	Start    time.Time
	End      time.Time
	Reason   string
}

// AddClosure records c, giving it an id if it has none; adding a closure
// with an existing id replaces it.
func (s *Scheduler) AddClosure(ctx context.Context, c Closure) (Closure, error) {
	cal, err := s.Calendar(ctx, c.Facility)
	if err != nil {
		return Closure{}, err
	}
	if c.Group != "" {
		if _, ok := cal.group(c.Group); !ok {
			return Closure{}, fmt.Errorf("%w: group %q", ErrNotFound, c.Group)
		}
	}
	if !c.End.After(c.Start) || len(c.Reason) > 200 {
		return Closure{}, fmt.Errorf("%w: closure must end after it starts, reason at most 200 bytes", ErrInvalid)
	}
	if c.ID == "" {
		c.ID = newID("cl-")
	} else if !validID(c.ID) {
		return Closure{}, fmt.Errorf("%w: closure id %q", ErrInvalid, c.ID)
	}
	c.Start, c.End = c.Start.UTC().Truncate(time.Second), c.End.UTC().Truncate(time.Second)
	_, err = s.db.ExecContext(ctx, s.q(`INSERT INTO sched_closures (id, facility, grp, start_utc, end_utc, reason) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET facility = excluded.facility, grp = excluded.grp, start_utc = excluded.start_utc,
		end_utc = excluded.end_utc, reason = excluded.reason`),
		c.ID, c.Facility, c.Group, c.Start.Unix(), c.End.Unix(), c.Reason)
	if err != nil {
		return Closure{}, fmt.Errorf("scheduler: add closure: %w", err)
	}
	return c, nil
}

// RemoveClosure deletes a closure of facility.
func (s *Scheduler) RemoveClosure(ctx context.Context, facility, id string) error {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM sched_closures WHERE facility = ? AND id = ?`), facility, id)
	if err != nil {
		return fmt.Errorf("scheduler: remove closure: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: closure %q", ErrNotFound, id)
	}
	return nil
}

// Closures returns facility's closures that overlap [from, to).
func (s *Scheduler) Closures(ctx context.Context, facility string, from, to time.Time) ([]Closure, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, grp, start_utc, end_utc, reason FROM sched_closures
		WHERE facility = ? AND end_utc > ? AND start_utc < ? ORDER BY start_utc, id`), facility, from.Unix(), to.Unix())
	if err != nil {
		return nil, fmt.Errorf("scheduler: closures: %w", err)
	}
	defer rows.Close()
	var out []Closure
	for rows.Next() {
		c := Closure{Facility: facility}
		var st, en int64
		if err := rows.Scan(&c.ID, &c.Group, &st, &en, &c.Reason); err != nil {
			return nil, fmt.Errorf("scheduler: closures: %w", err)
		}
		c.Start, c.End = time.Unix(st, 0).UTC(), time.Unix(en, 0).UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}

func closed(cs []Closure, group string, start, end time.Time) bool {
	for _, c := range cs {
		if (c.Group == "" || c.Group == group) && c.Start.Before(end) && c.End.After(start) {
			return true
		}
	}
	return false
}

// Slots returns facility's slots starting in [from, to) for group (every
// group when ""), without closed ones, each with its remaining capacity.
// The range may span at most Config.MaxDays days.
func (s *Scheduler) Slots(ctx context.Context, facility string, from, to time.Time, group string) ([]Slot, error) {
	if !from.Before(to) || to.Sub(from) > time.Duration(s.cfg.MaxDays)*24*time.Hour+2*time.Hour {
		return nil, fmt.Errorf("%w: range must be positive and at most %d days", ErrInvalid, s.cfg.MaxDays)
	}
	cal, err := s.Calendar(ctx, facility)
	if err != nil {
		return nil, err
	}
	if group != "" {
		if _, ok := cal.group(group); !ok {
			return nil, fmt.Errorf("%w: group %q", ErrNotFound, group)
		}
	}
	all := cal.Slots(nil, from, to, group)
	if len(all) == 0 {
		return all, nil
	}
	lo, hi := all[0].Start, all[len(all)-1].End
	cs, err := s.Closures(ctx, facility, lo, hi)
	if err != nil {
		return nil, err
	}
	used, err := s.stationsUsed(ctx, facility, group, lo, hi)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, sl := range all {
		if closed(cs, sl.Group, sl.Start, sl.End) {
			continue
		}
		sl.Remaining = max(0, sl.Stations-used[slotKey{sl.Group, sl.Start.Unix()}])
		out = append(out, sl)
	}
	return out, nil
}

type slotKey struct {
	group string
	start int64
}

func (s *Scheduler) stationsUsed(ctx context.Context, facility, group string, from, to time.Time) (map[slotKey]int, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT grp, slot_start, COUNT(*) FROM sched_stations
		WHERE facility = ? AND (? = '' OR grp = ?) AND slot_start >= ? AND slot_start < ? GROUP BY grp, slot_start`),
		facility, group, group, from.Unix(), to.Unix())
	if err != nil {
		return nil, fmt.Errorf("scheduler: stations used: %w", err)
	}
	defer rows.Close()
	used := map[slotKey]int{}
	for rows.Next() {
		var k slotKey
		var n int
		if err := rows.Scan(&k.group, &k.start, &n); err != nil {
			return nil, fmt.Errorf("scheduler: stations used: %w", err)
		}
		used[k] = n
	}
	return used, rows.Err()
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

var _ scanner = (*sql.Row)(nil)
