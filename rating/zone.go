package rating

import "time"

// zoneIndex tells the wall clock of a facility's zone at an instant
// without time.Time.In: a band lookup runs on every quote, and Go's
// Location caches only the zone period in force when it was loaded, so
// after the first DST change each conversion binary-searches the
// transitions (~50 ns). The index lists every period of constant UTC
// offset between zoneFrom and zoneTo, as time.Time.ZoneBounds reports
// them, and a bucket table finds the period in a step or two. Instants
// outside that range fall back to time.Time.In. It is built at load and
// read-only afterwards.
type zoneIndex struct {
	loc    *time.Location
	starts []int64  // unix second each period starts; starts[0] = zoneFrom
	offs   []int32  // each period's UTC offset, seconds east
	bucket []uint16 // period in force at zoneFrom + k<<zoneBucketShift
}

// The indexed range, in unix seconds: 1970-01-01 to 2100-01-01 UTC.
const (
	zoneFrom        = 0
	zoneTo          = 4102444800
	zoneBucketShift = 21 // 2^21 s ≈ 24 days: a bucket rarely holds a period change
	secondsPerDay   = 86400
)

// newZoneIndex indexes loc. A zone with more than 65,535 periods in the
// range (none exists) is not indexed: every call falls back to In.
func newZoneIndex(loc *time.Location) *zoneIndex {
	z := &zoneIndex{loc: loc}
	for t := time.Unix(zoneFrom, 0).In(loc); ; {
		// Periods are kept only where the offset changes: names (EST,
		// EDT) do not matter here.
		if _, off := t.Zone(); len(z.offs) == 0 || z.offs[len(z.offs)-1] != int32(off) {
			z.starts = append(z.starts, t.Unix())
			z.offs = append(z.offs, int32(off))
		}
		_, end := t.ZoneBounds()
		if end.IsZero() || end.Unix() >= zoneTo || len(z.starts) > 1<<16-1 {
			break
		}
		if !end.After(t) {
			// Past its last listed transition a zone follows its TZ rule,
			// computed a year at a time, and for the last day of a leap
			// year ZoneBounds reports an end that is not after t (Go 1.26).
			// Step an hour instead, finding any offset change in it to the
			// second.
			end = nextOffset(t, time.Hour)
		}
		t = end
	}
	if len(z.starts) > 1<<16-1 {
		z.starts, z.offs = nil, nil
		return z
	}
	z.bucket = make([]uint16, (zoneTo-zoneFrom)>>zoneBucketShift+1)
	p := 0
	for k := range z.bucket {
		at := int64(zoneFrom) + int64(k)<<zoneBucketShift
		for p+1 < len(z.starts) && z.starts[p+1] <= at {
			p++
		}
		z.bucket[k] = uint16(p)
	}
	return z
}

// nextOffset returns t+step, or the first second after t with another
// UTC offset if the offset at t+step differs from t's.
func nextOffset(t time.Time, step time.Duration) time.Time {
	_, off := t.Zone()
	hi := t.Add(step)
	if _, o := hi.Zone(); o == off {
		return hi
	}
	lo := t
	for hi.Sub(lo) > time.Second {
		mid := lo.Add(hi.Sub(lo) / 2)
		if _, o := mid.Zone(); o == off {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi
}

// wall returns the weekday and the minute after local midnight of t in
// the zone: what t.In(loc).Weekday() and Clock() give.
func (z *zoneIndex) wall(t time.Time) (time.Weekday, int) {
	u := t.Unix()
	if u < zoneFrom || u >= zoneTo || z.starts == nil {
		lt := t.In(z.loc)
		h, m, _ := lt.Clock()
		return lt.Weekday(), h*60 + m
	}
	p := int(z.bucket[(u-zoneFrom)>>zoneBucketShift])
	for p+1 < len(z.starts) && z.starts[p+1] <= u {
		p++
	}
	local := u + int64(z.offs[p])
	day := local / secondsPerDay
	sec := local % secondsPerDay
	if sec < 0 { // before 1970-01-01 local: floor, not truncate
		day--
		sec += secondsPerDay
	}
	wd := (day + 4) % 7 // 1970-01-01 was a Thursday
	if wd < 0 {
		wd += 7
	}
	return time.Weekday(wd), int(sec / 60)
}
