package scheduler

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// loadZone loads an IANA zone by name. It refuses "" and "Local" (which
// time.LoadLocation maps to UTC and the host's zone) and anything that is
// not shaped like a zone name, before touching the zone database.
func loadZone(name string) (*time.Location, error) {
	if name == "" || name == "Local" || len(name) > 64 || name[0] == '/' || strings.Contains(name, "..") {
		return nil, fmt.Errorf("%w: %q", ErrInvalidZone, name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '/' || c == '_' || c == '-' || c == '+') {
			return nil, fmt.Errorf("%w: %q", ErrInvalidZone, name)
		}
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%w: %q", ErrInvalidZone, name)
	}
	return loc, nil
}

// zoneCache remembers zones that loaded; only valid names are kept, so
// it is bounded by the size of the zone database.
type zoneCache struct {
	// mu guards m.
	mu sync.Mutex
	m  map[string]*time.Location
}

func (z *zoneCache) load(name string) (*time.Location, error) {
	z.mu.Lock()
	loc, ok := z.m[name]
	z.mu.Unlock()
	if ok {
		return loc, nil
	}
	loc, err := loadZone(name)
	if err != nil {
		return nil, err
	}
	z.mu.Lock()
	if z.m == nil {
		z.m = map[string]*time.Location{}
	}
	z.m[name] = loc
	z.mu.Unlock()
	return loc, nil
}
