package callswitch

import (
	"crypto/subtle"
	"fmt"
	"time"

	"ipcs/rating"
)

// DirectoryConfig is the plain-data form of the directory: facilities,
// housing phones and residents, as the daemon loads them from its config
// or database.
type DirectoryConfig struct {
	Facilities []FacilitySpec
	Phones     []PhoneSpec
	Residents  []ResidentSpec
}

// FacilitySpec is one facility's calling rules.
type FacilitySpec struct {
	ID string
	// Zone is the IANA zone calling hours are read in, e.g. "America/Chicago".
	Zone string
	// CallingHours are the local windows calls may start in; none means
	// all day. A window whose To is before its From wraps past midnight.
	CallingHours []Hours
	// RequireAllowedList limits residents to their allowed numbers
	// (privileged numbers excepted).
	RequireAllowedList bool
	// CallLimit is the facility's per-call limit (0: rating's default).
	CallLimit time.Duration
	// Blocked numbers nobody in the facility may call.
	Blocked []string
	// Privileged (attorney) numbers: never recorded, never monitored, free.
	Privileged []string
}

// Hours is a local calling window "HH:MM"–"HH:MM".
type Hours struct {
	From, To string
}

// PhoneSpec is a housing-unit phone and its digest credentials.
type PhoneSpec struct {
	ID       string
	Password string
	Facility string
}

// ResidentStatus says whether a resident may place calls.
type ResidentStatus string

// Resident statuses.
const (
	StatusActive    ResidentStatus = "active"
	StatusSuspended ResidentStatus = "suspended"
	StatusReleased  ResidentStatus = "released"
)

// ResidentSpec is a resident: ID is the ledger account id.
type ResidentSpec struct {
	ID       string
	Facility string
	PIN      string
	Status   ResidentStatus // "" means active
	// CallLimit is the resident's own per-call limit (0: none).
	CallLimit time.Duration
	Blocked   []string
	Allowed   []string
	// NumberLimits are per-number call limits, e.g. a shorter limit for
	// one number.
	NumberLimits map[string]time.Duration
}

// Directory is the switch's read-only view of facilities, phones and
// residents. It is immutable once built, so any number of calls read it
// at once; Switch.SetDirectory swaps in a new one at runtime.
type Directory struct {
	facilities map[string]*facility
	phones     map[string]*phone
	byPIN      map[pinKey]*resident
}

type facility struct {
	id         string
	loc        *time.Location
	hours      []window
	requireAL  bool
	callLimit  time.Duration
	blocked    map[string]bool
	privileged map[string]bool
}

type window struct{ from, to int } // minutes after local midnight

type phone struct {
	id, password, facility string
}

type resident struct {
	id, facility string
	status       ResidentStatus
	callLimit    time.Duration
	blocked      map[string]bool
	allowed      map[string]bool
	numberLimits map[string]time.Duration
}

type pinKey struct{ facility, pin string }

// NewDirectory checks and indexes cfg. Numbers are normalized with
// rating.NormalizeDestination; PINs must be unique within a facility.
func NewDirectory(cfg DirectoryConfig) (*Directory, error) {
	d := &Directory{
		facilities: make(map[string]*facility, len(cfg.Facilities)),
		phones:     make(map[string]*phone, len(cfg.Phones)),
		byPIN:      make(map[pinKey]*resident, len(cfg.Residents)),
	}
	for i, fs := range cfg.Facilities {
		field := fmt.Sprintf("Facilities[%d]", i)
		if fs.ID == "" {
			return nil, configErr(field+".ID", "required")
		}
		if _, dup := d.facilities[fs.ID]; dup {
			return nil, configErr(field+".ID", "duplicate facility %q", fs.ID)
		}
		loc, err := time.LoadLocation(fs.Zone)
		if err != nil || fs.Zone == "" {
			return nil, configErr(field+".Zone", "unknown zone %q", fs.Zone)
		}
		f := &facility{id: fs.ID, loc: loc, requireAL: fs.RequireAllowedList, callLimit: fs.CallLimit}
		if fs.CallLimit < 0 {
			return nil, configErr(field+".CallLimit", "must not be negative")
		}
		for j, h := range fs.CallingHours {
			from, err1 := parseHHMM(h.From)
			to, err2 := parseHHMM(h.To)
			if err1 != nil || err2 != nil || from == to {
				return nil, configErr(fmt.Sprintf("%s.CallingHours[%d]", field, j), "want HH:MM–HH:MM, got %q–%q", h.From, h.To)
			}
			f.hours = append(f.hours, window{from, to})
		}
		if f.blocked, err = numberSet(fs.Blocked, field+".Blocked"); err != nil {
			return nil, err
		}
		if f.privileged, err = numberSet(fs.Privileged, field+".Privileged"); err != nil {
			return nil, err
		}
		d.facilities[fs.ID] = f
	}
	for i, ps := range cfg.Phones {
		field := fmt.Sprintf("Phones[%d]", i)
		if ps.ID == "" || !tokenOK(ps.ID) {
			return nil, configErr(field+".ID", "required, letters, digits, '-', '_' and '.' only")
		}
		if _, dup := d.phones[ps.ID]; dup {
			return nil, configErr(field+".ID", "duplicate phone %q", ps.ID)
		}
		if ps.Password == "" {
			return nil, configErr(field+".Password", "required")
		}
		if d.facilities[ps.Facility] == nil {
			return nil, configErr(field+".Facility", "unknown facility %q", ps.Facility)
		}
		d.phones[ps.ID] = &phone{id: ps.ID, password: ps.Password, facility: ps.Facility}
	}
	for i, rs := range cfg.Residents {
		field := fmt.Sprintf("Residents[%d]", i)
		if rs.ID == "" {
			return nil, configErr(field+".ID", "required")
		}
		if d.facilities[rs.Facility] == nil {
			return nil, configErr(field+".Facility", "unknown facility %q", rs.Facility)
		}
		if len(rs.PIN) < minPINLen || len(rs.PIN) > maxPINLen || !digits(rs.PIN) {
			return nil, configErr(field+".PIN", "want %d to %d digits", minPINLen, maxPINLen)
		}
		k := pinKey{rs.Facility, rs.PIN}
		if _, dup := d.byPIN[k]; dup {
			return nil, configErr(field+".PIN", "duplicate PIN in facility %q", rs.Facility)
		}
		r := &resident{id: rs.ID, facility: rs.Facility, status: rs.Status, callLimit: rs.CallLimit}
		switch r.status {
		case "":
			r.status = StatusActive
		case StatusActive, StatusSuspended, StatusReleased:
		default:
			return nil, configErr(field+".Status", "unknown status %q", rs.Status)
		}
		if rs.CallLimit < 0 {
			return nil, configErr(field+".CallLimit", "must not be negative")
		}
		var err error
		if r.blocked, err = numberSet(rs.Blocked, field+".Blocked"); err != nil {
			return nil, err
		}
		if r.allowed, err = numberSet(rs.Allowed, field+".Allowed"); err != nil {
			return nil, err
		}
		if len(rs.NumberLimits) > 0 {
			r.numberLimits = make(map[string]time.Duration, len(rs.NumberLimits))
			for n, lim := range rs.NumberLimits {
				e, err := rating.NormalizeDestination(n)
				if err != nil || lim <= 0 {
					return nil, configErr(field+".NumberLimits", "bad entry %q: %v", n, lim)
				}
				r.numberLimits[e] = lim
			}
		}
		d.byPIN[k] = r
	}
	return d, nil
}

func (d *Directory) phone(id string) *phone { return d.phones[id] }

func (d *Directory) facility(id string) *facility { return d.facilities[id] }

func (d *Directory) resident(facility, pin string) *resident {
	return d.byPIN[pinKey{facility, pin}]
}

// CheckPIN reports whether pin is residentID's PIN, and the resident's
// facility; the resident kiosk signs in with it. Released and suspended
// residents cannot sign in.
func (d *Directory) CheckPIN(residentID, pin string) (facility string, ok bool) {
	for k, r := range d.byPIN {
		if r.id == residentID && subtle.ConstantTimeCompare([]byte(k.pin), []byte(pin)) == 1 {
			return r.facility, r.status == StatusActive || r.status == ""
		}
	}
	return "", false
}

func numberSet(nums []string, field string) (map[string]bool, error) {
	if len(nums) == 0 {
		return nil, nil
	}
	m := make(map[string]bool, len(nums))
	for j, n := range nums {
		e, err := rating.NormalizeDestination(n)
		if err != nil {
			return nil, configErr(fmt.Sprintf("%s[%d]", field, j), "%q: %v", n, err)
		}
		m[e] = true
	}
	return m, nil
}

func parseHHMM(s string) (int, error) {
	if len(s) != 5 || s[2] != ':' || !digits(s[:2]) || !digits(s[3:]) {
		return 0, fmt.Errorf("bad time %q", s)
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	if h > 24 || m > 59 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("bad time %q", s)
	}
	return h*60 + m, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) > 0
}

// tokenOK accepts the characters a phone id may carry in a digest
// username and in logs.
func tokenOK(s string) bool {
	if len(s) > 64 {
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
