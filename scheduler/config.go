package scheduler

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Kind is a visit kind. Its values are string-compatible with
// rating.VisitKind, which prices them; scheduler does not import rating.
type Kind string

// The visit kinds of DESIGN.md: remote and direct-dial visits are billed
// per minute at the facility's video tariff; in-facility visits are free.
const (
	KindRemote     Kind = "remote"
	KindInFacility Kind = "in_facility"
	KindDirectDial Kind = "direct_dial"
)

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool {
	switch k {
	case KindRemote, KindInFacility, KindDirectDial:
		return true
	}
	return false
}

// Billed reports whether visits of kind k are charged to the resident's
// debit account (everything but in-facility visits).
func (k Kind) Billed() bool { return k == KindRemote || k == KindDirectDial }

// Status is where a visit is in its life.
type Status string

// Visit statuses. booked → started → ended|failed; booked|started →
// cancelled; booked → failed (nobody came, or it could not connect).
const (
	StatusBooked    Status = "booked"
	StatusStarted   Status = "started"
	StatusEnded     Status = "ended"
	StatusFailed    Status = "failed"
	StatusCancelled Status = "cancelled"
)

// Open reports whether a visit in status s may still be joined.
func (s Status) Open() bool { return s == StatusBooked || s == StatusStarted }

// Defaults of Config and FacilityConfig, applied to zero values.
const (
	DefaultPasswordIterations = 600_000 // OWASP 2023 for PBKDF2-HMAC-SHA256
	DefaultMaxDays            = 31
	DefaultSlotLength         = 30 * time.Minute
	DefaultHorizon            = 14 * 24 * time.Hour
	// JoinEarly is how long before its start a visit may be joined: join
	// tokens are valid from Start-JoinEarly to End (docs/ARCHITECTURE.md).
	JoinEarly = 5 * time.Minute
	// MinDirectDial is the shortest direct-dial visit admitted: with less
	// of the current slot left, the next slot (if open) is claimed too.
	MinDirectDial = 10 * time.Minute
)

// Config holds the scheduler's process-wide settings. The zero value is
// valid and means the documented defaults.
type Config struct {
	// PasswordIterations is the PBKDF2-SHA256 work factor for new visitor
	// passwords; 0 means DefaultPasswordIterations. Stored hashes carry
	// their own count, so changing it never locks anyone out.
	PasswordIterations int
	// MaxDays bounds the days of one slot query; 0 means DefaultMaxDays.
	MaxDays int
}

func (c Config) withDefaults() Config {
	if c.PasswordIterations == 0 {
		c.PasswordIterations = DefaultPasswordIterations
	}
	if c.MaxDays == 0 {
		c.MaxDays = DefaultMaxDays
	}
	return c
}

// Validate reports the first bad field.
func (c Config) Validate() error {
	if c.PasswordIterations < 0 || (c.PasswordIterations > 0 && c.PasswordIterations < 1000) {
		return configErr("PasswordIterations", "must be 0 (default) or at least 1000")
	}
	if c.MaxDays < 0 || c.MaxDays > 366 {
		return configErr("MaxDays", "must be between 0 (default) and 366")
	}
	return nil
}

// FacilityConfig is one facility's visit calendar. Times of day are the
// facility's local wall-clock time in Zone; the zero value of every
// duration is its documented default.
type FacilityConfig struct {
	// ID is the facility id shared with rating and the ledger.
	ID string
	// Zone is the facility's IANA time zone, e.g. "America/Chicago".
	Zone string
	// SlotLength is the length of one visit; 0 means 30 minutes. Slots
	// start at each group's opening time and every SlotLength after it.
	SlotLength time.Duration
	// LeadTime is how long before its start a slot may still be booked.
	// 0 means no lead time: even the slot in progress may be booked, for
	// what is left of it.
	LeadTime time.Duration
	// Horizon is how far ahead slots may be booked; 0 means 14 days.
	Horizon time.Duration
	// CancelCutoff is how long before its start a visitor may still
	// cancel; 0 means until the start. Staff may cancel at any time.
	CancelCutoff time.Duration
	// WeeklyLimits caps each resident's visits per kind in a calendar
	// week, Sunday to Saturday in facility time, counted by the week the
	// visit falls in. A kind that is missing or 0 is unlimited.
	WeeklyLimits map[Kind]int
	// Groups are the station groups (housing units); at least one.
	Groups []Group
}

// Group is a set of identical visit stations serving one housing unit.
type Group struct {
	// ID names the group within the facility, e.g. "unit-a".
	ID string
	// Stations is the capacity of each slot; 0 means 1.
	Stations int
	// Hours are the weekly opening hours. Entries for the same day must
	// not overlap. No entries: the group is never open.
	Hours []Hours
}

// Hours is an opening window on some days of the week, in facility time.
type Hours struct {
	// Days the window applies to; empty means every day.
	Days []time.Weekday
	// Open and Close are "HH:MM"; Open "" means 00:00 and Close "" means
	// 24:00 (midnight at the end of the day). Open must be before Close;
	// a window past midnight is two entries.
	Open, Close string
}

// EveryDay returns Hours open every day from open to close ("HH:MM").
func EveryDay(open, close string) []Hours { return []Hours{{Open: open, Close: close}} }

func (c FacilityConfig) withDefaults() FacilityConfig {
	if c.SlotLength == 0 {
		c.SlotLength = DefaultSlotLength
	}
	if c.Horizon == 0 {
		c.Horizon = DefaultHorizon
	}
	gs := make([]Group, len(c.Groups))
	for i, g := range c.Groups {
		if g.Stations == 0 {
			g.Stations = 1
		}
		gs[i] = g
	}
	c.Groups = gs
	return c
}

// validID reports whether s is a short id of [A-Za-z0-9._-].
func validID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// Validate reports the first bad field by name, e.g.
// "Groups[1].Hours[0].Close".
func (c FacilityConfig) Validate() error {
	_, err := c.compile()
	return err
}

// parseHHMM parses "HH:MM" (00:00–24:00) into minutes after midnight.
func parseHHMM(s string) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	h, m := 0, 0
	for _, c := range s[:2] {
		if c < '0' || c > '9' {
			return 0, false
		}
		h = h*10 + int(c-'0')
	}
	for _, c := range s[3:] {
		if c < '0' || c > '9' {
			return 0, false
		}
		m = m*10 + int(c-'0')
	}
	if m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, false
	}
	return h*60 + m, true
}

// facilityJSON is FacilityConfig on the wire and in the database:
// durations as Go duration strings ("30m", "24h"), days as "sun".."sat".
type facilityJSON struct {
	ID           string       `json:"id"`
	Zone         string       `json:"zone"`
	SlotLength   string       `json:"slot_length,omitempty"`
	LeadTime     string       `json:"lead_time,omitempty"`
	Horizon      string       `json:"horizon,omitempty"`
	CancelCutoff string       `json:"cancel_cutoff,omitempty"`
	WeeklyLimits map[Kind]int `json:"weekly_limits,omitempty"`
	Groups       []groupJSON  `json:"groups"`
}

type groupJSON struct {
	ID       string      `json:"id"`
	Stations int         `json:"stations,omitempty"`
	Hours    []hoursJSON `json:"hours"`
}

type hoursJSON struct {
	Days  []string `json:"days,omitempty"`
	Open  string   `json:"open,omitempty"`
	Close string   `json:"close,omitempty"`
}

var dayNames = [7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

func durString(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

// MarshalJSON encodes c with readable durations and day names.
func (c FacilityConfig) MarshalJSON() ([]byte, error) {
	j := facilityJSON{
		ID: c.ID, Zone: c.Zone, SlotLength: durString(c.SlotLength), LeadTime: durString(c.LeadTime),
		Horizon: durString(c.Horizon), CancelCutoff: durString(c.CancelCutoff), WeeklyLimits: c.WeeklyLimits,
		Groups: []groupJSON{},
	}
	for _, g := range c.Groups {
		gj := groupJSON{ID: g.ID, Stations: g.Stations, Hours: []hoursJSON{}}
		for _, h := range g.Hours {
			hj := hoursJSON{Open: h.Open, Close: h.Close}
			for _, d := range h.Days {
				if d < 0 || d > 6 {
					return nil, fmt.Errorf("scheduler: weekday %d out of range", d)
				}
				hj.Days = append(hj.Days, dayNames[d])
			}
			gj.Hours = append(gj.Hours, hj)
		}
		j.Groups = append(j.Groups, gj)
	}
	return json.Marshal(j)
}

// UnmarshalJSON decodes the form MarshalJSON writes. Unknown fields are
// refused so that a typo in a calendar is not silently ignored.
func (c *FacilityConfig) UnmarshalJSON(b []byte) error {
	var j facilityJSON
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return err
	}
	out := FacilityConfig{ID: j.ID, Zone: j.Zone, WeeklyLimits: j.WeeklyLimits}
	for _, f := range []struct {
		name string
		s    string
		d    *time.Duration
	}{
		{"slot_length", j.SlotLength, &out.SlotLength}, {"lead_time", j.LeadTime, &out.LeadTime},
		{"horizon", j.Horizon, &out.Horizon}, {"cancel_cutoff", j.CancelCutoff, &out.CancelCutoff},
	} {
		if f.s == "" {
			continue
		}
		d, err := time.ParseDuration(f.s)
		if err != nil {
			return configErr(f.name, "not a duration like 30m")
		}
		*f.d = d
	}
	for gi, g := range j.Groups {
		grp := Group{ID: g.ID, Stations: g.Stations}
		for hi, h := range g.Hours {
			hr := Hours{Open: h.Open, Close: h.Close}
			for _, d := range h.Days {
				i := slices.Index(dayNames[:], strings.ToLower(d))
				if i < 0 {
					return configErr(fmt.Sprintf("groups[%d].hours[%d].days", gi, hi), "day %q is not sun..sat", d)
				}
				hr.Days = append(hr.Days, time.Weekday(i))
			}
			grp.Hours = append(grp.Hours, hr)
		}
		out.Groups = append(out.Groups, grp)
	}
	*c = out
	return nil
}
