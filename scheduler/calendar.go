package scheduler

import (
	"fmt"
	"slices"
	"sort"
	"time"
	_ "time/tzdata" // zones must not depend on the host (STYLE.md, Time)
)

// Calendar is a compiled FacilityConfig: the zone loaded, the hours
// parsed. It is immutable and safe for concurrent use.
type Calendar struct {
	cfg    FacilityConfig // with defaults applied
	loc    *time.Location
	slot   int // slot length in minutes
	groups []groupCal
}

type groupCal struct {
	id       string
	stations int
	days     [7][]span // by time.Weekday, sorted by open
}

// span is an opening window in minutes after local midnight.
type span struct{ open, close int }

// Slot is one visit interval of one station group. Start and End are UTC
// instants; Local is Start on the facility's wall clock, with its offset.
type Slot struct {
	Facility string
	Group    string
	Start    time.Time
	End      time.Time
	Local    time.Time
	// Fold is 0 for the first occurrence of Local's wall-clock time and 1
	// for its repeat when clocks go back (PEP 495's fold). It is what
	// tells the two 01:30 slots of a fall-back night apart without
	// storing an offset.
	Fold int
	// Stations is the group's capacity.
	Stations int
	// Remaining is the number of free stations; Calendar.Slots sets it to
	// Stations and Scheduler.Slots subtracts the bookings.
	Remaining int
}

// NewCalendar validates cfg and compiles it.
func NewCalendar(cfg FacilityConfig) (*Calendar, error) { return cfg.compile() }

// Config returns the calendar's configuration with defaults applied.
func (c *Calendar) Config() FacilityConfig { return c.cfg }

// Location returns the facility's time zone.
func (c *Calendar) Location() *time.Location { return c.loc }

// group returns the compiled group with id, or the first when id is "".
func (c *Calendar) group(id string) (*groupCal, bool) {
	if id == "" && len(c.groups) > 0 {
		return &c.groups[0], true
	}
	for i := range c.groups {
		if c.groups[i].id == id {
			return &c.groups[i], true
		}
	}
	return nil, false
}

func (c FacilityConfig) compile() (*Calendar, error) {
	if !validID(c.ID) {
		return nil, configErr("ID", "must be 1-64 characters of A-Z a-z 0-9 . _ -")
	}
	loc, err := loadZone(c.Zone)
	if err != nil {
		return nil, configErr("Zone", "%q is not an IANA time zone", c.Zone)
	}
	d := c.withDefaults()
	switch {
	case d.SlotLength < 5*time.Minute || d.SlotLength > 8*time.Hour || d.SlotLength%time.Minute != 0:
		return nil, configErr("SlotLength", "must be whole minutes between 5m and 8h")
	case d.LeadTime < 0 || d.LeadTime > 30*24*time.Hour:
		return nil, configErr("LeadTime", "must be between 0 and 30 days")
	case d.Horizon <= d.LeadTime || d.Horizon > 366*24*time.Hour:
		return nil, configErr("Horizon", "must be after LeadTime and at most 366 days")
	case d.CancelCutoff < 0 || d.CancelCutoff > 30*24*time.Hour:
		return nil, configErr("CancelCutoff", "must be between 0 and 30 days")
	case len(d.Groups) == 0:
		return nil, configErr("Groups", "at least one station group is required")
	case len(d.Groups) > 1000:
		return nil, configErr("Groups", "at most 1000 station groups")
	}
	for k, n := range d.WeeklyLimits {
		if !k.Valid() {
			return nil, configErr("WeeklyLimits", "unknown visit kind %q", k)
		}
		if n < 0 || n > 1000 {
			return nil, configErr(fmt.Sprintf("WeeklyLimits[%s]", k), "must be between 0 (unlimited) and 1000")
		}
	}
	cal := &Calendar{cfg: d, loc: loc, slot: int(d.SlotLength / time.Minute)}
	seen := map[string]bool{}
	for gi, g := range d.Groups {
		field := fmt.Sprintf("Groups[%d]", gi)
		if !validID(g.ID) {
			return nil, configErr(field+".ID", "must be 1-64 characters of A-Z a-z 0-9 . _ -")
		}
		if seen[g.ID] {
			return nil, configErr(field+".ID", "duplicate group %q", g.ID)
		}
		seen[g.ID] = true
		if g.Stations < 0 || g.Stations > 10000 {
			return nil, configErr(field+".Stations", "must be between 0 (one) and 10000")
		}
		gc := groupCal{id: g.ID, stations: g.Stations}
		for hi, h := range g.Hours {
			hf := fmt.Sprintf("%s.Hours[%d]", field, hi)
			open, close := 0, 24*60
			var ok bool
			if h.Open != "" {
				if open, ok = parseHHMM(h.Open); !ok || open == 24*60 {
					return nil, configErr(hf+".Open", "%q is not HH:MM between 00:00 and 23:59", h.Open)
				}
			}
			if h.Close != "" {
				if close, ok = parseHHMM(h.Close); !ok {
					return nil, configErr(hf+".Close", "%q is not HH:MM between 00:00 and 24:00", h.Close)
				}
			}
			if close <= open {
				return nil, configErr(hf+".Close", "must be after Open; split a window past midnight in two")
			}
			days := h.Days
			if len(days) == 0 {
				days = []time.Weekday{0, 1, 2, 3, 4, 5, 6}
			}
			for _, wd := range days {
				if wd < 0 || wd > 6 {
					return nil, configErr(hf+".Days", "weekday %d is not 0 (Sunday) to 6", wd)
				}
				gc.days[wd] = append(gc.days[wd], span{open, close})
			}
		}
		for wd := range gc.days {
			s := gc.days[wd]
			sort.Slice(s, func(i, j int) bool { return s[i].open < s[j].open })
			for i := 1; i < len(s); i++ {
				if s[i].open < s[i-1].close {
					return nil, configErr(field+".Hours", "windows overlap on %s", time.Weekday(wd))
				}
			}
		}
		cal.groups = append(cal.groups, gc)
	}
	return cal, nil
}

// resolve returns the instants at which the wall-clock time min minutes
// after midnight of y-m-d occurs in loc, earliest first: none when clocks
// skip it (spring forward), two when they repeat it (fall back).
//
// time.Date normalizes such times silently (NOTES.md, Go time), so we do
// not trust it: we take the zone's offsets a day either side (at most one
// transition lies between them in any real zone), try each, and keep the
// candidates whose round trip gives back the same wall clock.
func resolve(loc *time.Location, y int, m time.Month, d, min int) (ts [2]time.Time, n int) {
	u := time.Date(y, m, d, min/60, min%60, 0, 0, time.UTC)
	var offs [3]int
	k := 0
	for _, p := range [3]time.Time{u.Add(-26 * time.Hour), u, u.Add(26 * time.Hour)} {
		_, off := p.In(loc).Zone()
		if !slices.Contains(offs[:k], off) {
			offs[k] = off
			k++
		}
	}
	for _, off := range offs[:k] {
		c := u.Add(-time.Duration(off) * time.Second)
		l := c.In(loc)
		ly, lm, ld := l.Date()
		lh, lmin, ls := l.Clock()
		if ly != y || lm != m || ld != d || lh*60+lmin != min || ls != 0 {
			continue
		}
		if n < 2 {
			ts[n] = c
			n++
		}
	}
	if n == 2 && ts[1].Before(ts[0]) {
		ts[0], ts[1] = ts[1], ts[0]
	}
	return ts, n
}

// Slots appends to dst the slots of group (every group when group is "")
// that start in [from, to), ordered by group (in calendar order) and then
// start, and returns the extended slice. Remaining is set to the group's
// capacity; closures and bookings are the Scheduler's business. It walks
// local wall-clock times: a time that does not exist yields no slot, a
// repeated one two.
func (c *Calendar) Slots(dst []Slot, from, to time.Time, group string) []Slot {
	if !from.Before(to) || to.Sub(from) > 400*24*time.Hour {
		return dst
	}
	fy, fm, fd := from.In(c.loc).Date()
	ty, tm, td := to.In(c.loc).Date()
	// A local date's slots can start up to a day before or after its
	// midnight in UTC terms, so walk one extra date on each side.
	first := time.Date(fy, fm, fd, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
	last := time.Date(ty, tm, td, 0, 0, 0, 0, time.UTC).AddDate(0, 0, 1)
	type dayInfo struct {
		day    time.Time // local date as a UTC midnight
		off    int       // the offset all day, when steady
		steady bool
	}
	var daysBuf [40]dayInfo
	days := daysBuf[:0]
	for day := first; !day.After(last); day = day.AddDate(0, 0, 1) {
		// Fast path: when no transition falls anywhere near this local
		// day (ZoneBounds of an instant before its earliest possible
		// start), every wall time maps to one instant with one offset.
		// Otherwise each time is resolved on its own.
		p := day.Add(-15 * time.Hour).In(c.loc)
		_, off := p.Zone()
		_, end := p.ZoneBounds()
		days = append(days, dayInfo{day: day, off: off, steady: end.IsZero() || end.After(day.Add(39*time.Hour))})
	}
	L := time.Duration(c.slot) * time.Minute
	for gi := range c.groups {
		g := &c.groups[gi]
		if group != "" && g.id != group {
			continue
		}
		seg := len(dst)
		for _, di := range days {
			y, m, d := di.day.Date()
			for _, sp := range g.days[di.day.Weekday()] {
				for t := sp.open; t+c.slot <= sp.close; t += c.slot {
					var ts [2]time.Time
					n := 1
					if di.steady {
						ts[0] = di.day.Add(time.Duration(t)*time.Minute - time.Duration(di.off)*time.Second)
					} else {
						ts, n = resolve(c.loc, y, m, d, t)
					}
					for i := 0; i < n; i++ {
						st := ts[i]
						if st.Before(from) || !st.Before(to) {
							continue
						}
						if i == 1 && overlapsFirstFold(c.loc, y, m, d, g.days[di.day.Weekday()], c.slot, st, L) {
							continue
						}
						dst = append(dst, Slot{
							Facility: c.cfg.ID, Group: g.id, Start: st, End: st.Add(L),
							Local: st.In(c.loc), Fold: i, Stations: g.stations, Remaining: g.stations,
						})
					}
				}
			}
		}
		// Walking wall-clock order puts a repeated hour's two
		// occurrences out of instant order; only then is there sorting.
		byStart := func(a, b Slot) int { return a.Start.Compare(b.Start) }
		if !slices.IsSortedFunc(dst[seg:], byStart) {
			slices.SortStableFunc(dst[seg:], byStart)
		}
	}
	return dst
}

// overlapsFirstFold reports whether a slot starting at st, the second
// occurrence (fold 1) of a wall time that a fall-back repeats, overlaps
// one of the day's first-occurrence slots in spans: with slots longer
// than the clock change, or across its instant, the two would share
// stations at once (stations are claimed per slot start). Such a slot
// is not offered. It runs only for repeated wall times.
func overlapsFirstFold(loc *time.Location, y int, m time.Month, d int, spans []span, slot int, st time.Time, L time.Duration) bool {
	for _, sp := range spans {
		for t := sp.open; t+slot <= sp.close; t += slot {
			ts, n := resolve(loc, y, m, d, t)
			if n == 0 {
				continue
			}
			if f := ts[0]; f.Before(st.Add(L)) && st.Before(f.Add(L)) && !f.Equal(st) {
				return true
			}
		}
	}
	return false
}

// slotAt returns group's slot that starts exactly at start.
func (c *Calendar) slotAt(group string, start time.Time) (Slot, bool) {
	var buf [4]Slot
	for _, s := range c.Slots(buf[:0], start, start.Add(time.Nanosecond), group) {
		if s.Start.Equal(start) {
			return s, true
		}
	}
	return Slot{}, false
}

// slotContaining returns group's slot running at t.
func (c *Calendar) slotContaining(group string, t time.Time) (Slot, bool) {
	var buf [8]Slot
	L := time.Duration(c.slot) * time.Minute
	for _, s := range c.Slots(buf[:0], t.Add(-L+time.Nanosecond), t.Add(time.Nanosecond), group) {
		if !t.Before(s.Start) && t.Before(s.End) {
			return s, true
		}
	}
	return Slot{}, false
}

// weekOf returns the Sunday (facility time) that starts the calendar week
// of the local date of l, as "YYYY-MM-DD": weekly limits count Sunday to
// Saturday in the facility's zone (DESIGN.md).
func weekOf(l time.Time) string {
	y, m, d := l.Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	return day.AddDate(0, 0, -int(day.Weekday())).Format(time.DateOnly)
}
