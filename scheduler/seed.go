package scheduler

import (
	"context"
	"fmt"
)

// DemoSpec describes the demo data the daemon seeds when it runs with no
// configuration. Zero fields take the defaults named on each.
type DemoSpec struct {
	// Facility is the demo facility id; "" means "demo".
	Facility string
	// Zone is the facility's zone; "" means "America/Chicago".
	Zone string
	// Residents are placed in the facility and approved for the visitor;
	// nil means r-1001, r-1002 and r-1003.
	Residents []string
	// VisitorEmail, VisitorPassword and VisitorZone are the demo family
	// account; "" means visitor@demo.test, "demo" and America/New_York.
	VisitorEmail, VisitorPassword, VisitorZone string
}

func (d DemoSpec) withDefaults() DemoSpec {
	if d.Facility == "" {
		d.Facility = "demo"
	}
	if d.Zone == "" {
		d.Zone = "America/Chicago"
	}
	if d.Residents == nil {
		d.Residents = []string{"r-1001", "r-1002", "r-1003"}
	}
	if d.VisitorEmail == "" {
		d.VisitorEmail = "visitor@demo.test"
	}
	if d.VisitorPassword == "" {
		d.VisitorPassword = "demo"
	}
	if d.VisitorZone == "" {
		d.VisitorZone = "America/New_York"
	}
	return d
}

// DemoCalendar is the demo facility's calendar: open around the clock in
// facility time, 30-minute slots, 4 stations in one group ("visits"), no
// lead time (the slot in progress can be booked), a 14-day horizon,
// cancellation up to the start and no weekly limits, so that a newcomer
// can book and join within a minute.
func DemoCalendar(facility, zone string) FacilityConfig {
	return FacilityConfig{
		ID: facility, Zone: zone, SlotLength: DefaultSlotLength,
		Groups: []Group{{ID: "visits", Stations: 4, Hours: EveryDay("00:00", "24:00")}},
	}
}

// Seed stores the demo calendar, the demo visitor and the demo residents'
// approvals. It is idempotent: the daemon calls it at every start.
func (s *Scheduler) Seed(ctx context.Context, spec DemoSpec) (Visitor, error) {
	d := spec.withDefaults()
	if err := s.UpsertFacility(ctx, DemoCalendar(d.Facility, d.Zone)); err != nil {
		return Visitor{}, fmt.Errorf("scheduler: seed: %w", err)
	}
	v, err := s.UpsertVisitor(ctx, VisitorSpec{
		Email: d.VisitorEmail, Name: "Demo Visitor", Zone: d.VisitorZone, Password: d.VisitorPassword,
	})
	if err != nil {
		return Visitor{}, fmt.Errorf("scheduler: seed: %w", err)
	}
	for _, r := range d.Residents {
		if err := s.UpsertResident(ctx, Resident{ID: r, Facility: d.Facility}); err != nil {
			return Visitor{}, fmt.Errorf("scheduler: seed: %w", err)
		}
		if err := s.Approve(ctx, r, v.ID); err != nil {
			return Visitor{}, fmt.Errorf("scheduler: seed: %w", err)
		}
	}
	return v, nil
}
