package rating

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestZoneIndexMatchesIn checks the zone index against time.Time.In on
// random instants and on every period change ±1 s, in zones with DST,
// without it, with half-hour and 45-minute offsets, with 30-minute DST
// (Lord Howe) and with DST suspended yearly (Casablanca), and on instants
// outside the indexed range.
func TestZoneIndexMatchesIn(t *testing.T) {
	zones := []string{"America/New_York", "America/Phoenix", "Asia/Kolkata", "UTC", "Europe/London",
		"Australia/Lord_Howe", "Africa/Casablanca", "Pacific/Chatham", "America/Sao_Paulo", "Asia/Kathmandu",
		"Pacific/Kiritimati", "America/St_Johns", "Antarctica/Troll", "Etc/GMT+12"}
	r := rand.New(rand.NewPCG(5, 6))
	for _, name := range zones {
		t.Run(name, func(t *testing.T) {
			loc, err := time.LoadLocation(name)
			if err != nil {
				t.Fatal(err)
			}
			z := newZoneIndex(loc)
			check := func(u int64) {
				at := time.Unix(u, r.Int64N(1e9)).UTC()
				wd, minute := z.wall(at)
				lt := at.In(loc)
				h, m, _ := lt.Clock()
				if wd != lt.Weekday() || minute != h*60+m {
					t.Fatalf("%s: wall(%s) = %s %d, In says %s %d", name, at, wd, minute, lt.Weekday(), h*60+m)
				}
			}
			for _, s := range z.starts {
				for d := int64(-2); d <= 1; d++ {
					check(s + d)
				}
			}
			for range 20000 {
				check(r.Int64N(zoneTo+1e9) - 5e8) // about 1954–2116
			}
			check(zoneTo - 1)
			check(zoneTo)
			check(zoneFrom - 1)
		})
	}
}
