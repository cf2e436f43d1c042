package scheduler

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestSlotsAcrossZonesAndDST(t *testing.T) {
	tests := []struct {
		name    string
		zone    string
		date    string // facility-local day whose slots we list
		slot    time.Duration
		want    int      // slots that day
		has     []string // facility-local starts (RFC 3339) that must be there
		missing []string // wall-clock times ("15:04") that must not be
	}{
		{"new york spring forward", "America/New_York", "2026-03-08", 30 * time.Minute, 46,
			[]string{"2026-03-08T01:30:00-05:00", "2026-03-08T03:00:00-04:00"}, []string{"02:00", "02:30"}},
		{"new york fall back", "America/New_York", "2026-11-01", 30 * time.Minute, 50,
			[]string{"2026-11-01T01:00:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T01:30:00-05:00", "2026-11-01T02:00:00-05:00"}, nil},
		{"new york fall back hourly", "America/New_York", "2026-11-01", time.Hour, 25,
			[]string{"2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00"}, nil},
		{"london spring forward", "Europe/London", "2026-03-29", 30 * time.Minute, 46,
			[]string{"2026-03-29T00:30:00Z", "2026-03-29T02:00:00+01:00"}, []string{"01:00", "01:30"}},
		{"phoenix has no DST", "America/Phoenix", "2026-03-08", 30 * time.Minute, 48,
			[]string{"2026-03-08T02:00:00-07:00", "2026-03-08T02:30:00-07:00"}, nil},
		{"kolkata half-hour offset", "Asia/Kolkata", "2026-11-01", 30 * time.Minute, 48,
			[]string{"2026-11-01T00:00:00+05:30", "2026-11-01T23:30:00+05:30"}, nil},
		{"lord howe half-hour fall back", "Australia/Lord_Howe", "2026-04-05", 30 * time.Minute, 49,
			[]string{"2026-04-05T01:30:00+11:00", "2026-04-05T01:30:00+10:30", "2026-04-05T02:00:00+10:30"}, nil},
		{"lord howe half-hour spring forward", "Australia/Lord_Howe", "2026-10-04", 30 * time.Minute, 47,
			[]string{"2026-10-04T01:30:00+10:30", "2026-10-04T02:30:00+11:00"}, []string{"02:00"}},
		{"lord howe spring forward hourly", "Australia/Lord_Howe", "2026-10-04", time.Hour, 23,
			[]string{"2026-10-04T01:00:00+10:30", "2026-10-04T03:00:00+11:00"}, []string{"02:00"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cal, err := NewCalendar(FacilityConfig{
				ID: "f", Zone: tt.zone, SlotLength: tt.slot,
				Groups: []Group{{ID: "a", Stations: 2, Hours: EveryDay("", "")}},
			})
			if err != nil {
				t.Fatal(err)
			}
			day, _ := time.ParseInLocation(time.DateOnly, tt.date, cal.Location())
			next := day.AddDate(0, 0, 1)
			slots := cal.Slots(nil, day, next, "")
			if len(slots) != tt.want {
				t.Errorf("got %d slots, want %d", len(slots), tt.want)
			}
			var got []string
			for i, s := range slots {
				got = append(got, s.Local.Format(time.RFC3339))
				if s.End.Sub(s.Start) != tt.slot {
					t.Errorf("slot %s lasts %v", s.Local, s.End.Sub(s.Start))
				}
				if s.Start.Location() != time.UTC && s.Start.Location().String() != "UTC" {
					t.Errorf("slot %s start is not UTC", s.Local)
				}
				if i > 0 && s.Start.Before(slots[i-1].End) {
					t.Errorf("slot %s overlaps %s", s.Local, slots[i-1].Local)
				}
				if s.Local.Format(LocalLayout)[11:] != s.Local.Format("15:04") || s.Remaining != 2 {
					t.Errorf("slot %s: remaining %d", s.Local, s.Remaining)
				}
				if s.Local.Format("2006-01-02") != tt.date {
					t.Errorf("slot %s is not on %s", s.Local, tt.date)
				}
				if ts, n := resolve(cal.Location(), s.Local.Year(), s.Local.Month(), s.Local.Day(), s.Local.Hour()*60+s.Local.Minute()); !ts[s.Fold].Equal(s.Start) || s.Fold >= n {
					t.Errorf("slot %s: fold %d does not resolve back to %s", s.Local, s.Fold, s.Start)
				}
			}
			for _, h := range tt.has {
				if !slices.Contains(got, h) {
					t.Errorf("missing slot %s in %v", h, got)
				}
			}
			for _, m := range tt.missing {
				for _, s := range slots {
					if s.Local.Format("15:04") == m {
						t.Errorf("slot at nonexistent %s: %s", m, s.Local.Format(time.RFC3339))
					}
				}
			}
		})
	}
}

func TestResolve(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	tests := []struct {
		name string
		d, m int
		want []string
	}{
		{"gap", 8, 2*60 + 30, nil},
		{"before gap", 8, 60 + 59, []string{"2026-03-08T06:59:00Z"}},
		{"after gap", 8, 3 * 60, []string{"2026-03-08T07:00:00Z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, n := resolve(ny, 2026, 3, tt.d, tt.m)
			var got []string
			for _, x := range ts[:n] {
				got = append(got, x.UTC().Format(time.RFC3339))
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
	ts, n := resolve(ny, 2026, 11, 1, 90)
	if n != 2 || ts[0].UTC().Format(time.RFC3339) != "2026-11-01T05:30:00Z" || ts[1].UTC().Format(time.RFC3339) != "2026-11-01T06:30:00Z" {
		t.Fatalf("overlap: %v %d", ts, n)
	}
}

func TestSlotsVisitorZone(t *testing.T) {
	// The same Chicago 10:00 slot before and after the US change is 16:00Z
	// and then 15:00Z; a visitor in Phoenix (no DST) sees 09:00 then 08:00,
	// one in Kolkata 21:30 then 20:30: the facility local time is what stays.
	cal, err := NewCalendar(FacilityConfig{ID: "f", Zone: "America/Chicago",
		Groups: []Group{{ID: "a", Hours: []Hours{{Open: "10:00", Close: "10:30"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 3, 7, 0, 0, 0, 0, time.UTC)
	slots := cal.Slots(nil, from, from.AddDate(0, 0, 3), "a")
	phx, _ := time.LoadLocation("America/Phoenix")
	kol, _ := time.LoadLocation("Asia/Kolkata")
	var got []string
	for _, s := range slots {
		got = append(got, s.Local.Format("01-02T15:04Z07:00")+" "+s.Start.Format("15:04Z")+" "+s.Start.In(phx).Format("15:04Z07:00")+" "+s.Start.In(kol).Format("15:04Z07:00"))
	}
	want := []string{
		"03-07T10:00-06:00 16:00Z 09:00-07:00 21:30+05:30",
		"03-08T10:00-05:00 15:00Z 08:00-07:00 20:30+05:30",
		"03-09T10:00-05:00 15:00Z 08:00-07:00 20:30+05:30",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got\n%v\nwant\n%v", got, want)
	}
}

func TestFacilityConfigValidate(t *testing.T) {
	ok := func() FacilityConfig {
		return FacilityConfig{ID: "f", Zone: "America/Chicago", Groups: []Group{{ID: "a", Hours: EveryDay("08:00", "17:00")}}}
	}
	tests := []struct {
		name  string
		edit  func(*FacilityConfig)
		field string
	}{
		{"empty id", func(c *FacilityConfig) { c.ID = "" }, "ID"},
		{"bad zone", func(c *FacilityConfig) { c.Zone = "Mars/Olympus" }, "Zone"},
		{"local zone", func(c *FacilityConfig) { c.Zone = "Local" }, "Zone"},
		{"odd slot", func(c *FacilityConfig) { c.SlotLength = 90 * time.Second }, "SlotLength"},
		{"negative lead", func(c *FacilityConfig) { c.LeadTime = -time.Hour }, "LeadTime"},
		{"horizon before lead", func(c *FacilityConfig) { c.LeadTime = 48 * time.Hour; c.Horizon = 24 * time.Hour }, "Horizon"},
		{"negative cutoff", func(c *FacilityConfig) { c.CancelCutoff = -1 }, "CancelCutoff"},
		{"bad limit kind", func(c *FacilityConfig) { c.WeeklyLimits = map[Kind]int{"phone": 1} }, "WeeklyLimits"},
		{"no groups", func(c *FacilityConfig) { c.Groups = nil }, "Groups"},
		{"dup group", func(c *FacilityConfig) { c.Groups = append(c.Groups, c.Groups[0]) }, "Groups[1].ID"},
		{"negative stations", func(c *FacilityConfig) { c.Groups[0].Stations = -1 }, "Groups[0].Stations"},
		{"bad open", func(c *FacilityConfig) { c.Groups[0].Hours[0].Open = "8am" }, "Groups[0].Hours[0].Open"},
		{"close before open", func(c *FacilityConfig) { c.Groups[0].Hours[0].Close = "07:00" }, "Groups[0].Hours[0].Close"},
		{"bad day", func(c *FacilityConfig) { c.Groups[0].Hours[0].Days = []time.Weekday{7} }, "Groups[0].Hours[0].Days"},
		{"overlap", func(c *FacilityConfig) {
			c.Groups[0].Hours = append(c.Groups[0].Hours, Hours{Days: []time.Weekday{time.Monday}, Open: "16:00", Close: "18:00"})
		}, "Groups[0].Hours"},
	}
	if err := ok().Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok()
			tt.edit(&c)
			var ce *ConfigError
			if err := c.Validate(); !errors.As(err, &ce) || ce.Field != tt.field {
				t.Fatalf("Validate() = %v, want field %s", err, tt.field)
			}
		})
	}
	if err := (Config{PasswordIterations: 10}).Validate(); err == nil {
		t.Fatal("Config with 10 iterations validated")
	}
}
