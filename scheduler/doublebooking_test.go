package scheduler

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestRacingBookAndDirectDialBookOneVisitPostgres: a visitor books the
// slot in progress while another visitor direct-dials the same resident
// at the same moment, on PostgreSQL, 60 times. The booking starts at the
// slot start and the direct dial at now, so the partial unique index on
// (resident_id, start_utc) cannot tell them apart, and under READ
// COMMITTED both "resident busy" counts used to find nothing: the
// resident had two live visits. insertVisit now locks the resident's row
// first, and the resident has at most one.
func TestRacingBookAndDirectDialBookOneVisitPostgres(t *testing.T) {
	db := openPostgres(t)
	ctx := context.Background()
	slotStart := local(t, "America/Chicago", 2026, 11, 23, 10, 0)
	f := newFixture(t, db, slotStart.Add(5*time.Minute))
	f.facility(t, FacilityConfig{ID: "f", Zone: "America/Chicago",
		Groups: []Group{{ID: "a", Stations: 50, Hours: EveryDay("", "")}}})
	const rounds = 60
	doubled := 0
	for r := range rounds {
		res := fmt.Sprintf("r-%d", r)
		va := f.visitor(t, fmt.Sprintf("a%d@x.test", r), "f", "a", res)
		vb := f.visitor(t, fmt.Sprintf("b%d@x.test", r), "f", "a", res)
		var wg sync.WaitGroup
		ready := make(chan struct{})
		var errA, errB error
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-ready
			_, errA = f.s.Book(ctx, BookRequest{VisitorID: va.ID, ResidentID: res, Start: slotStart, Kind: KindRemote})
		}()
		go func() {
			defer wg.Done()
			<-ready
			_, errB = f.s.DirectDial(ctx, res, vb.ID)
		}()
		close(ready)
		wg.Wait()
		var n int
		if err := db.QueryRowContext(ctx, f.s.q(`SELECT COUNT(*) FROM sched_visits WHERE resident_id = ? AND status = 'booked'`), res).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 1 {
			doubled++
			t.Logf("round %d: resident %s has %d overlapping visits (book err %v, direct-dial err %v)", r, res, n, errA, errB)
		}
	}
	if doubled > 0 {
		t.Fatalf("resident double-booked in %d of %d rounds", doubled, rounds)
	}
}

// TestFallBackDoesNotOfferOverlappingSlots: with 90-minute slots on a
// group open around the clock, Chicago's fall-back night has 01:30 twice
// (fold 0 at 06:30Z, fold 1 at 07:30Z). The first runs to 08:00Z, so the
// second would overlap it for 30 minutes, and stations are claimed per
// slot start: a one-station group was booked twice at once. The second
// occurrence is not offered now, and booking it is refused; the
// first is booked.
func TestFallBackDoesNotOfferOverlappingSlots(t *testing.T) {
	db := openSQLite(t)
	ctx := context.Background()
	f := newFixture(t, db, time.Date(2026, 10, 30, 12, 0, 0, 0, time.UTC))
	f.facility(t, FacilityConfig{ID: "f", Zone: "America/Chicago", SlotLength: 90 * time.Minute,
		Groups: []Group{{ID: "a", Stations: 1, Hours: EveryDay("", "")}}})
	v1 := f.visitor(t, "a@x.test", "f", "a", "r-1")
	v2 := f.visitor(t, "b@x.test", "f", "a", "r-2")
	first := time.Date(2026, 11, 1, 6, 30, 0, 0, time.UTC)  // 01:30 CDT, fold 0
	second := time.Date(2026, 11, 1, 7, 30, 0, 0, time.UTC) // 01:30 CST, fold 1
	if _, err := f.s.Book(ctx, BookRequest{VisitorID: v1.ID, ResidentID: "r-1", Start: first, Kind: KindRemote}); err != nil {
		t.Fatal(err)
	}
	if b, err := f.s.Book(ctx, BookRequest{VisitorID: v2.ID, ResidentID: "r-2", Start: second, Kind: KindRemote}); err == nil {
		t.Fatalf("booked %s–%s on station %d, overlapping the first occurrence's slot", b.Visit.Start.Format(time.RFC3339), b.Visit.End.Format(time.RFC3339), b.Visit.Station)
	}
}
