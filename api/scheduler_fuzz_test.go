package api

import (
	"encoding/json"
	"net/url"
	"testing"
)

// checkAnswer fails unless rec is a success or a 4xx JSON error with a
// code: bad input is answered, never a 500.
func checkAnswer(t *testing.T, code int, body []byte, ok int) {
	t.Helper()
	if code == ok {
		return
	}
	var b errorBody
	if code < 400 || code >= 500 || json.Unmarshal(body, &b) != nil || b.Error.Code == "" {
		t.Fatalf("answer %d %q", code, body)
	}
}

// FuzzSlotsQuery throws dates, day counts, zones, groups and facility
// ids at the public slots endpoint. Seeds are in testdata/fuzz.
func FuzzSlotsQuery(f *testing.F) {
	f.Add("demo", "2026-11-01", "1", "America/New_York", "")
	f.Add("demo", "2026-03-08", "31", "Australia/Lord_Howe", "visits")
	f.Add("demo", "2026-02-30", "-1", "Local", "x")
	f.Add("demo", "", "", "", "")
	e := newSchedEnv(f)
	f.Fuzz(func(t *testing.T, facility, from, days, tz, group string) {
		q := url.Values{}
		for k, v := range map[string]string{"from": from, "days": days, "tz": tz, "group": group} {
			if v != "" {
				q.Set(k, v)
			}
		}
		path := "/api/v1/facilities/" + url.PathEscape(facility) + "/slots?" + q.Encode()
		if _, err := url.ParseRequestURI(path); err != nil || facility == "" {
			return
		}
		rec := e.do("GET", path, "", "")
		if rec.Code == 301 || rec.Code == 307 || rec.Code == 308 {
			return // the mux cleans paths with dot segments
		}
		checkAnswer(t, rec.Code, rec.Body.Bytes(), 200)
		if rec.Code == 200 {
			var sb slotsBody
			if err := json.Unmarshal(rec.Body.Bytes(), &sb); err != nil {
				t.Fatalf("slots body: %v", err)
			}
		}
	})
}

// FuzzBookingJSON throws bodies at POST /api/v1/bookings as the demo
// visitor. A refused booking writes nothing; an accepted one is a real
// slot and is cancelled again so the fuzzer cannot fill the calendar.
func FuzzBookingJSON(f *testing.F) {
	f.Add(`{"resident_id":"r-1001","start":"2026-11-21T13:00:00Z","kind":"remote"}`)
	f.Add(`{"resident_id":"r-1002","start":"2026-11-21T08:30:00-05:00","kind":"in_facility"}`)
	f.Add(`{"resident_id":"r-1001","start":"2026-11-21T13:10:00Z","kind":"remote"}`)
	f.Add(`{"resident_id":"r-1001","start":"9999-99-99T99:99:99Z","kind":"remote"}`)
	f.Add(`{"resident_id":1}`)
	f.Add(`[]`)
	e := newSchedEnv(f)
	f.Fuzz(func(t *testing.T, body string) {
		before := e.visits(t)
		rec := e.do("POST", "/api/v1/bookings", e.family, body)
		checkAnswer(t, rec.Code, rec.Body.Bytes(), 201)
		if rec.Code != 201 {
			if after := e.visits(t); after != before {
				t.Fatalf("refused booking %q wrote %d visits", body, after-before)
			}
			return
		}
		var v visitJSON
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil || v.Join == nil {
			t.Fatalf("booking body %q: %v", rec.Body.String(), err)
		}
		if _, err := e.s.CancelByFacility(t.Context(), v.ID, "fuzz"); err != nil {
			t.Fatal(err)
		}
	})
}
