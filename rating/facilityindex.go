package rating

// facilityIndex finds a facility's entry by id for Quote. It is the Book's
// facilities map again, as an open-addressing table with a hash made for
// short ids: the map's string hashing and small-map probing cost more than
// the rest of a quote's bookkeeping together. Built once at load, then
// read-only.
type facilityIndex struct {
	slots []facilitySlot // len is a power of two, more than twice the entries
	shift uint8          // 64 − log2(len(slots))
}

type facilitySlot struct {
	id string // "": free (ids are never empty)
	e  *facilityEntry
}

func newFacilityIndex(m map[string]*facilityEntry) facilityIndex {
	bits := uint8(1)
	for 1<<bits <= 2*len(m) {
		bits++
	}
	ix := facilityIndex{slots: make([]facilitySlot, 1<<bits), shift: 64 - bits}
	mask := uint64(len(ix.slots) - 1)
	for id, e := range m {
		i := idHash(id) >> ix.shift
		for ix.slots[i].id != "" {
			i = (i + 1) & mask
		}
		ix.slots[i] = facilitySlot{id: id, e: e}
	}
	return ix
}

// get returns the entry of facility id, or nil.
func (ix *facilityIndex) get(id string) *facilityEntry {
	if id == "" || len(ix.slots) == 0 {
		return nil
	}
	mask := uint64(len(ix.slots) - 1)
	for i := idHash(id) >> ix.shift; ; i = (i + 1) & mask {
		s := &ix.slots[i]
		if s.id == id {
			return s.e
		}
		if s.id == "" {
			return nil
		}
	}
}

// idHash hashes a facility id eight bytes at a time (ids are 1–64 bytes);
// the table uses its top bits.
func idHash(s string) uint64 {
	h := uint64(len(s)) * 0x9e3779b97f4a7c15
	for len(s) >= 8 {
		_ = s[7]
		w := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
		h = (h ^ w) * 0xbf58476d1ce4e5b9
		s = s[8:]
	}
	var w uint64
	for i := 0; i < len(s); i++ {
		w = w<<8 | uint64(s[i])
	}
	h = (h ^ w) * 0x94d049bb133111eb
	return h ^ h>>31
}
