package rating

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"ipcs/internal/money"
)

// Book holds every facility and tariff version loaded at start-up. It is
// immutable after loading, so Quote is safe from any number of goroutines
// without locks.
type Book struct {
	facilities map[string]*facilityEntry
	index      facilityIndex        // facilities again, for Quote
	byID       map[string][]*Tariff // tariff id → versions
	caps       *Caps
}

// facilityEntry is a facility and its tariff versions per service, sorted
// by Effective ascending, so Quote does one map lookup.
type facilityEntry struct {
	*Facility
	zone         *zoneIndex // Facility.Location, indexed for band lookups
	audio, video []*Tariff
}

func (e *facilityEntry) versions(svc Service) *[]*Tariff {
	if svc == Video {
		return &e.video
	}
	return &e.audio
}

// Limits on outside input: a tariff file is operator data, but the parser
// is fuzzed and must not be made to allocate without bound.
const (
	maxFileSize   = 64 << 20
	maxRateDigits = 6 // rates have at most six decimal places (micro-dollars)
)

// file formats (YAML; JSON is valid YAML and is accepted as well).
type bookDoc struct {
	Facilities []facilityDoc `yaml:"facilities"`
	Tariffs    []tariffDoc   `yaml:"tariffs"`
}

type facilityDoc struct {
	ID            string   `yaml:"id"`
	Name          string   `yaml:"name"`
	Zone          string   `yaml:"zone"`
	Type          string   `yaml:"type"`
	ADP           int      `yaml:"adp"`
	State         string   `yaml:"state"`
	LocalPrefixes []string `yaml:"local_prefixes"`
	StatePrefixes []string `yaml:"state_prefixes"`
	CallLimit     string   `yaml:"call_limit"`
	VisitLimit    string   `yaml:"visit_limit"`
	Reserve       string   `yaml:"reserve"`
}

type tariffDoc struct {
	ID        string              `yaml:"id"`
	Version   int                 `yaml:"version"`
	Facility  string              `yaml:"facility"`
	Service   string              `yaml:"service"`
	Effective string              `yaml:"effective"`
	Increment string              `yaml:"increment"`
	Rates     map[string]rateDoc  `yaml:"rates"`
	Prefixes  map[string][]string `yaml:"prefixes"` // class → E.164 prefixes
	feeDoc    `yaml:",inline"`
}

// feeDoc lists the fee fields operators have tried to write. They exist
// only so that a file carrying one is refused with a clear error: FCC 24-75
// bans per-call, connect and other ancillary charges.
type feeDoc struct {
	ConnectFee *string `yaml:"connect_fee"`
	PerCallFee *string `yaml:"per_call_fee"`
	SetupFee   *string `yaml:"setup_fee"`
	Fee        *string `yaml:"fee"`
}

type rateDoc struct {
	Rate      string    `yaml:"rate"`
	Increment string    `yaml:"increment"`
	Bands     []bandDoc `yaml:"bands"`
	feeDoc    `yaml:",inline"`
}

type bandDoc struct {
	Name string   `yaml:"name"`
	Days []string `yaml:"days"`
	From string   `yaml:"from"`
	To   string   `yaml:"to"`
	Rate string   `yaml:"rate"`
}

type namedDoc struct {
	file string
	doc  bookDoc
}

// ParseBook builds a Book from one file's contents, checked against the
// shipped FCC caps (DefaultCaps). name is used in errors only.
func ParseBook(data []byte, name string) (*Book, error) {
	d, err := decodeBook(data, name)
	if err != nil {
		return nil, err
	}
	return buildBook(DefaultCaps(), []namedDoc{d})
}

// LoadBook reads and merges the named files of fsys (facilities from any
// file, tariffs from any file) into one Book checked against DefaultCaps.
func LoadBook(fsys fs.FS, paths ...string) (*Book, error) {
	return LoadBookWithCaps(DefaultCaps(), fsys, paths...)
}

// LoadBookWithCaps is LoadBook with an explicit cap set (tests, or a
// jurisdiction with stricter state caps).
func LoadBookWithCaps(caps *Caps, fsys fs.FS, paths ...string) (*Book, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("%w: no files", ErrInvalidTariff)
	}
	docs := make([]namedDoc, 0, len(paths))
	for _, p := range paths {
		f, err := fsys.Open(p)
		if err != nil {
			return nil, fmt.Errorf("rating: %w", err)
		}
		data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("rating: %s: %w", p, err)
		}
		d, err := decodeBook(data, p)
		if err != nil {
			return nil, err
		}
		docs = append(docs, d)
	}
	return buildBook(caps, docs)
}

func decodeBook(data []byte, name string) (namedDoc, error) {
	if len(data) > maxFileSize {
		return namedDoc{}, &FileError{File: name, Err: fmt.Errorf("%w: file larger than %d bytes", ErrInvalidTariff, maxFileSize)}
	}
	var doc bookDoc
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return namedDoc{}, &FileError{File: name, Err: fmt.Errorf("%w: %w", ErrInvalidTariff, err)}
	}
	return namedDoc{file: name, doc: doc}, nil
}

func buildBook(caps *Caps, docs []namedDoc) (*Book, error) {
	b := &Book{
		facilities: map[string]*facilityEntry{},
		byID:       map[string][]*Tariff{},
		caps:       caps,
	}
	zones := map[string]*zoneIndex{} // by IANA name: facilities in one zone share its index
	for _, d := range docs {
		for i, fd := range d.doc.Facilities {
			f, err := buildFacility(fd, d.file, fmt.Sprintf("facilities[%d]", i))
			if err != nil {
				return nil, err
			}
			if _, dup := b.facilities[f.ID]; dup {
				return nil, &FileError{File: d.file, Field: fmt.Sprintf("facilities[%d].id", i), Err: fmt.Errorf("%w: duplicate facility %q", ErrInvalidTariff, f.ID)}
			}
			z, ok := zones[f.Zone]
			if !ok {
				z = newZoneIndex(f.Location)
				zones[f.Zone] = z
			}
			b.facilities[f.ID] = &facilityEntry{Facility: f, zone: z}
		}
	}
	b.index = newFacilityIndex(b.facilities)
	for _, d := range docs {
		for i, td := range d.doc.Tariffs {
			t, err := b.buildTariff(td, d.file, fmt.Sprintf("tariffs[%d]", i))
			if err != nil {
				return nil, err
			}
			for _, o := range b.byID[t.ID] {
				if o.Version == t.Version {
					return nil, &FileError{File: d.file, Field: fmt.Sprintf("tariffs[%d].version", i), Err: fmt.Errorf("%w: duplicate tariff %s version %d", ErrInvalidTariff, t.ID, t.Version)}
				}
			}
			vs := b.facilities[t.Facility].versions(t.Service)
			*vs = append(*vs, t)
			b.byID[t.ID] = append(b.byID[t.ID], t)
		}
	}
	for _, e := range b.facilities {
		for _, ts := range [][]*Tariff{e.audio, e.video} {
			// Same effective date: the higher version wins (a correction).
			sortVersions(ts)
		}
	}
	return b, nil
}

func sortVersions(ts []*Tariff) {
	sort.SliceStable(ts, func(i, j int) bool {
		if !ts[i].Effective.Equal(ts[j].Effective) {
			return ts[i].Effective.Before(ts[j].Effective)
		}
		return ts[i].Version < ts[j].Version
	})
}

func buildFacility(fd facilityDoc, file, field string) (*Facility, error) {
	bad := func(sub, format string, args ...any) error {
		return &FileError{File: file, Field: field + "." + sub, Err: fmt.Errorf("%w: "+format, append([]any{ErrInvalidTariff}, args...)...)}
	}
	if !validID(fd.ID) {
		return nil, bad("id", "want 1–64 of [A-Za-z0-9_.-], got %q", clip(fd.ID))
	}
	if fd.Zone == "" {
		return nil, bad("zone", "missing IANA zone")
	}
	loc, err := time.LoadLocation(fd.Zone)
	if err != nil {
		return nil, bad("zone", "%q: %v", clip(fd.Zone), err)
	}
	typ := FacilityType(fd.Type)
	if typ != Prison && typ != Jail {
		return nil, bad("type", "want prison or jail, got %q", clip(fd.Type))
	}
	if fd.ADP < 0 {
		return nil, bad("adp", "negative average daily population %d", fd.ADP)
	}
	f := &Facility{ID: fd.ID, Name: fd.Name, Zone: fd.Zone, Location: loc, Type: typ, ADP: fd.ADP, State: fd.State,
		CallLimit: DefaultCallLimit, VisitLimit: DefaultVisitLimit, Reserve: DefaultReserve}
	for _, p := range fd.LocalPrefixes {
		if !validPrefix(p) {
			return nil, bad("local_prefixes", "%q is not +digits", clip(p))
		}
	}
	for _, p := range fd.StatePrefixes {
		if !validPrefix(p) {
			return nil, bad("state_prefixes", "%q is not +digits", clip(p))
		}
	}
	f.LocalPrefixes = append([]string(nil), fd.LocalPrefixes...)
	f.StatePrefixes = append([]string(nil), fd.StatePrefixes...)
	for _, x := range []struct {
		name string
		in   string
		out  *time.Duration
	}{{"call_limit", fd.CallLimit, &f.CallLimit}, {"visit_limit", fd.VisitLimit, &f.VisitLimit}, {"reserve", fd.Reserve, &f.Reserve}} {
		if x.in == "" {
			continue
		}
		d, err := time.ParseDuration(x.in)
		if err != nil || d < time.Second || d > 24*time.Hour {
			return nil, bad(x.name, "want a duration from 1s to 24h, got %q", clip(x.in))
		}
		*x.out = d
	}
	return f, nil
}

func (b *Book) buildTariff(td tariffDoc, file, field string) (*Tariff, error) {
	bad := func(sub, format string, args ...any) error {
		return &FileError{File: file, Field: field + sub, Err: fmt.Errorf("%w: "+format, append([]any{ErrInvalidTariff}, args...)...)}
	}
	if err := checkFees(td.feeDoc, file, field); err != nil {
		return nil, err
	}
	if !validID(td.ID) {
		return nil, bad(".id", "want 1–64 of [A-Za-z0-9_.-], got %q", clip(td.ID))
	}
	if td.Version < 1 {
		return nil, bad(".version", "want a positive version, got %d", td.Version)
	}
	fe, ok := b.facilities[td.Facility]
	if !ok {
		return nil, bad(".facility", "unknown facility %q", clip(td.Facility))
	}
	f := fe.Facility
	svc := Service(td.Service)
	if svc != Audio && svc != Video {
		return nil, bad(".service", "want audio or video, got %q", clip(td.Service))
	}
	day, err := parseCivilDate(td.Effective)
	if err != nil {
		return nil, &FileError{File: file, Field: field + ".effective", Err: err}
	}
	t := &Tariff{ID: td.ID, Version: td.Version, Facility: f.ID, Service: svc, File: file,
		Effective: time.Date(day.y, time.Month(day.m), day.d, 0, 0, 0, 0, f.Location), byName: map[string]int16{}}
	first, every, err := parseIncrement(td.Increment, 60, 60)
	if err != nil {
		return nil, bad(".increment", "%v", err)
	}
	if len(td.Rates) == 0 {
		return nil, bad(".rates", "no rates")
	}
	if len(td.Rates) > 1000 {
		return nil, bad(".rates", "more than 1000 classes")
	}
	limit, hasCap := b.caps.For(t.Effective, svc, f.Type, f.ADP)
	names := make([]string, 0, len(td.Rates))
	for n := range td.Rates {
		names = append(names, n)
	}
	sort.Strings(names) // deterministic class indexes and error order
	for _, name := range names {
		rd := td.Rates[name]
		rf := fmt.Sprintf("%s.rates.%s", field, name)
		if !validID(name) {
			return nil, bad(".rates", "class name %q: want 1–64 of [A-Za-z0-9_.-]", clip(name))
		}
		if svc == Video && VisitKind(name) != Remote && VisitKind(name) != DirectDial && VisitKind(name) != InFacility {
			return nil, bad(".rates."+name, "video rates are keyed by visit kind (remote, direct_dial, in_facility)")
		}
		if err := checkFees(rd.feeDoc, file, rf); err != nil {
			return nil, err
		}
		cr := classRate{name: name}
		if cr.rate, err = parseRate(rd.Rate, file, rf+".rate", limit, hasCap); err != nil {
			return nil, err
		}
		cr.first, cr.every = first, every
		if rd.Increment != "" {
			if cr.first, cr.every, err = parseIncrement(rd.Increment, first, every); err != nil {
				return nil, bad(".rates."+name+".increment", "%v", err)
			}
		}
		if len(rd.Bands) > 48 {
			return nil, bad(".rates."+name+".bands", "more than 48 bands")
		}
		for j, bd := range rd.Bands {
			bf := fmt.Sprintf("%s.bands[%d]", rf, j)
			bn, err := parseBand(bd, file, bf, limit, hasCap)
			if err != nil {
				return nil, err
			}
			cr.bands = append(cr.bands, bn)
		}
		t.byName[name] = int16(len(t.classes))
		t.classes = append(t.classes, cr)
	}
	if svc == Audio {
		if err := b.buildPrefixes(t, f, td, file, field); err != nil {
			return nil, err
		}
	} else if len(td.Prefixes) > 0 {
		return nil, bad(".prefixes", "video tariffs are keyed by visit kind, not destination")
	}
	return t, nil
}

// buildPrefixes fills the tariff's destination table: "+" international,
// "+1" interstate, the facility's state prefixes intrastate, its local
// prefixes local, then the tariff's own prefixes, longest match winning.
// A class with no rate in the tariff is left out, so such calls get
// ErrNoTariff rather than a wrong price.
func (b *Book) buildPrefixes(t *Tariff, f *Facility, td tariffDoc, file, field string) error {
	t.prefix = newPrefixTable()
	put := func(p, class string) {
		if c, ok := t.byName[class]; ok {
			t.prefix.insert(p, c)
		}
	}
	put("+", ClassInternational)
	put("+1", ClassInterstate)
	for _, p := range f.StatePrefixes {
		put(p, ClassIntrastate)
	}
	for _, p := range f.LocalPrefixes {
		put(p, ClassLocal)
	}
	classes := make([]string, 0, len(td.Prefixes))
	total := 0
	for c, ps := range td.Prefixes {
		classes = append(classes, c)
		total += len(ps)
	}
	if total > 1_000_000 {
		return &FileError{File: file, Field: field + ".prefixes", Err: fmt.Errorf("%w: more than 1,000,000 prefixes", ErrInvalidTariff)}
	}
	sort.Strings(classes)
	seen := make(map[string]string, total)
	for _, class := range classes {
		c, ok := t.byName[class]
		if !ok {
			return &FileError{File: file, Field: field + ".prefixes." + clip(class), Err: fmt.Errorf("%w: class %q has no rate", ErrInvalidTariff, clip(class))}
		}
		for _, p := range td.Prefixes[class] {
			if !validPrefix(p) {
				return &FileError{File: file, Field: field + ".prefixes." + class, Rate: clip(p), Err: fmt.Errorf("%w: want \"+digits\"", ErrInvalidTariff)}
			}
			if other, dup := seen[p]; dup {
				return &FileError{File: file, Field: field + ".prefixes." + class, Rate: p, Err: fmt.Errorf("%w: prefix also in class %q", ErrInvalidTariff, other)}
			}
			seen[p] = class
			t.prefix.insert(p, c)
		}
	}
	t.prefix.freeze()
	return nil
}

func checkFees(fd feeDoc, file, field string) error {
	for _, x := range []struct {
		name string
		v    *string
	}{{"connect_fee", fd.ConnectFee}, {"per_call_fee", fd.PerCallFee}, {"setup_fee", fd.SetupFee}, {"fee", fd.Fee}} {
		if x.v != nil {
			return &FileError{File: file, Field: field + "." + x.name, Rate: clip(*x.v), Cap: "0", Order: "FCC 24-75 bans ancillary and per-call charges", Err: ErrFeeForbidden}
		}
	}
	return nil
}

func parseRate(s, file, field string, limit Cap, hasCap bool) (money.Amount, error) {
	r, err := money.Parse(s, maxRateDigits)
	if err != nil {
		return 0, &FileError{File: file, Field: field, Rate: clip(s), Err: fmt.Errorf("%w: %w", ErrInvalidTariff, err)}
	}
	if r < 0 {
		return 0, &FileError{File: file, Field: field, Rate: s, Err: fmt.Errorf("%w: negative rate", ErrInvalidTariff)}
	}
	if hasCap && r > limit.Max() {
		capText := limit.Rate.String()
		if limit.Additive > 0 {
			capText = fmt.Sprintf("%s (%s + %s additive)", limit.Max(), limit.Rate, limit.Additive)
		}
		return 0, &FileError{File: file, Field: field, Rate: s, Cap: capText, Order: limit.Order, Err: ErrCapExceeded}
	}
	return r, nil
}

func parseBand(bd bandDoc, file, field string, limit Cap, hasCap bool) (band, error) {
	bad := func(sub, format string, args ...any) error {
		return &FileError{File: file, Field: field + sub, Err: fmt.Errorf("%w: "+format, append([]any{ErrInvalidTariff}, args...)...)}
	}
	b := band{name: bd.Name}
	if !validID(bd.Name) {
		return b, bad(".name", "want 1–64 of [A-Za-z0-9_.-], got %q", clip(bd.Name))
	}
	var err error
	if b.from, err = parseClock(bd.From); err != nil {
		return b, bad(".from", "%v", err)
	}
	if b.to, err = parseClock(bd.To); err != nil {
		return b, bad(".to", "%v", err)
	}
	if b.from == b.to {
		return b, bad(".to", "empty band %s–%s", bd.From, bd.To)
	}
	for _, d := range bd.Days {
		wd, ok := weekdays[strings.ToLower(d)]
		if !ok {
			return b, bad(".days", "%q is not mon…sun", clip(d))
		}
		b.days |= 1 << wd
	}
	if b.rate, err = parseRate(bd.Rate, file, field+".rate", limit, hasCap); err != nil {
		return b, err
	}
	return b, nil
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// parseClock reads "HH:MM" (00:00–24:00) as minutes after local midnight.
func parseClock(s string) (int, error) {
	if len(s) != 5 || s[2] != ':' {
		return 0, fmt.Errorf("want HH:MM, got %q", clip(s))
	}
	h, err1 := strconv.Atoi(s[:2])
	m, err2 := strconv.Atoi(s[3:])
	if err1 != nil || err2 != nil || h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("want HH:MM, got %q", clip(s))
	}
	return h*60 + m, nil
}

// parseIncrement reads "N/M": first N seconds, then every M (60/60, 30/6,
// 1/1). Empty means the defaults given.
func parseIncrement(s string, defFirst, defEvery int64) (int64, int64, error) {
	if s == "" {
		return defFirst, defEvery, nil
	}
	a, b, ok := strings.Cut(s, "/")
	if !ok {
		return 0, 0, fmt.Errorf("want \"first/every\" seconds such as 60/60, got %q", clip(s))
	}
	n, err1 := strconv.ParseInt(a, 10, 64)
	m, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || n < 1 || m < 1 || n > 3600 || m > 3600 {
		return 0, 0, fmt.Errorf("want \"first/every\" of 1–3600 seconds each, got %q", clip(s))
	}
	return n, m, nil
}

func validID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func validPrefix(p string) bool {
	if len(p) < 2 || len(p) > 16 || p[0] != '+' {
		return false
	}
	for i := 1; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	return true
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// Facility returns a copy of the facility with id, if loaded.
func (b *Book) Facility(id string) (Facility, bool) {
	f, ok := b.facilities[id]
	if !ok {
		return Facility{}, false
	}
	return *f.Facility, true
}

// Facilities returns the ids of every loaded facility, sorted.
func (b *Book) Facilities() []string {
	out := make([]string, 0, len(b.facilities))
	for id := range b.facilities {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// Tariff returns tariff id at version, if loaded.
func (b *Book) Tariff(id string, version int) (*Tariff, bool) {
	for _, t := range b.byID[id] {
		if t.Version == version {
			return t, true
		}
	}
	return nil, false
}

// TariffAt returns the tariff version in force for a facility's service at
// instant at: the one with the latest effective date not after at (the
// highest version among equal dates).
func (b *Book) TariffAt(facility string, svc Service, at time.Time) (*Tariff, error) {
	f, ok := b.facilities[facility]
	if !ok {
		return nil, ErrUnknownFacility
	}
	return f.tariffAt(svc, at)
}

func (f *facilityEntry) tariffAt(svc Service, at time.Time) (*Tariff, error) {
	ts := f.audio
	if svc == Video {
		ts = f.video
	}
	for i := len(ts) - 1; i >= 0; i-- {
		if !ts[i].Effective.After(at) {
			return ts[i], nil
		}
	}
	return nil, ErrNoTariff
}
