package api

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"ipcs/scheduler"
)

// recordingEnder records which visits the end route asked to end.
type recordingEnder struct {
	mu    sync.Mutex
	ended []string
}

func (a *recordingEnder) End(visitID, reason string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ended = append(a.ended, visitID)
	return nil
}

// otherFacilityVisit seeds a second facility "other" with its own
// resident and visitor, and books a visit there that is live now.
func otherFacilityVisit(t *testing.T, e *schedEnv) scheduler.Visit {
	t.Helper()
	ctx := context.Background()
	_, err := e.s.Seed(ctx, scheduler.DemoSpec{Facility: "other", Residents: []string{"r-2001"},
		VisitorEmail: "fam@other.test", VisitorPassword: "otherpass"})
	if err != nil {
		t.Fatal(err)
	}
	fam := e.login(t, "family", "fam@other.test", "otherpass")
	rec := e.do("POST", "/api/v1/bookings", fam, `{"resident_id":"r-2001","start":"2026-11-21T12:00:00Z","kind":"remote"}`)
	var v visitJSON
	decodeInto(t, rec, &v)
	if rec.Code != 201 || v.Facility != "other" {
		t.Fatalf("book in other: %d %s", rec.Code, rec.Body.String())
	}
	got, err := e.s.Visit(ctx, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestOfficerEndsOnlyOwnFacilityVisits: an officer scoped to facility
// "demo" cannot end a live visit of facility "other" (DESIGN.md: staff
// are scoped to their facility), as they cannot get its join token or
// cancel it; it is answered as a visit that is not live, and the hub is
// not asked. The end route used to check only the role.
func TestOfficerEndsOnlyOwnFacilityVisits(t *testing.T) {
	e := newSchedEnv(t)
	v := otherFacilityVisit(t, e)
	ender := &recordingEnder{}
	auth := NewAuth(e.signer, e.clk, time.Hour)
	facilityOf := func(ctx context.Context, id string) (string, error) {
		v, err := e.s.Visit(ctx, id)
		return v.Facility, err
	}
	NewVisitControl(ender, facilityOf, auth, ErrNoLiveVisit, nil)(e.mux)

	// Control: the scheduler routes scope the demo officer out.
	if rec := e.do("POST", "/api/v1/visits/"+v.ID+"/token", e.officer, ""); rec.Code != 404 {
		t.Fatalf("control: officer token for other facility: %d %s", rec.Code, rec.Body.String())
	}
	if rec := e.do("DELETE", "/api/v1/bookings/"+v.ID, e.officer, ""); rec.Code != 404 {
		t.Fatalf("control: officer cancel in other facility: %d %s", rec.Code, rec.Body.String())
	}

	rec := e.do("POST", "/api/v1/visits/"+v.ID+"/end", e.officer, "")
	ender.mu.Lock()
	ended := append([]string(nil), ender.ended...)
	ender.mu.Unlock()
	if rec.Code != 404 || len(ended) != 0 {
		t.Fatalf("officer of facility demo ended visit %s of facility %q: status %d %s; hub.End called for %v",
			v.ID, v.Facility, rec.Code, rec.Body.String(), ended)
	}
	// An unscoped admin ends it.
	if rec := e.do("POST", "/api/v1/visits/"+v.ID+"/end", e.admin, ""); rec.Code != 200 {
		t.Fatalf("admin end: %d %s", rec.Code, rec.Body.String())
	}
	ender.mu.Lock()
	ended = append(ended[:0], ender.ended...)
	ender.mu.Unlock()
	if len(ended) != 1 || ended[0] != v.ID {
		t.Errorf("hub.End called for %v, want [%s]", ended, v.ID)
	}
}

// TestScopedAdminActsOnlyInOwnFacility: an admin scoped to facility
// "demo" (Principal.Facility) cannot list another facility's visits or a
// resident's there, rewrite its calendar, or move its resident into
// "demo" (which would then give them that resident's data). The
// scheduler routes used to treat every admin as unscoped.
func TestScopedAdminActsOnlyInOwnFacility(t *testing.T) {
	e := newSchedEnv(t)
	otherFacilityVisit(t, e)
	auth := NewAuth(e.signer, e.clk, time.Hour)
	scoped, _, err := auth.Issue(Principal{Role: RoleAdmin, Subject: "demo-admin", Facility: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	if rec := e.do("GET", "/api/v1/facilities/other/visits", scoped, ""); rec.Code == 200 {
		t.Errorf("GET /facilities/other/visits by demo admin: 200 %s", rec.Body.String())
	}

	cal, _ := json.Marshal(scheduler.DemoCalendar("other", "America/Chicago"))
	calRec := e.do("PUT", "/api/v1/facilities/other/calendar", scoped, string(cal))

	before := e.do("GET", "/api/v1/residents/r-2001/visits", scoped, "")
	resRec := e.do("PUT", "/api/v1/residents/r-2001", scoped, `{"facility":"demo"}`)

	var fails []string
	if calRec.Code == 200 {
		fails = append(fails, "PUT /facilities/other/calendar by demo admin: 200 "+calRec.Body.String())
	}
	if resRec.Code == 200 {
		fails = append(fails, "PUT /residents/r-2001 {facility:demo} by demo admin: 200 "+resRec.Body.String())
	}
	if before.Code == 200 {
		fails = append(fails, "GET /residents/r-2001/visits by demo admin: 200 "+before.Body.String())
	}
	if len(fails) > 0 {
		for _, f := range fails {
			t.Error(f)
		}
	}
}
