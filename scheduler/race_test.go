package scheduler

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"ipcs/internal/sqldb"
	"ipcs/internal/testutil"
)

// The goroutine check is armed before the database opens, so that it runs
// after the database's cleanup has closed its connections (cleanups run
// last-in first-out): a pool connection's reader is not a leak.
func TestLastStationRaceSQLite(t *testing.T) {
	testutil.CheckGoroutines(t)
	testLastStationRace(t, openSQLite(t))
}

func TestLastStationRacePostgres(t *testing.T) {
	testutil.CheckGoroutines(t)
	testLastStationRace(t, openPostgres(t))
}

// testLastStationRace has many visitors book the same slot at once. With
// one station left exactly one wins; the rest get ErrSlotFull, and the
// database holds exactly as many visits as stations.
func testLastStationRace(t *testing.T, db *sqldb.DB) {
	const racers = 24
	ctx := context.Background()
	start := local(t, "America/Chicago", 2026, 11, 23, 10, 0)
	f := newFixture(t, db, start.Add(-time.Hour))
	f.facility(t, FacilityConfig{ID: "f", Zone: "America/Chicago",
		Groups: []Group{{ID: "a", Stations: 3, Hours: EveryDay("", "")}}})
	var visitors []Visitor
	for i := range racers + 2 {
		visitors = append(visitors, f.visitor(t, fmt.Sprintf("v%d@x.test", i), "f", "a", fmt.Sprintf("r-%d", i)))
	}
	// Two stations are taken beforehand: the race is for the last one.
	for i := range 2 {
		if _, err := f.s.Book(ctx, BookRequest{VisitorID: visitors[racers+i].ID, ResidentID: fmt.Sprintf("r-%d", racers+i), Start: start, Kind: KindRemote}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	ready := make(chan struct{})
	errs := make([]error, racers)
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-ready
			_, errs[i] = f.s.Book(ctx, BookRequest{VisitorID: visitors[i].ID, ResidentID: fmt.Sprintf("r-%d", i), Start: start, Kind: KindInFacility})
		}()
	}
	close(ready)
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrSlotFull):
			t.Errorf("racer %d: %v", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d racers won the last station, want exactly 1", won)
	}
	var visits, stations, distinct int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sched_visits WHERE status = 'booked'`).Scan(&visits); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*), COUNT(DISTINCT station) FROM sched_stations`).Scan(&stations, &distinct); err != nil {
		t.Fatal(err)
	}
	if visits != 3 || stations != 3 || distinct != 3 {
		t.Fatalf("visits %d, station rows %d (%d distinct), want 3 each", visits, stations, distinct)
	}
}

// TestWeeklyLimitRacePostgres has one resident's visitors race for the
// last visit of the week on PostgreSQL, where transactions do overlap.
func TestWeeklyLimitRacePostgres(t *testing.T) {
	db := openPostgres(t)
	ctx := context.Background()
	start := local(t, "America/Chicago", 2026, 11, 23, 10, 0)
	f := newFixture(t, db, start.Add(-time.Hour))
	f.facility(t, FacilityConfig{ID: "f", Zone: "America/Chicago", WeeklyLimits: map[Kind]int{KindRemote: 1},
		Groups: []Group{{ID: "a", Stations: 50, Hours: EveryDay("", "")}}})
	const racers = 12
	var vs []Visitor
	for i := range racers {
		vs = append(vs, f.visitor(t, fmt.Sprintf("v%d@x.test", i), "f", "a", "r-1"))
	}
	var wg sync.WaitGroup
	ready := make(chan struct{})
	errs := make([]error, racers)
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-ready
			// Each racer takes a different slot of the same week.
			_, errs[i] = f.s.Book(ctx, BookRequest{VisitorID: vs[i].ID, ResidentID: "r-1", Start: start.Add(time.Duration(i) * time.Hour), Kind: KindRemote})
		}()
	}
	close(ready)
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrWeeklyLimit):
			t.Errorf("racer %d: %v", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d bookings within a limit of 1", won)
	}
}
