package scheduler

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"ipcs/internal/sqldb"
	"ipcs/internal/token"
)

var dstZones = []string{"America/New_York", "Europe/London", "America/Phoenix", "Asia/Kolkata", "Australia/Lord_Howe"}

func TestBookingLeadTimeAndHorizon(t *testing.T) {
	for _, zone := range dstZones {
		t.Run(zone, func(t *testing.T) {
			// "now" is a slot start a few days before the March changes, so
			// that the 14-day horizon crosses the DST day in NY and London.
			now := local(t, zone, 2026, 3, 1, 12, 0)
			f := newFixture(t, openSQLite(t), now)
			f.facility(t, FacilityConfig{ID: "f", Zone: zone, LeadTime: 24 * time.Hour, Horizon: 14 * 24 * time.Hour,
				Groups: []Group{{ID: "a", Stations: 4, Hours: EveryDay("", "")}}})
			tests := []struct {
				name  string
				start time.Time
				want  error
			}{
				{"inside lead time", now.Add(23*time.Hour + 30*time.Minute), ErrOutsideWindow},
				{"exactly lead time", now.Add(24 * time.Hour), nil},
				{"exactly horizon", now.Add(14 * 24 * time.Hour), nil},
				{"past horizon", now.Add(14*24*time.Hour + 30*time.Minute), ErrOutsideWindow},
				{"in the past", now.Add(-time.Hour), ErrOutsideWindow},
				{"not a slot start", now.Add(48*time.Hour + 15*time.Minute), ErrNoSlot},
			}
			for i, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					r := fmt.Sprintf("r-%d", i)
					v := f.visitor(t, fmt.Sprintf("v%d@x.test", i), "f", "a", r)
					b, err := f.s.Book(context.Background(), BookRequest{VisitorID: v.ID, ResidentID: r, Start: tt.start, Kind: KindRemote})
					if !errors.Is(err, tt.want) {
						t.Fatalf("Book = %v, want %v", err, tt.want)
					}
					if err == nil && (!b.Visit.Start.Equal(tt.start) || b.Visit.Zone != zone) {
						t.Fatalf("visit %+v", b.Visit)
					}
				})
			}
		})
	}
}

func TestZeroLeadTimeBooksSlotInProgress(t *testing.T) {
	start := local(t, "America/Chicago", 2026, 11, 21, 9, 0)
	f := newFixture(t, openSQLite(t), start.Add(10*time.Minute))
	f.facility(t, DemoCalendar("demo", "America/Chicago"))
	v := f.visitor(t, "v@x.test", "demo", "", "r-1", "r-2")
	ctx := context.Background()
	b, err := f.s.Book(ctx, BookRequest{VisitorID: v.ID, ResidentID: "r-1", Start: start, Kind: KindInFacility})
	if err != nil {
		t.Fatal(err)
	}
	if b.Visit.Local != "2026-11-21T09:00" || !b.Visit.End.Equal(start.Add(30*time.Minute)) {
		t.Fatalf("visit %+v", b.Visit)
	}
	if _, err := f.s.Book(ctx, BookRequest{VisitorID: v.ID, ResidentID: "r-2", Start: start.Add(-30 * time.Minute), Kind: KindRemote}); !errors.Is(err, ErrOutsideWindow) {
		t.Fatalf("booking a finished slot: %v", err)
	}
}

func TestWeeklyLimitSaturdaySunday(t *testing.T) {
	tests := []struct {
		zone string
		sat  time.Time // a Saturday (the day before a DST change where there is one)
	}{
		{"America/New_York", time.Date(2026, 3, 7, 0, 0, 0, 0, time.UTC)},
		{"Europe/London", time.Date(2026, 3, 28, 0, 0, 0, 0, time.UTC)},
		{"Australia/Lord_Howe", time.Date(2026, 10, 3, 0, 0, 0, 0, time.UTC)},
		{"Asia/Kolkata", time.Date(2026, 6, 6, 0, 0, 0, 0, time.UTC)},
		{"America/Phoenix", time.Date(2026, 10, 31, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.zone, func(t *testing.T) {
			y, m, d := tt.sat.Date()
			at := func(day, h, min int) time.Time { return local(t, tt.zone, y, m, d+day, h, min) }
			f := newFixture(t, openSQLite(t), at(-1, 12, 0))
			f.facility(t, FacilityConfig{ID: "f", Zone: tt.zone,
				WeeklyLimits: map[Kind]int{KindRemote: 1, KindInFacility: 1},
				Groups:       []Group{{ID: "a", Stations: 4, Hours: EveryDay("", "")}}})
			v := f.visitor(t, "v@x.test", "f", "a", "r-1")
			ctx := context.Background()
			book := func(start time.Time, k Kind) (Visit, error) {
				b, err := f.s.Book(ctx, BookRequest{VisitorID: v.ID, ResidentID: "r-1", Start: start, Kind: k})
				return b.Visit, err
			}
			late, err := book(at(0, 23, 30), KindRemote)
			if err != nil {
				t.Fatalf("Saturday 23:30: %v", err)
			}
			if _, err := book(at(0, 10, 0), KindRemote); !errors.Is(err, ErrWeeklyLimit) {
				t.Fatalf("second remote visit on Saturday: %v, want ErrWeeklyLimit", err)
			}
			if _, err := book(at(0, 10, 0), KindInFacility); err != nil {
				t.Fatalf("in-facility visit has its own limit: %v", err)
			}
			if _, err := book(at(1, 0, 0), KindRemote); err != nil {
				t.Fatalf("Sunday 00:00 starts a new week: %v", err)
			}
			if _, err := book(at(1, 10, 0), KindRemote); !errors.Is(err, ErrWeeklyLimit) {
				t.Fatalf("second remote visit of the new week: %v", err)
			}
			if _, err := f.s.CancelByVisitor(ctx, late.ID, v.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := book(at(0, 11, 0), KindRemote); err != nil {
				t.Fatalf("a cancelled visit gives its quota back: %v", err)
			}
		})
	}
}

func TestFallBackSlotsAreDistinctBookings(t *testing.T) {
	f := newFixture(t, openSQLite(t), time.Date(2026, 10, 30, 12, 0, 0, 0, time.UTC))
	f.facility(t, FacilityConfig{ID: "f", Zone: "America/New_York", Groups: []Group{{ID: "a", Stations: 1, Hours: EveryDay("", "")}}})
	v := f.visitor(t, "v@x.test", "f", "a", "r-1")
	ctx := context.Background()
	var got []string
	for _, start := range []string{"2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z"} {
		st, _ := time.Parse(time.RFC3339, start)
		b, err := f.s.Book(ctx, BookRequest{VisitorID: v.ID, ResidentID: "r-1", Start: st, Kind: KindRemote})
		if err != nil {
			t.Fatalf("%s: %v", start, err)
		}
		vv, err := f.s.Visit(ctx, b.Visit.ID)
		if err != nil {
			t.Fatal(err)
		}
		loc, _ := time.LoadLocation(vv.Zone)
		got = append(got, fmt.Sprintf("%s fold %d %s", vv.Local, vv.Fold, vv.Start.In(loc).Format(time.RFC3339)))
	}
	want := "[2026-11-01T01:30 fold 0 2026-11-01T01:30:00-04:00 2026-11-01T01:30 fold 1 2026-11-01T01:30:00-05:00]"
	if fmt.Sprint(got) != want {
		t.Fatalf("got %v, want %s", got, want)
	}
}

func TestCapacityCancelAndCredit(t *testing.T) { testCapacityCancelAndCredit(t, openSQLite(t)) }
func TestCapacityCancelAndCreditPostgres(t *testing.T) {
	testCapacityCancelAndCredit(t, openPostgres(t))
}

func testCapacityCancelAndCredit(t *testing.T, db *sqldb.DB) {
	start := local(t, "America/Chicago", 2026, 11, 23, 10, 0)
	f := newFixture(t, db, start.Add(-3*time.Hour))
	f.facility(t, FacilityConfig{ID: "f", Zone: "America/Chicago", CancelCutoff: 2 * time.Hour,
		Groups: []Group{{ID: "a", Stations: 2, Hours: EveryDay("08:00", "18:00")}}})
	v := f.visitor(t, "v@x.test", "f", "a", "r-1", "r-2", "r-3")
	other := f.visitor(t, "o@x.test", "f", "a")
	ctx := context.Background()
	book := func(r string, k Kind) (Visit, error) {
		b, err := f.s.Book(ctx, BookRequest{VisitorID: v.ID, ResidentID: r, Start: start, Kind: k})
		return b.Visit, err
	}
	a, err := book("r-1", KindRemote)
	if err != nil {
		t.Fatal(err)
	}
	b, err := book("r-2", KindInFacility)
	if err != nil {
		t.Fatal(err)
	}
	if a.Station == b.Station {
		t.Fatalf("both visits on station %d", a.Station)
	}
	if _, err := book("r-3", KindRemote); !errors.Is(err, ErrSlotFull) {
		t.Fatalf("third booking: %v, want ErrSlotFull", err)
	}
	if _, err := book("r-1", KindInFacility); !errors.Is(err, ErrResidentBusy) {
		t.Fatalf("same resident twice: %v, want ErrResidentBusy", err)
	}
	remaining := func() int {
		slots, err := f.s.Slots(ctx, "f", start, start.Add(time.Minute), "a")
		if err != nil || len(slots) != 1 {
			t.Fatalf("Slots = %v, %v", slots, err)
		}
		return slots[0].Remaining
	}
	if n := remaining(); n != 0 {
		t.Fatalf("remaining %d, want 0", n)
	}
	if _, err := f.s.CancelByVisitor(ctx, a.ID, other.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("cancel someone else's visit: %v", err)
	}
	if _, err := f.s.CancelByVisitor(ctx, b.ID, v.ID); err != nil {
		t.Fatalf("cancel 3h ahead: %v", err)
	}
	if n := remaining(); n != 1 {
		t.Fatalf("remaining %d after cancel, want 1", n)
	}
	f.clk.Advance(90 * time.Minute)
	if _, err := f.s.CancelByVisitor(ctx, a.ID, v.ID); !errors.Is(err, ErrCancelCutoff) {
		t.Fatalf("cancel 90 min ahead with a 2h cutoff: %v", err)
	}
	f.clk.Set(start.Add(time.Minute))
	if _, err := f.s.SetStatus(ctx, a.ID, StatusStarted); err != nil {
		t.Fatal(err)
	}
	if want := "[end " + b.ID + " cancelled]"; fmt.Sprint(f.credit.log) != want { // the visitor's cancellation
		t.Fatalf("ended %v, want %s", f.credit.log, want)
	}
	f.credit.log = nil
	f.credit.fail = errors.New("ledger down")
	c, err := f.s.CancelByFacility(ctx, a.ID, "lockdown")
	if err == nil || !c.Visit.CreditDue || c.Credited {
		t.Fatalf("failed credit: %+v, %v", c, err)
	}
	if vv, _ := f.s.Visit(ctx, a.ID); vv.Status != StatusCancelled || !vv.CreditDue || vv.CancelledBy != "facility" {
		t.Fatalf("after failed credit: %+v", vv)
	}
	f.credit.fail = nil
	c, err = f.s.CancelByFacility(ctx, a.ID, "lockdown")
	if err != nil || !c.Credited || c.Visit.CreditDue {
		t.Fatalf("retried credit: %+v, %v", c, err)
	}
	if fmt.Sprint(f.credit.got) != "["+a.ID+"/r-1/lockdown]" {
		t.Fatalf("credits %v", f.credit.got)
	}
	// The live session was ended after the visit was marked cancelled and
	// before each credit attempt (the failed one and the retry), so the
	// credit sees everything it was charged.
	if want := "[end " + a.ID + " cancelled end " + a.ID + " cancelled credit " + a.ID + "]"; fmt.Sprint(f.credit.log) != want {
		t.Fatalf("order %v, want %s", f.credit.log, want)
	}
	// When the live session cannot be ended, the credit waits (still due).
	e, err := book("r-1", KindRemote)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.SetStatus(ctx, e.ID, StatusStarted); err != nil {
		t.Fatal(err)
	}
	f.credit.endFail = errors.New("hub busy")
	if c, err := f.s.CancelByFacility(ctx, e.ID, "count"); err == nil || c.Credited || !c.Visit.CreditDue {
		t.Fatalf("cancel with the session not ended: %+v, %v", c, err)
	}
	f.credit.endFail = nil
	if c, err := f.s.CancelByFacility(ctx, e.ID, "count"); err != nil || !c.Credited {
		t.Fatalf("retried cancel: %+v, %v", c, err)
	}
	f.credit.log = nil
	// A free in-facility visit cancelled by staff has nothing to credit.
	d, err := book("r-3", KindInFacility)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.SetStatus(ctx, d.ID, StatusStarted); err != nil {
		t.Fatal(err)
	}
	if c, err := f.s.CancelByFacility(ctx, d.ID, "count"); err != nil || c.Credited || c.Visit.CreditDue {
		t.Fatalf("in-facility cancel: %+v, %v", c, err)
	}
	if len(f.credit.got) != 2 { // lockdown and count, none for the free visit
		t.Fatalf("credits %v", f.credit.got)
	}
}

func TestJoinTokens(t *testing.T)         { testJoinTokens(t, openSQLite(t)) }
func TestJoinTokensPostgres(t *testing.T) { testJoinTokens(t, openPostgres(t)) }

func testJoinTokens(t *testing.T, db *sqldb.DB) {
	start := local(t, "America/Chicago", 2026, 11, 23, 10, 0)
	f := newFixture(t, db, start.Add(-time.Hour))
	f.facility(t, DemoCalendar("f", "America/Chicago"))
	ctx := context.Background()
	v := f.visitor(t, "v@x.test", "f", "", "r-1")
	att, err := f.s.UpsertVisitor(ctx, VisitorSpec{Email: "lawyer@x.test", Zone: "UTC", Password: "x", Attorney: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.s.Approve(ctx, "r-1", att.ID); err != nil {
		t.Fatal(err)
	}
	b, err := f.s.Book(ctx, BookRequest{VisitorID: v.ID, ResidentID: "r-1", Start: start, Kind: KindRemote})
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range []JoinTicket{b.Visitor, b.Resident} {
		if _, err := f.signer.Verify(tk.Token, JoinPurpose, start.Add(-6*time.Minute)); !errors.Is(err, token.ErrNotYetValid) {
			t.Fatalf("%s token 6 min early: %v", tk.Role, err)
		}
		c, err := f.signer.Verify(tk.Token, JoinPurpose, start.Add(-5*time.Minute))
		if err != nil {
			t.Fatalf("%s token 5 min early: %v", tk.Role, err)
		}
		if c.Resource != b.Visit.ID || c.Facility != "f" || c.Role != string(tk.Role) || c.Expires != start.Add(30*time.Minute).Unix() {
			t.Fatalf("claims %+v", c)
		}
		if _, err := f.signer.Verify(tk.Token, JoinPurpose, start.Add(30*time.Minute)); !errors.Is(err, token.ErrExpired) {
			t.Fatalf("%s token at the end: %v", tk.Role, err)
		}
	}
	if c, _ := f.signer.Verify(b.Resident.Token, JoinPurpose, start); c.Subject != "r-1" {
		t.Fatalf("resident subject %q", c.Subject)
	}
	if _, err := f.s.JoinToken(ctx, b.Visit.ID, RoleOfficer, "officer-1"); err != nil {
		t.Fatalf("officer token: %v", err)
	}
	if _, err := f.s.JoinToken(ctx, b.Visit.ID, RoleVisitor, att.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another visitor's token: %v", err)
	}
	pb, err := f.s.Book(ctx, BookRequest{VisitorID: att.ID, ResidentID: "r-1", Start: start.Add(time.Hour), Kind: KindRemote})
	if err != nil {
		t.Fatal(err)
	}
	if !pb.Visit.Privileged {
		t.Fatal("attorney visit not privileged")
	}
	if _, err := f.s.JoinToken(ctx, pb.Visit.ID, RoleOfficer, "officer-1"); !errors.Is(err, ErrPrivileged) {
		t.Fatalf("officer token for attorney visit: %v", err)
	}
	if _, err := f.s.CancelByVisitor(ctx, b.Visit.ID, v.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.JoinToken(ctx, b.Visit.ID, RoleVisitor, v.ID); !errors.Is(err, ErrVisitClosed) {
		t.Fatalf("token for cancelled visit: %v", err)
	}
}

func TestDirectDial(t *testing.T)         { testDirectDial(t, openSQLite(t)) }
func TestDirectDialPostgres(t *testing.T) { testDirectDial(t, openPostgres(t)) }

func testDirectDial(t *testing.T, db *sqldb.DB) {
	ctx := context.Background()
	open := local(t, "America/Chicago", 2026, 11, 23, 9, 0)
	f := newFixture(t, db, open.Add(-time.Hour))
	f.facility(t, FacilityConfig{ID: "f", Zone: "America/Chicago",
		WeeklyLimits: map[Kind]int{KindDirectDial: 2},
		Groups:       []Group{{ID: "a", Stations: 1, Hours: EveryDay("09:00", "10:00")}}})
	v := f.visitor(t, "v@x.test", "f", "a", "r-1", "r-2")
	stranger := f.visitor(t, "s@x.test", "f", "a")
	if _, err := f.s.DirectDial(ctx, "r-1", v.ID); !errors.Is(err, ErrClosed) {
		t.Fatalf("before opening: %v", err)
	}
	f.clk.Set(open.Add(25 * time.Minute))
	if _, err := f.s.DirectDial(ctx, "r-1", stranger.ID); !errors.Is(err, ErrNotApproved) {
		t.Fatalf("not approved: %v", err)
	}
	b, err := f.s.DirectDial(ctx, "r-1", v.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Five minutes were left of 09:00–09:30, so 09:30–10:00 is claimed too.
	if b.Visit.Kind != KindDirectDial || !b.Visit.Start.Equal(open.Add(25*time.Minute)) || !b.Visit.End.Equal(open.Add(time.Hour)) {
		t.Fatalf("visit %+v", b.Visit)
	}
	if _, err := f.s.DirectDial(ctx, "r-2", v.ID); !errors.Is(err, ErrSlotFull) {
		t.Fatalf("second direct dial with one station: %v", err)
	}
	if _, err := f.s.SetStatus(ctx, b.Visit.ID, StatusStarted); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.SetStatus(ctx, b.Visit.ID, StatusEnded); err != nil {
		t.Fatal(err)
	}
	// An ended visit frees its station.
	f.clk.Advance(10 * time.Minute)
	b2, err := f.s.DirectDial(ctx, "r-2", v.ID)
	if err != nil {
		t.Fatalf("after the first ended: %v", err)
	}
	if !b2.Visit.End.Equal(open.Add(time.Hour)) {
		t.Fatalf("second visit %+v", b2.Visit)
	}
	if _, err := f.s.CancelByFacility(ctx, b2.Visit.ID, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.AddClosure(ctx, Closure{Facility: "f", Start: open, End: open.Add(2 * time.Hour), Reason: "lockdown"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.DirectDial(ctx, "r-2", v.ID); !errors.Is(err, ErrClosed) {
		t.Fatalf("during lockdown: %v", err)
	}
}

func TestSetStatusTransitions(t *testing.T) {
	ctx := context.Background()
	start := local(t, "America/Chicago", 2026, 11, 23, 10, 0)
	f := newFixture(t, openSQLite(t), start.Add(-time.Hour))
	f.facility(t, DemoCalendar("f", "America/Chicago"))
	v := f.visitor(t, "v@x.test", "f", "", "r-1")
	b, err := f.s.Book(ctx, BookRequest{VisitorID: v.ID, ResidentID: "r-1", Start: start, Kind: KindRemote})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		to   Status
		want error
	}{
		{StatusEnded, ErrVisitClosed},
		{StatusStarted, nil},
		{StatusStarted, nil},
		{StatusCancelled, ErrInvalid},
		{StatusEnded, nil},
		{StatusFailed, ErrVisitClosed},
	}
	for i, st := range steps {
		if _, err := f.s.SetStatus(ctx, b.Visit.ID, st.to); !errors.Is(err, st.want) {
			t.Fatalf("step %d → %s: %v, want %v", i, st.to, err, st.want)
		}
	}
	if _, err := f.s.SetStatus(ctx, "vis-nope", StatusStarted); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown visit: %v", err)
	}
}

func TestVisitorsAndSeed(t *testing.T)         { testVisitorsAndSeed(t, openSQLite(t)) }
func TestVisitorsAndSeedPostgres(t *testing.T) { testVisitorsAndSeed(t, openPostgres(t)) }

func testVisitorsAndSeed(t *testing.T, db *sqldb.DB) {
	ctx := context.Background()
	f := newFixture(t, db, time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
	v1, err := f.s.Seed(ctx, DemoSpec{})
	if err != nil {
		t.Fatal(err)
	}
	v2, err := f.s.Seed(ctx, DemoSpec{})
	if err != nil {
		t.Fatal(err)
	}
	if v1.ID != v2.ID || v1.Zone != "America/New_York" {
		t.Fatalf("seed not idempotent: %+v %+v", v1, v2)
	}
	rs, err := f.s.Approvals(ctx, v1.ID)
	if err != nil || len(rs) != 3 || rs[0].Group != "visits" {
		t.Fatalf("approvals %v, %v", rs, err)
	}
	if _, err := f.s.Authenticate(ctx, "Visitor@Demo.test", "demo"); err != nil {
		t.Fatalf("sign in: %v", err)
	}
	for _, c := range [][2]string{{"visitor@demo.test", "nope"}, {"nobody@demo.test", "demo"}} {
		if _, err := f.s.Authenticate(ctx, c[0], c[1]); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("sign in %v: %v", c, err)
		}
	}
	if _, err := f.s.CreateVisitor(ctx, VisitorSpec{Email: "visitor@demo.test", Zone: "UTC", Password: "x"}); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("duplicate email: %v", err)
	}
	if _, err := f.s.CreateVisitor(ctx, VisitorSpec{Email: "a@b.test", Zone: "Nowhere/Land", Password: "x"}); !errors.Is(err, ErrInvalidZone) {
		t.Fatalf("bad zone: %v", err)
	}
	// The demo calendar is open now, so the demo visitor can book the
	// slot in progress and get a token that is valid at once.
	b, err := f.s.Book(ctx, BookRequest{VisitorID: v1.ID, ResidentID: "r-1001", Start: time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC), Kind: KindRemote})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.signer.Verify(b.Visitor.Token, JoinPurpose, f.clk.Now()); err != nil {
		t.Fatalf("demo token: %v", err)
	}
	day, err := f.s.FacilityDay(ctx, "demo", "")
	if err != nil || len(day) != 1 {
		t.Fatalf("officer list: %v, %v", day, err)
	}
}
