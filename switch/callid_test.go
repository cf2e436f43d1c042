package callswitch

import (
	"strings"
	"testing"
	"time"
)

// TestCallIDsSortByTime checks the call ids' shape and that, as strings,
// they sort in the order of their admission times, from 1970 to the
// year 5000, and never repeat.
func TestCallIDsSortByTime(t *testing.T) {
	times := []time.Time{time.Unix(0, 0), time.Date(2026, 11, 22, 2, 30, 0, 0, time.UTC)}
	for i := 1; i < 1000; i++ {
		times = append(times, times[1].Add(time.Duration(i)*time.Millisecond))
	}
	times = append(times, time.Date(2059, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(5000, 1, 1, 0, 0, 0, 0, time.UTC))
	seen := map[string]bool{}
	prev := ""
	for _, at := range times {
		id := newCallID(at)
		if len(id) != 26 || !strings.HasPrefix(id, "call-") {
			t.Fatalf("call id %q: want call- and 21 characters", id)
		}
		if seen[id] {
			t.Fatalf("call id %q twice", id)
		}
		seen[id] = true
		if id <= prev {
			t.Fatalf("call id %q at %v sorts before %q", id, at, prev)
		}
		prev = id
	}
	// Same millisecond: the same time part, different ids.
	a, b := newCallID(times[1]), newCallID(times[1])
	if a[:14] != b[:14] || a == b {
		t.Fatalf("same millisecond: %q and %q", a, b)
	}
}
