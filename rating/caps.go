package rating

import (
	"bytes"
	_ "embed"
	"fmt"
	"sort"
	"time"

	"gopkg.in/yaml.v3"

	"ipcs/internal/money"
)

//go:embed caps/fcc.yaml
var fccCaps []byte

// Caps is a set of regulatory cap schedules, each in force from its
// effective date until the next one's.
type Caps struct {
	schedules []capSchedule // sorted by effective date
}

type capSchedule struct {
	order     string
	source    string
	effective civilDate
	verified  bool
	additive  money.Amount
	caps      map[Service]capTiers
}

type capTiers struct {
	prison money.Amount
	jail   []jailTier // sorted by minADP, descending
}

type jailTier struct {
	minADP int
	cap    money.Amount
}

// Cap is the ceiling that applies to one facility and service on a date.
type Cap struct {
	Order    string       // "FCC 24-75"
	Rate     money.Amount // per-minute cap
	Additive money.Amount // per-minute facility-cost additive allowed on top
	Verified bool         // figures checked against the published rule
}

// Max returns the highest per-minute rate allowed: Rate + Additive.
func (c Cap) Max() money.Amount { return c.Rate + c.Additive }

type capsDoc struct {
	Schedules []struct {
		Order     string  `yaml:"order"`
		Source    string  `yaml:"source"`
		Effective string  `yaml:"effective"`
		Verified  bool    `yaml:"verified"`
		Additive  string  `yaml:"additive"`
		Audio     tierDoc `yaml:"audio"`
		Video     tierDoc `yaml:"video"`
	} `yaml:"schedules"`
}

type tierDoc struct {
	Prison string `yaml:"prison"`
	Jail   []struct {
		MinADP int    `yaml:"min_adp"`
		Cap    string `yaml:"cap"`
	} `yaml:"jail"`
}

// DefaultCaps returns the FCC caps shipped with ipcs (caps/fcc.yaml).
func DefaultCaps() *Caps {
	c, err := ParseCaps(fccCaps)
	if err != nil {
		// The file is embedded and covered by TestDefaultCaps; a broken one
		// is a build defect, so fall back to no schedules rather than panic.
		return &Caps{}
	}
	return c
}

// ParseCaps reads a cap schedule file in the format of caps/fcc.yaml.
func ParseCaps(data []byte) (*Caps, error) {
	var doc capsDoc
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("caps: %w: %w", ErrInvalidTariff, err)
	}
	c := &Caps{}
	for i, s := range doc.Schedules {
		eff, err := parseCivilDate(s.Effective)
		if err != nil {
			return nil, fmt.Errorf("caps: schedules[%d].effective: %w", i, err)
		}
		add, err := money.Parse(s.Additive, money.Scale)
		if err != nil {
			return nil, fmt.Errorf("caps: schedules[%d].additive: %w", i, err)
		}
		cs := capSchedule{order: s.Order, source: s.Source, effective: eff, verified: s.Verified,
			additive: add, caps: map[Service]capTiers{}}
		for svc, td := range map[Service]tierDoc{Audio: s.Audio, Video: s.Video} {
			var tiers capTiers
			if tiers.prison, err = money.Parse(td.Prison, money.Scale); err != nil {
				return nil, fmt.Errorf("caps: schedules[%d].%s.prison: %w", i, svc, err)
			}
			for j, t := range td.Jail {
				v, err := money.Parse(t.Cap, money.Scale)
				if err != nil {
					return nil, fmt.Errorf("caps: schedules[%d].%s.jail[%d]: %w", i, svc, j, err)
				}
				tiers.jail = append(tiers.jail, jailTier{minADP: t.MinADP, cap: v})
			}
			sort.Slice(tiers.jail, func(a, b int) bool { return tiers.jail[a].minADP > tiers.jail[b].minADP })
			cs.caps[svc] = tiers
		}
		c.schedules = append(c.schedules, cs)
	}
	sort.Slice(c.schedules, func(a, b int) bool { return c.schedules[a].effective.before(c.schedules[b].effective) })
	return c, nil
}

// For returns the cap for a facility's service on date d (a civil date in
// the facility's zone). Before the first schedule the first one applies,
// the stricter choice. It reports false when there is no schedule.
func (c *Caps) For(d time.Time, svc Service, typ FacilityType, adp int) (Cap, bool) {
	if c == nil || len(c.schedules) == 0 {
		return Cap{}, false
	}
	day := civilOf(d)
	s := c.schedules[0]
	for _, x := range c.schedules[1:] {
		if !day.before(x.effective) && (x.verified || !s.verified) {
			// A schedule whose figures were not checked against the
			// Federal Register never replaces a checked one: until its
			// table is verified, the last verified caps (the stricter
			// 2024 ones) keep applying, so no unverified figure can let a
			// higher rate through.
			s = x
		}
	}
	tiers, ok := s.caps[svc]
	if !ok {
		return Cap{}, false
	}
	out := Cap{Order: s.order, Additive: s.additive, Verified: s.verified}
	if typ == Prison {
		out.Rate = tiers.prison
		return out, true
	}
	for _, t := range tiers.jail {
		if adp >= t.minADP {
			out.Rate = t.cap
			return out, true
		}
	}
	return Cap{}, false
}

// civilDate is a calendar date with no zone, compared field by field.
type civilDate struct{ y, m, d int }

func civilOf(t time.Time) civilDate {
	y, m, d := t.Date()
	return civilDate{y, int(m), d}
}

func (a civilDate) before(b civilDate) bool {
	if a.y != b.y {
		return a.y < b.y
	}
	if a.m != b.m {
		return a.m < b.m
	}
	return a.d < b.d
}

func parseCivilDate(s string) (civilDate, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return civilDate{}, fmt.Errorf("%w: date %q is not YYYY-MM-DD", ErrInvalidTariff, s)
	}
	return civilOf(t), nil
}
