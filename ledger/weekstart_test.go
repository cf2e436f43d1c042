package ledger_test

import (
	"testing"
	"time"

	"ipcs/ledger"
)

// TestWeekStartWhereSundayMidnightIsSkipped: in America/Santiago clocks
// go from Saturday 24:00 to Sunday 01:00 on 2026-09-06, so Sunday 00:00
// does not exist. The week starts at Sunday's first instant, 01:00 -03,
// not at Saturday 23:00 -04, which would count the previous week's last
// hour of deposits in this week too.
func TestWeekStartWhereSundayMidnightIsSkipped(t *testing.T) {
	loc, err := time.LoadLocation("America/Santiago")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 9, 8, 15, 0, 0, 0, time.UTC) // Tuesday
	ws := ledger.WeekStart(now, loc)
	if l := ws.In(loc); l.Weekday() != time.Sunday {
		t.Fatalf("WeekStart(%v) = %v (%s), a %s, not the Sunday the week starts", now, l, ws.UTC(), l.Weekday())
	}
	if want := time.Date(2026, 9, 6, 4, 0, 0, 0, time.UTC); !ws.Equal(want) {
		t.Fatalf("WeekStart(%v) = %s, want %s (Sunday 01:00 -03)", now, ws.UTC(), want)
	}
	// In an ordinary week the start is Sunday 00:00.
	if ws, want := ledger.WeekStart(time.Date(2026, 9, 16, 15, 0, 0, 0, time.UTC), loc), time.Date(2026, 9, 13, 3, 0, 0, 0, time.UTC); !ws.Equal(want) {
		t.Fatalf("WeekStart in an ordinary week = %s, want %s", ws.UTC(), want)
	}
}
