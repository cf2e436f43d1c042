package scheduler

import (
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Visitor is a family member or attorney who books and joins visits.
type Visitor struct {
	ID    string
	Email string
	Name  string
	// Zone is the visitor's IANA zone, the default for showing slots.
	Zone string
	// Attorney marks a privileged visitor: their visits are never
	// recorded or monitored (DESIGN.md, domain rules).
	Attorney  bool
	CreatedAt time.Time
}

// VisitorSpec creates or updates a visitor account.
type VisitorSpec struct {
	Email    string
	Name     string
	Zone     string
	Password string
	Attorney bool
}

func normEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }

func (v VisitorSpec) check() error {
	e := normEmail(v.Email)
	at := strings.IndexByte(e, '@')
	switch {
	case len(e) > 128 || at < 1 || at == len(e)-1 || strings.ContainsAny(e, " \t\r\n"):
		return fmt.Errorf("%w: email", ErrInvalid)
	case len(v.Name) > 128:
		return fmt.Errorf("%w: name longer than 128 bytes", ErrInvalid)
	case v.Password == "" || len(v.Password) > 256:
		return fmt.Errorf("%w: password must be 1-256 bytes", ErrInvalid)
	}
	if _, err := loadZone(v.Zone); err != nil {
		return err
	}
	return nil
}

// Password hashes are "pbkdf2-sha256$<iterations>$<salt>$<key>" with
// base64 (raw, standard) salt and key; crypto/pbkdf2 is in the standard
// library since Go 1.24 and golang.org/x/crypto is not a dependency.
const hashScheme = "pbkdf2-sha256"

func hashPassword(pw string, iter int) (string, error) {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	key, err := pbkdf2.Key(sha256.New, pw, salt, iter, 32)
	if err != nil {
		return "", fmt.Errorf("scheduler: hash password: %w", err)
	}
	enc := base64.RawStdEncoding
	return hashScheme + "$" + strconv.Itoa(iter) + "$" + enc.EncodeToString(salt) + "$" + enc.EncodeToString(key), nil
}

func checkPassword(stored, pw string) bool {
	parts := strings.Split(stored, "$")
	if len(parts) != 4 || parts[0] != hashScheme {
		return false
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < 1 || iter > 10_000_000 {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[2])
	want, err2 := enc.DecodeString(parts[3])
	if err1 != nil || err2 != nil {
		return false
	}
	got, err := pbkdf2.Key(sha256.New, pw, salt, iter, len(want))
	return err == nil && subtle.ConstantTimeCompare(got, want) == 1
}

// CreateVisitor adds a visitor account; ErrDuplicate if the email is taken.
func (s *Scheduler) CreateVisitor(ctx context.Context, spec VisitorSpec) (Visitor, error) {
	if err := spec.check(); err != nil {
		return Visitor{}, err
	}
	hash, err := hashPassword(spec.Password, s.cfg.PasswordIterations)
	if err != nil {
		return Visitor{}, err
	}
	v := Visitor{ID: newID("v-"), Email: normEmail(spec.Email), Name: spec.Name, Zone: spec.Zone,
		Attorney: spec.Attorney, CreatedAt: s.clk.Now().UTC().Truncate(time.Second)}
	_, err = s.db.ExecContext(ctx, s.q(`INSERT INTO sched_visitors (id, email, name, zone, password, attorney, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`), v.ID, v.Email, v.Name, v.Zone, hash, b2i(v.Attorney), v.CreatedAt.Unix())
	if retryable(err) {
		return Visitor{}, fmt.Errorf("%w: visitor %s", ErrDuplicate, v.Email)
	} else if err != nil {
		return Visitor{}, fmt.Errorf("scheduler: create visitor: %w", err)
	}
	return v, nil
}

// UpsertVisitor creates the visitor with spec's email or updates its name,
// zone, password and attorney flag; the daemon seeds the demo visitor
// with it at every start.
func (s *Scheduler) UpsertVisitor(ctx context.Context, spec VisitorSpec) (Visitor, error) {
	if err := spec.check(); err != nil {
		return Visitor{}, err
	}
	v, err := s.visitorBy(ctx, "email", normEmail(spec.Email))
	if errors.Is(err, ErrNotFound) {
		v, err = s.CreateVisitor(ctx, spec)
		if !errors.Is(err, ErrDuplicate) {
			return v, err
		}
		v, err = s.visitorBy(ctx, "email", normEmail(spec.Email)) // another node created it meanwhile
	}
	if err != nil {
		return Visitor{}, err
	}
	var stored string
	if err := s.db.QueryRowContext(ctx, s.q(`SELECT password FROM sched_visitors WHERE id = ?`), v.ID).Scan(&stored); err != nil {
		return Visitor{}, fmt.Errorf("scheduler: upsert visitor: %w", err)
	}
	if !checkPassword(stored, spec.Password) {
		if stored, err = hashPassword(spec.Password, s.cfg.PasswordIterations); err != nil {
			return Visitor{}, err
		}
	}
	v.Name, v.Zone, v.Attorney = spec.Name, spec.Zone, spec.Attorney
	_, err = s.db.ExecContext(ctx, s.q(`UPDATE sched_visitors SET name = ?, zone = ?, password = ?, attorney = ? WHERE id = ?`),
		v.Name, v.Zone, stored, b2i(v.Attorney), v.ID)
	if err != nil {
		return Visitor{}, fmt.Errorf("scheduler: upsert visitor: %w", err)
	}
	return v, nil
}

// Visitor returns the visitor with id.
func (s *Scheduler) Visitor(ctx context.Context, id string) (Visitor, error) {
	return s.visitorBy(ctx, "id", id)
}

func (s *Scheduler) visitorBy(ctx context.Context, col, val string) (Visitor, error) {
	var v Visitor
	var att int
	var created int64
	// col is one of two constants, never input.
	err := s.db.QueryRowContext(ctx, s.q(`SELECT id, email, name, zone, attorney, created_at FROM sched_visitors WHERE `+col+` = ?`), val).
		Scan(&v.ID, &v.Email, &v.Name, &v.Zone, &att, &created)
	if err != nil {
		return Visitor{}, fmt.Errorf("scheduler: visitor: %w", noRows(err, ErrNotFound))
	}
	v.Attorney, v.CreatedAt = att == 1, time.Unix(created, 0).UTC()
	return v, nil
}

// Authenticate checks a visitor's email and password. It answers
// ErrBadCredentials for a wrong email or password alike, and spends the
// same work on both so that timing does not tell which.
func (s *Scheduler) Authenticate(ctx context.Context, email, password string) (Visitor, error) {
	var v Visitor
	var stored string
	var att int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT id, email, name, zone, attorney, password FROM sched_visitors WHERE email = ?`), normEmail(email)).
		Scan(&v.ID, &v.Email, &v.Name, &v.Zone, &att, &stored)
	if errors.Is(err, sql.ErrNoRows) {
		_, _ = pbkdf2.Key(sha256.New, password, make([]byte, 16), s.cfg.PasswordIterations, 32)
		return Visitor{}, ErrBadCredentials
	} else if err != nil {
		return Visitor{}, fmt.Errorf("scheduler: authenticate: %w", err)
	}
	if !checkPassword(stored, password) {
		return Visitor{}, ErrBadCredentials
	}
	v.Attorney = att == 1
	return v, nil
}

// Resident places a resident in a facility's station group (housing
// unit), which decides the slots their visits use. The resident id is the
// resident's debit account id shared with the ledger.
type Resident struct {
	ID       string
	Facility string
	Group    string
}

// UpsertResident records or moves a resident. An empty Group means the
// facility's first group.
func (s *Scheduler) UpsertResident(ctx context.Context, r Resident) error {
	if !validID(r.ID) {
		return fmt.Errorf("%w: resident id %q", ErrInvalid, r.ID)
	}
	cal, err := s.Calendar(ctx, r.Facility)
	if err != nil {
		return err
	}
	g, ok := cal.group(r.Group)
	if !ok {
		return fmt.Errorf("%w: group %q", ErrNotFound, r.Group)
	}
	_, err = s.db.ExecContext(ctx, s.q(`INSERT INTO sched_residents (id, facility, grp, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET facility = excluded.facility, grp = excluded.grp, updated_at = excluded.updated_at`),
		r.ID, r.Facility, g.id, s.clk.Now().Unix())
	if err != nil {
		return fmt.Errorf("scheduler: upsert resident: %w", err)
	}
	return nil
}

// Resident returns where resident id is placed.
func (s *Scheduler) Resident(ctx context.Context, id string) (Resident, error) {
	r := Resident{ID: id}
	err := s.db.QueryRowContext(ctx, s.q(`SELECT facility, grp FROM sched_residents WHERE id = ?`), id).Scan(&r.Facility, &r.Group)
	if err != nil {
		return Resident{}, fmt.Errorf("scheduler: resident: %w", noRows(err, ErrNotFound))
	}
	return r, nil
}

// Approve puts visitor on resident's approved list; approving twice is
// harmless. Both must exist.
func (s *Scheduler) Approve(ctx context.Context, residentID, visitorID string) error {
	if _, err := s.Resident(ctx, residentID); err != nil {
		return err
	}
	if _, err := s.Visitor(ctx, visitorID); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO sched_approvals (resident_id, visitor_id, created_at) VALUES (?, ?, ?)
		ON CONFLICT (resident_id, visitor_id) DO NOTHING`), residentID, visitorID, s.clk.Now().Unix())
	if err != nil {
		return fmt.Errorf("scheduler: approve: %w", err)
	}
	return nil
}

// Revoke takes visitor off resident's approved list. Visits already
// booked stay; staff cancel them if they must.
func (s *Scheduler) Revoke(ctx context.Context, residentID, visitorID string) error {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM sched_approvals WHERE resident_id = ? AND visitor_id = ?`), residentID, visitorID)
	if err != nil {
		return fmt.Errorf("scheduler: revoke: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: approval", ErrNotFound)
	}
	return nil
}

// Approvals returns the residents visitor may visit.
func (s *Scheduler) Approvals(ctx context.Context, visitorID string) ([]Resident, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT r.id, r.facility, r.grp FROM sched_approvals a
		JOIN sched_residents r ON r.id = a.resident_id WHERE a.visitor_id = ? ORDER BY r.id`), visitorID)
	if err != nil {
		return nil, fmt.Errorf("scheduler: approvals: %w", err)
	}
	defer rows.Close()
	out := []Resident{}
	for rows.Next() {
		var r Resident
		if err := rows.Scan(&r.ID, &r.Facility, &r.Group); err != nil {
			return nil, fmt.Errorf("scheduler: approvals: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// approval is what a booking needs to know about a resident and visitor.
type approval struct {
	facility, group string
	privileged      bool
}

func (s *Scheduler) approved(ctx context.Context, residentID, visitorID string) (approval, error) {
	var a approval
	var att int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT r.facility, r.grp, v.attorney FROM sched_approvals a
		JOIN sched_residents r ON r.id = a.resident_id JOIN sched_visitors v ON v.id = a.visitor_id
		WHERE a.resident_id = ? AND a.visitor_id = ?`), residentID, visitorID).Scan(&a.facility, &a.group, &att)
	if err != nil {
		return approval{}, fmt.Errorf("scheduler: approval: %w", noRows(err, ErrNotApproved))
	}
	a.privileged = att == 1
	return a, nil
}
