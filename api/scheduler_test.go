package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ipcs/internal/clock"
	"ipcs/internal/sqldb"
	"ipcs/internal/token"
	"ipcs/metrics"
	"ipcs/scheduler"
)

// schedEnv is the scheduler API over a real SQLite file, seeded with the
// demo calendar, visitor and residents, on a fake clock.
type schedEnv struct {
	mux     *Mux
	s       *scheduler.Scheduler
	clk     *clock.Fake
	db      *sqldb.DB
	signer  *token.Signer
	visitor scheduler.Visitor
	family  string // session tokens
	officer string
	admin   string
}

func newSchedEnv(tb testing.TB) *schedEnv {
	tb.Helper()
	ctx := context.Background()
	db, err := sqldb.Open(ctx, filepath.Join(tb.TempDir(), "ipcs.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	signer, err := token.NewSigner(bytes.Repeat([]byte("s"), 32))
	if err != nil {
		tb.Fatal(err)
	}
	// 12:00 UTC is 06:00 in Chicago, the demo facility's zone.
	clk := clock.NewFake(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
	s, err := scheduler.New(ctx, scheduler.Config{PasswordIterations: 1000}, db, signer, clk, metrics.New().Scheduler)
	if err != nil {
		tb.Fatal(err)
	}
	v, err := s.Seed(ctx, scheduler.DemoSpec{})
	if err != nil {
		tb.Fatal(err)
	}
	auth := NewAuth(signer, clk, time.Hour)
	mux := NewMux(metrics.New().HTTP, clk, nil)
	mux.Route("POST /api/v1/login", auth.LoginHandler(map[Role]Credentials{
		RoleFamily:  FamilyCredentials(s),
		RoleOfficer: StaticCredentials{"officer": {Secret: "pw", Facility: "demo"}},
		RoleAdmin:   StaticCredentials{"admin": {Secret: "pw"}},
	}))
	NewSchedulerHandler(s, auth, clk, nil).Register(mux)
	e := &schedEnv{mux: mux, s: s, clk: clk, db: db, signer: signer, visitor: v}
	e.family = e.login(tb, "family", "visitor@demo.test", "demo")
	e.officer = e.login(tb, "officer", "officer", "pw")
	e.admin = e.login(tb, "admin", "admin", "pw")
	return e
}

func (e *schedEnv) do(method, path, bearer, body string) *httptest.ResponseRecorder {
	var rd *strings.Reader
	if body != "" {
		rd = strings.NewReader(body)
	} else {
		rd = strings.NewReader("")
	}
	req := httptest.NewRequest(method, path, rd)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	rec := httptest.NewRecorder()
	e.mux.ServeHTTP(rec, req)
	return rec
}

func (e *schedEnv) login(tb testing.TB, role, user, secret string) string {
	tb.Helper()
	b, _ := json.Marshal(map[string]string{"role": role, "user": user, "secret": secret})
	rec := e.do("POST", "/api/v1/login", "", string(b))
	if rec.Code != 200 {
		tb.Fatalf("login %s: %d %s", role, rec.Code, rec.Body.String())
	}
	var out struct{ Token string }
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return out.Token
}

// visits counts the rows of sched_visits: bad input must write none.
func (e *schedEnv) visits(tb testing.TB) int {
	tb.Helper()
	var n int
	if err := e.db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM sched_visits`).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

func decodeInto(tb testing.TB, rec *httptest.ResponseRecorder, v any) {
	tb.Helper()
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		tb.Fatalf("body %q: %v", rec.Body.String(), err)
	}
}

type slotsBody struct {
	Zone         string     `json:"zone"`
	FacilityZone string     `json:"facility_zone"`
	Slots        []slotJSON `json:"slots"`
}

func TestSchedulerAPIFlow(t *testing.T) {
	e := newSchedEnv(t)

	rec := e.do("GET", "/api/v1/me", e.family, "")
	var me struct {
		ID        string
		Zone      string
		Residents []struct{ ID, Facility, Group string }
	}
	decodeInto(t, rec, &me)
	if rec.Code != 200 || me.ID != e.visitor.ID || len(me.Residents) != 3 || me.Zone != "America/New_York" {
		t.Fatalf("me: %d %s", rec.Code, rec.Body.String())
	}

	rec = e.do("GET", "/api/v1/facilities/demo/slots?from=2026-11-21&days=1&tz=America/New_York", "", "")
	var sb slotsBody
	decodeInto(t, rec, &sb)
	if rec.Code != 200 || len(sb.Slots) != 48 || sb.FacilityZone != "America/Chicago" {
		t.Fatalf("slots: %d, %d slots", rec.Code, len(sb.Slots))
	}
	first := sb.Slots[0]
	if first.StartUTC != "2026-11-21T05:00:00Z" || first.FacilityLocal != "2026-11-20T23:00:00-06:00" ||
		first.VisitorLocal != "2026-11-21T00:00:00-05:00" || first.Bookable || first.Remaining != 4 {
		t.Fatalf("first slot %+v", first)
	}
	// 12:00Z is in the 06:00–06:30 Chicago slot, bookable with no lead time.
	var now slotJSON
	for _, s := range sb.Slots {
		if s.StartUTC == "2026-11-21T12:00:00Z" {
			now = s
		}
	}
	if !now.Bookable || now.VisitorLocal != "2026-11-21T07:00:00-05:00" {
		t.Fatalf("current slot %+v", now)
	}

	rec = e.do("POST", "/api/v1/bookings", e.family, `{"resident_id":"r-1001","start":"2026-11-21T12:00:00Z","kind":"remote"}`)
	var booked visitJSON
	decodeInto(t, rec, &booked)
	if rec.Code != 201 || booked.Join == nil || !strings.HasPrefix(booked.Join.URL, "/visit.html?token=") ||
		booked.VisitorLocal != "2026-11-21T07:00:00-05:00" || booked.FacilityLocal != "2026-11-21T06:00:00-06:00" {
		t.Fatalf("book: %d %s", rec.Code, rec.Body.String())
	}
	c, err := e.signer.Verify(booked.Join.Token, scheduler.JoinPurpose, e.clk.Now())
	if err != nil || c.Resource != booked.ID || c.Role != "visitor" || c.Subject != e.visitor.ID {
		t.Fatalf("join token %+v, %v", c, err)
	}

	rec = e.do("GET", "/api/v1/bookings", e.family, "")
	var mine struct{ Visits []visitJSON }
	decodeInto(t, rec, &mine)
	if rec.Code != 200 || len(mine.Visits) != 1 || mine.Visits[0].Join == nil {
		t.Fatalf("mine: %d %s", rec.Code, rec.Body.String())
	}

	rec = e.do("GET", "/api/v1/facilities/demo/visits", e.officer, "")
	var day struct{ Visits []visitJSON }
	decodeInto(t, rec, &day)
	if rec.Code != 200 || len(day.Visits) != 1 {
		t.Fatalf("officer list: %d %s", rec.Code, rec.Body.String())
	}
	rec = e.do("POST", "/api/v1/visits/"+booked.ID+"/token", e.officer, "")
	var jt joinJSON
	decodeInto(t, rec, &jt)
	if rec.Code != 200 || jt.Role != "officer" {
		t.Fatalf("officer token: %d %s", rec.Code, rec.Body.String())
	}

	rec = e.do("DELETE", "/api/v1/bookings/"+booked.ID, e.family, "")
	if rec.Code != 409 || decodeError(t, rec) != "cancel_cutoff" {
		t.Fatalf("visitor cancel after start: %d %s", rec.Code, rec.Body.String())
	}
	rec = e.do("DELETE", "/api/v1/bookings/"+booked.ID, e.officer, "")
	if rec.Code != 200 {
		t.Fatalf("officer cancel: %d %s", rec.Code, rec.Body.String())
	}

	rec = e.do("POST", "/api/v1/direct-dial", e.family, `{"resident_id":"r-1002"}`)
	var dd visitJSON
	decodeInto(t, rec, &dd)
	if rec.Code != 201 || dd.Kind != "direct_dial" || dd.Join == nil {
		t.Fatalf("direct dial: %d %s", rec.Code, rec.Body.String())
	}

	// Admin adds a visitor and approves them; they sign in and see r-1003.
	rec = e.do("POST", "/api/v1/visitors", e.admin, `{"email":"ann@x.test","name":"Ann","zone":"Asia/Kolkata","password":"longenough"}`)
	var nv struct{ ID string }
	decodeInto(t, rec, &nv)
	if rec.Code != 201 {
		t.Fatalf("create visitor: %d %s", rec.Code, rec.Body.String())
	}
	rec = e.do("POST", "/api/v1/approvals", e.officer, `{"resident_id":"r-1003","visitor_id":"`+nv.ID+`"}`)
	if rec.Code != 200 {
		t.Fatalf("approve: %d %s", rec.Code, rec.Body.String())
	}
	ann := e.login(t, "family", "ann@x.test", "longenough")
	rec = e.do("POST", "/api/v1/bookings", ann, `{"resident_id":"r-1003","start":"2026-11-21T13:00:00Z","kind":"in_facility"}`)
	decodeInto(t, rec, &booked)
	if rec.Code != 201 || booked.VisitorLocal != "2026-11-21T18:30:00+05:30" {
		t.Fatalf("ann books: %d %s", rec.Code, rec.Body.String())
	}
	rec = e.do("DELETE", "/api/v1/bookings/"+booked.ID, ann, "")
	if rec.Code != 200 {
		t.Fatalf("ann cancels: %d %s", rec.Code, rec.Body.String())
	}
}

func TestSlotsAPIFallBack(t *testing.T) {
	e := newSchedEnv(t)
	rec := e.do("GET", "/api/v1/facilities/demo/slots?from=2026-11-01&days=1&tz=America/Chicago", "", "")
	var sb slotsBody
	decodeInto(t, rec, &sb)
	if rec.Code != 200 || len(sb.Slots) != 50 {
		t.Fatalf("%d, %d slots", rec.Code, len(sb.Slots))
	}
	var repeated []string
	for _, s := range sb.Slots {
		if strings.HasPrefix(s.FacilityLocal, "2026-11-01T01:30") {
			repeated = append(repeated, s.FacilityLocal+" "+s.StartUTC)
		}
	}
	want := "[2026-11-01T01:30:00-05:00 2026-11-01T06:30:00Z 2026-11-01T01:30:00-06:00 2026-11-01T07:30:00Z]"
	if got := "[" + strings.Join(repeated, " ") + "]"; got != want {
		t.Fatalf("repeated hour: %v", repeated)
	}
}

func TestSchedulerAPIBadInput(t *testing.T) {
	e := newSchedEnv(t)
	tests := []struct {
		name, method, path, who, body string
		status                        int
		code                          string
	}{
		{"bad date", "GET", "/api/v1/facilities/demo/slots?from=2026-13-01", "", "", 400, "invalid_date"},
		{"date with time", "GET", "/api/v1/facilities/demo/slots?from=2026-11-01T00:00", "", "", 400, "invalid_date"},
		{"year 1", "GET", "/api/v1/facilities/demo/slots?from=0001-01-01", "", "", 400, "invalid_date"},
		{"zero days", "GET", "/api/v1/facilities/demo/slots?days=0", "", "", 400, "invalid_days"},
		{"too many days", "GET", "/api/v1/facilities/demo/slots?days=32", "", "", 400, "invalid_days"},
		{"days not a number", "GET", "/api/v1/facilities/demo/slots?days=1e3", "", "", 400, "invalid_days"},
		{"bad zone", "GET", "/api/v1/facilities/demo/slots?tz=Mars/Base", "", "", 400, "invalid_zone"},
		{"local zone", "GET", "/api/v1/facilities/demo/slots?tz=Local", "", "", 400, "invalid_zone"},
		{"path zone", "GET", "/api/v1/facilities/demo/slots?tz=../../etc/passwd", "", "", 400, "invalid_zone"},
		{"bad facility id", "GET", "/api/v1/facilities/de%20mo/slots", "", "", 400, "invalid_id"},
		{"unknown facility", "GET", "/api/v1/facilities/nowhere/slots", "", "", 404, "not_found"},
		{"unknown group", "GET", "/api/v1/facilities/demo/slots?group=attic", "", "", 404, "not_found"},
		{"book without token", "POST", "/api/v1/bookings", "", `{}`, 401, "unauthorized"},
		{"book as officer", "POST", "/api/v1/bookings", "officer", `{}`, 403, "forbidden"},
		{"book bad json", "POST", "/api/v1/bookings", "family", `{"resident_id":`, 400, "invalid_json"},
		{"book unknown field", "POST", "/api/v1/bookings", "family", `{"resident_id":"r-1001","start":"2026-11-21T13:00:00Z","kind":"remote","x":1}`, 400, "invalid_json"},
		{"book bad resident", "POST", "/api/v1/bookings", "family", `{"resident_id":"r 1","start":"2026-11-21T13:00:00Z","kind":"remote"}`, 400, "invalid_id"},
		{"book bad start", "POST", "/api/v1/bookings", "family", `{"resident_id":"r-1001","start":"tomorrow","kind":"remote"}`, 400, "invalid_time"},
		{"book start without zone", "POST", "/api/v1/bookings", "family", `{"resident_id":"r-1001","start":"2026-11-21T13:00:00","kind":"remote"}`, 400, "invalid_time"},
		{"book bad kind", "POST", "/api/v1/bookings", "family", `{"resident_id":"r-1001","start":"2026-11-21T13:00:00Z","kind":"direct_dial"}`, 400, "invalid_kind"},
		{"book not approved", "POST", "/api/v1/bookings", "family", `{"resident_id":"r-9999","start":"2026-11-21T13:00:00Z","kind":"remote"}`, 403, "not_approved"},
		{"book not a slot", "POST", "/api/v1/bookings", "family", `{"resident_id":"r-1001","start":"2026-11-21T13:10:00Z","kind":"remote"}`, 422, "no_slot"},
		{"book past", "POST", "/api/v1/bookings", "family", `{"resident_id":"r-1001","start":"2026-11-21T11:00:00Z","kind":"remote"}`, 422, "outside_window"},
		{"book past horizon", "POST", "/api/v1/bookings", "family", `{"resident_id":"r-1001","start":"2026-12-21T11:00:00Z","kind":"remote"}`, 422, "outside_window"},
		{"cancel unknown", "DELETE", "/api/v1/bookings/vis-0000", "family", "", 404, "not_found"},
		{"token unknown", "POST", "/api/v1/visits/vis-0000/token", "family", "", 404, "not_found"},
		{"officer list bad date", "GET", "/api/v1/facilities/demo/visits?date=21/11/2026", "officer", "", 400, "invalid_date"},
		{"visitor weak password", "POST", "/api/v1/visitors", "admin", `{"email":"a@b.test","zone":"UTC","password":"short"}`, 400, "weak_password"},
		{"visitor bad zone", "POST", "/api/v1/visitors", "admin", `{"email":"a@b.test","zone":"Nowhere","password":"longenough"}`, 400, "invalid_zone"},
		{"closure backwards", "POST", "/api/v1/facilities/demo/closures", "officer", `{"start":"2026-11-22T00:00:00Z","end":"2026-11-21T00:00:00Z"}`, 400, "invalid_request"},
		{"calendar bad zone", "PUT", "/api/v1/facilities/demo/calendar", "admin", `{"id":"demo","zone":"Nope","groups":[{"id":"a","hours":[{}]}]}`, 400, "invalid_calendar"},
	}
	tokens := map[string]string{"family": e.family, "officer": e.officer, "admin": e.admin}
	before := e.visits(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := e.do(tt.method, tt.path, tokens[tt.who], tt.body)
			if rec.Code != tt.status || decodeError(t, rec) != tt.code {
				t.Fatalf("got %d %s, want %d %s", rec.Code, rec.Body.String(), tt.status, tt.code)
			}
		})
	}
	if after := e.visits(t); after != before {
		t.Fatalf("bad input wrote %d visits", after-before)
	}
}

func TestFamilyCredentials(t *testing.T) {
	e := newSchedEnv(t)
	rec := e.do("POST", "/api/v1/login", "", `{"role":"family","user":"visitor@demo.test","secret":"wrong"}`)
	if rec.Code != http.StatusUnauthorized || decodeError(t, rec) != "bad_credentials" {
		t.Fatalf("wrong password: %d %s", rec.Code, rec.Body.String())
	}
}
