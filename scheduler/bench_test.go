package scheduler

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkSlots14Days50Groups generates a 14-day horizon of 30-minute
// slots, around the clock, for 50 station groups (33,600 slots per op)
// across the November fall-back day.
func BenchmarkSlots14Days50Groups(b *testing.B) {
	cfg := FacilityConfig{ID: "f", Zone: "America/New_York"}
	for i := range 50 {
		cfg.Groups = append(cfg.Groups, Group{ID: fmt.Sprintf("unit-%02d", i), Stations: 4, Hours: EveryDay("", "")})
	}
	cal, err := NewCalendar(cfg)
	if err != nil {
		b.Fatal(err)
	}
	from := time.Date(2026, 10, 25, 4, 0, 0, 0, time.UTC)
	to := from.Add(14 * 24 * time.Hour)
	var buf []Slot
	b.ReportAllocs()
	for b.Loop() {
		buf = cal.Slots(buf[:0], from, to, "")
	}
	if len(buf) != 14*48*50 {
		b.Fatalf("%d slots", len(buf))
	}
	b.ReportMetric(float64(len(buf)), "slots/op")
}

// BenchmarkBook books one visit per iteration on a SQLite file: the
// approval, calendar and closure reads, the resident check, the station
// claim, the visit insert and two signed join tokens.
func BenchmarkBook(b *testing.B) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	f := newFixture(b, openSQLite(b), now)
	f.facility(b, FacilityConfig{ID: "f", Zone: "America/Chicago", SlotLength: 5 * time.Minute, Horizon: 366 * 24 * time.Hour,
		Groups: []Group{{ID: "a", Stations: 4, Hours: EveryDay("", "")}}})
	v := f.visitor(b, "v@x.test", "f", "a", "r-1")
	ctx := context.Background()
	start := now.Add(time.Hour)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_, err := f.s.Book(ctx, BookRequest{VisitorID: v.ID, ResidentID: "r-1", Start: start.Add(time.Duration(i) * 5 * time.Minute), Kind: KindRemote})
		if err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "bookings/s")
}
