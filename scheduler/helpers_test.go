package scheduler

import (
	"bytes"
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"ipcs/internal/clock"
	"ipcs/internal/sqldb"
	"ipcs/internal/testutil"
	"ipcs/internal/token"
	"ipcs/metrics"
)

// openSQLite opens a fresh SQLite file in tb's temp dir.
func openSQLite(tb testing.TB) *sqldb.DB {
	tb.Helper()
	db, err := sqldb.Open(context.Background(), filepath.Join(tb.TempDir(), "ipcs.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// openPostgres opens the test PostgreSQL in a schema of its own, dropped
// at cleanup, so that tests never see each other's rows.
func openPostgres(tb testing.TB) *sqldb.DB {
	tb.Helper()
	db, err := sqldb.Open(context.Background(), testutil.PostgresSchemaDSN(tb, "sched_test_"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// recordingCrediter stands in for the ledger at the Crediter seam, and
// for the signaling hub at the Ender seam: log has both, in order.
type recordingCrediter struct {
	mu      sync.Mutex
	got     []string
	fail    error
	log     []string
	endFail error
	s       *Scheduler // to see the visit's status when it is ended
}

func (c *recordingCrediter) CreditVisit(_ context.Context, visitID, residentID, reason string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != nil {
		return c.fail
	}
	c.got = append(c.got, visitID+"/"+residentID+"/"+reason)
	c.log = append(c.log, "credit "+visitID)
	return nil
}

func (c *recordingCrediter) EndVisit(ctx context.Context, visitID string) error {
	v, err := c.s.Visit(ctx, visitID)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		return err
	}
	if c.endFail != nil {
		return c.endFail
	}
	c.log = append(c.log, "end "+visitID+" "+string(v.Status))
	return nil
}

type fixture struct {
	s      *Scheduler
	clk    *clock.Fake
	db     *sqldb.DB
	signer *token.Signer
	credit *recordingCrediter
}

// newFixture returns a scheduler on db with a fake clock at now.
func newFixture(tb testing.TB, db *sqldb.DB, now time.Time) *fixture {
	tb.Helper()
	signer, err := token.NewSigner(bytes.Repeat([]byte("k"), 32))
	if err != nil {
		tb.Fatal(err)
	}
	clk := clock.NewFake(now)
	cr := &recordingCrediter{}
	s, err := New(context.Background(), Config{PasswordIterations: 1000}, db, signer, clk, metrics.New().Scheduler, WithCrediter(cr), WithEnder(cr))
	if err != nil {
		tb.Fatal(err)
	}
	cr.s = s
	return &fixture{s: s, clk: clk, db: db, signer: signer, credit: cr}
}

// facility stores cfg (with defaults for the id and zone).
func (f *fixture) facility(tb testing.TB, cfg FacilityConfig) {
	tb.Helper()
	if err := f.s.UpsertFacility(context.Background(), cfg); err != nil {
		tb.Fatal(err)
	}
}

// visitor creates a visitor approved for residents, placed in group.
func (f *fixture) visitor(tb testing.TB, email, facility, group string, residents ...string) Visitor {
	tb.Helper()
	ctx := context.Background()
	v, err := f.s.UpsertVisitor(ctx, VisitorSpec{Email: email, Name: email, Zone: "America/Phoenix", Password: "pw-" + email})
	if err != nil {
		tb.Fatal(err)
	}
	for _, r := range residents {
		if err := f.s.UpsertResident(ctx, Resident{ID: r, Facility: facility, Group: group}); err != nil {
			tb.Fatal(err)
		}
		if err := f.s.Approve(ctx, r, v.ID); err != nil {
			tb.Fatal(err)
		}
	}
	return v
}

// local returns the instant of a wall-clock time that exists once in zone.
func local(tb testing.TB, zone string, y int, m time.Month, d, h, min int) time.Time {
	tb.Helper()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		tb.Fatal(err)
	}
	day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC) // normalizes a day past the month's end
	ts, n := resolve(loc, day.Year(), day.Month(), day.Day(), h*60+min)
	if n != 1 {
		tb.Fatalf("%s %d-%02d-%02d %02d:%02d occurs %d times", zone, y, m, d, h, min, n)
	}
	return ts[0]
}
