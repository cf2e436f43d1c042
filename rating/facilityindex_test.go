package rating

import (
	"fmt"
	"testing"
)

// TestFacilityIndex checks the index against the map it copies, for ids
// of every length up to 64 and ids it does not hold.
func TestFacilityIndex(t *testing.T) {
	for _, n := range []int{0, 1, 2, 7, 100, 1000} {
		m := map[string]*facilityEntry{}
		for i := range n {
			id := fmt.Sprintf("f%d", i)
			for len(id) < i%65 {
				id += "x"
			}
			m[id] = &facilityEntry{Facility: &Facility{ID: id}}
		}
		ix := newFacilityIndex(m)
		for id, e := range m {
			if got := ix.get(id); got != e {
				t.Fatalf("n=%d: get(%q) = %v", n, id, got)
			}
			if got := ix.get(id + "?"); got != nil {
				t.Fatalf("n=%d: get(%q) = %v, want nil", n, id+"?", got)
			}
		}
		for _, id := range []string{"", "nope", "f", "f1x"} {
			if got := ix.get(id); got != m[id] {
				t.Fatalf("n=%d: get(%q) = %v, want %v", n, id, got, m[id])
			}
		}
	}
}
