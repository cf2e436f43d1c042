package rating

import (
	"math/bits"
	"slices"
)

// prefixTable maps E.164 prefixes to class indexes by longest-prefix
// match. Every quote of an audio session does one lookup on a random
// destination, so the table is laid out for one or two cache misses
// rather than a walk of dependent ones (the digit trie it replaced followed
// one node per digit, ~44 B a node, several MB for 50,000 prefixes):
//
//   - heads is indexed by the first headDigits digits of the number. Each
//     entry holds the class of the longest prefix of at most headDigits
//     digits that matches (prefixes "pushed" down to every head they cover),
//     a bitmap of the longer prefix lengths present under that head and a
//     one-hash Bloom filter of those longer prefixes, so that most lengths
//     a number does not match cost no probe.
//   - slots is one open-addressing hash table (linear probing, load ≤ 1/2)
//     of every prefix of one digit or more, keyed by its packed digits.
//     A lookup probes only the lengths its head's bitmap names and filter
//     lets through, longest first; the probes' addresses depend only on
//     the number, so the CPU overlaps their misses.
//
// E.164 numbers have at most 15 digits, so a number or prefix packs into a
// uint64 (4 bits a digit). For 50,000 prefixes the table takes ~2.5 MB
// (2 MB of slots, 0.4 MB of sorted keys, 80 kB of heads). It is built once
// at load (insert, then freeze) and read-only afterwards, so lookups are
// safe from any number of goroutines and allocate nothing.
type prefixTable struct {
	root       int16  // class of "+" (every number), -1 none
	lens       uint16 // bit L: some L-digit prefix is in slots
	headDigits int
	heads      []prefixHead // 10^headDigits entries; nil until freeze
	slots      []prefixSlot // len is a power of two; key 0 marks a free slot
	shift      uint8        // 64 − log2(len(slots))
	count      int          // prefixes in slots
	keys       []uint64     // every slot key, sorted: see nodeExists
}

// prefixHead is the pre-computed answer for one headDigits-digit head.
type prefixHead struct {
	class  int16  // longest prefix of ≤ headDigits digits, -1 none
	longer uint16 // bit L: some L-digit prefix (L > headDigits) starts with this head
	filter uint32 // bit filterBit(key) set for each of those prefixes
}

type prefixSlot struct {
	key   uint64 // packed prefix (prefixKey); 0: free
	class int16
}

// maxPrefixDigits is the longest E.164 number (ITU-T E.164 §6), hence the
// longest useful prefix; insert refuses more.
const maxPrefixDigits = 15

// maxHeadDigits bounds heads at 10,000 entries (80 kB); freeze picks fewer
// head digits for small tables so that a small tariff stays small.
const maxHeadDigits = 4

// prefixKey packs digits (each '0'–'9') left-aligned into 60 bits, 4 bits a
// digit stored as digit+1, so that the key also encodes the length (it
// never is 0 for one digit or more) and every key that extends a prefix
// sorts right after it: see nodeExists.
func prefixKey(key uint64, pos int, digit byte) uint64 {
	return key | uint64(digit+1)<<(4*(maxPrefixDigits-1-pos))
}

// keyMask keeps the first n digits of a packed key.
func keyMask(n int) uint64 {
	return ^uint64(0) << (4 * (maxPrefixDigits - n))
}

var pow10 = [...]int{1, 10, 100, 1000, 10000}

func newPrefixTable() *prefixTable {
	return &prefixTable{root: -1, slots: make([]prefixSlot, 8), shift: 64 - 3}
}

// insert sets the class of prefix p ("+44", "+1312", or "+" for the root).
// p must be '+' followed by at most 15 digits; it reports false otherwise.
// Inserting a prefix again replaces its class. Call freeze after the last
// insert and before any lookup.
func (t *prefixTable) insert(p string, class int16) bool {
	if len(p) == 0 || p[0] != '+' || len(p) > 1+maxPrefixDigits {
		return false
	}
	var key uint64
	for i := 1; i < len(p); i++ {
		c := p[i] - '0'
		if c > 9 {
			return false
		}
		key = prefixKey(key, i-1, c)
	}
	if key == 0 {
		t.root = class
		return true
	}
	if 2*(t.count+1) > len(t.slots) {
		t.grow()
	}
	if t.put(key, class) {
		t.count++
	}
	t.lens |= 1 << (len(p) - 1)
	return true
}

// put stores key's class; it reports whether key is new.
func (t *prefixTable) put(key uint64, class int16) bool {
	mask := uint64(len(t.slots) - 1)
	for i := slotOf(key, t.shift); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.key == key {
			s.class = class
			return false
		}
		if s.key == 0 {
			*s = prefixSlot{key: key, class: class}
			return true
		}
	}
}

func (t *prefixTable) grow() {
	old := t.slots
	t.slots = make([]prefixSlot, 2*len(old))
	t.shift--
	for _, s := range old {
		if s.key != 0 {
			t.put(s.key, s.class)
		}
	}
}

// slotOf is a multiplicative (Fibonacci) hash of key onto 64−shift bits.
func slotOf(key uint64, shift uint8) uint64 {
	return (key * 0x9e3779b97f4a7c15) >> shift
}

// filterBit picks key's bit in its head's filter from the five product
// bits just below the slot index (shift ≥ 5: at most 2^59 slots).
func filterBit(key uint64, shift uint8) uint32 {
	return 1 << ((key * 0x9e3779b97f4a7c15) >> (shift - 5) & 31)
}

// freeze builds the heads and the sorted key list from the inserted
// prefixes. It picks the head width so that heads has no more entries
// than the table has prefixes (up to 10^4).
func (t *prefixTable) freeze() {
	h := 0
	for h < maxHeadDigits && pow10[h+1] <= t.count {
		h++
	}
	t.headDigits = h
	t.buildHeads()
	t.keys = t.keys[:0]
	for _, s := range t.slots {
		if s.key != 0 {
			t.keys = append(t.keys, s.key)
		}
	}
	slices.Sort(t.keys)
}

// buildHeads fills heads from root and slots: each prefix of at most
// headDigits digits is pushed down to every head it covers, shortest
// first so that longer ones win; each longer prefix sets its length's bit
// in its head.
func (t *prefixTable) buildHeads() {
	h := t.headDigits
	t.heads = make([]prefixHead, pow10[h])
	for i := range t.heads {
		t.heads[i].class = t.root
	}
	for n := 1; n <= h; n++ {
		for _, s := range t.slots {
			if s.key == 0 || keyDigits(s.key) != n {
				continue
			}
			v := keyValue(s.key, n) * pow10[h-n]
			for i := v; i < v+pow10[h-n]; i++ {
				t.heads[i].class = s.class
			}
		}
	}
	for _, s := range t.slots {
		if n := keyDigits(s.key); n > h {
			hd := &t.heads[keyValue(s.key, h)]
			hd.longer |= 1 << n
			hd.filter |= filterBit(s.key, t.shift)
		}
	}
}

// keyDigits returns the number of digits packed in key (the last one is
// the lowest non-zero nibble).
func keyDigits(key uint64) int {
	if key == 0 {
		return 0
	}
	return maxPrefixDigits - bits.TrailingZeros64(key)/4
}

// keyValue returns the decimal value of the first n digits of key.
func keyValue(key uint64, n int) int {
	v := 0
	for i := range n {
		v = v*10 + int(key>>(4*(maxPrefixDigits-1-i))&0xf) - 1
	}
	return v
}

// lookup returns the class of the longest prefix of e164 ("+digits"), or
// -1 when none matches. It gives the answer the digit trie it replaced
// gave for any string: e164[0] is not read; the first 15 digits decide;
// a character other than a digit among the first 16 after e164[0] yields
// -1 when some prefix continues the digits before it, else the longest
// match among them (nodeExists). NormalizeDestination never makes such
// strings; they are handled only so that no input changes its answer.
func (t *prefixTable) lookup(e164 string) int16 {
	if len(e164) <= 1 {
		return t.root
	}
	s := e164[1:]
	if len(s) > maxPrefixDigits+1 {
		s = s[:maxPrefixDigits+1]
	}
	// key packs the first n ≤ 15 digits; the key of its first l digits is
	// then key & keyMask(l). bad: a non-digit follows them.
	key, n, bad := packDigits(s)
	h, head := t.headDigits, 0
	for i := 0; i < h && i < n; i++ { // independent terms, no serial chain
		head += int(s[i]-'0') * pow10[h-1-i]
	}

	best, want, filter := t.root, t.lens, ^uint32(0)
	if n >= h && t.heads != nil {
		hd := t.heads[head]
		best, want, filter = hd.class, hd.longer, hd.filter
	}
	want &= uint16(uint32(1)<<(n+1) - 2) // lengths 1..n
	mask := uint64(len(t.slots) - 1)
probe:
	for want != 0 {
		l := bits.Len16(want) - 1
		want &^= 1 << l
		k := key & keyMask(l)
		if filter&filterBit(k, t.shift) == 0 {
			continue // no prefix of this length under the head has k's bit
		}
		for i := slotOf(k, t.shift); ; i = (i + 1) & mask {
			sl := &t.slots[i]
			if sl.key == k {
				best = sl.class
				break probe
			}
			if sl.key == 0 {
				break
			}
		}
	}
	if bad && t.nodeExists(key, n) {
		return -1
	}
	return best
}

// packDigits packs the leading digits of s (at most 16 bytes) into a
// prefix key: n is how many (at most 15: a 16th digit never matters), bad
// whether a non-digit stops them. A normalized number (8–15 digits) takes
// two 8-byte loads and a few shifts instead of a loop over its digits.
func packDigits(s string) (key uint64, n int, bad bool) {
	if len(s) >= 8 {
		a, okA := digits8(load64(s))
		b, okB := digits8(load64(s[len(s)-8:]))
		if okA && okB {
			// a holds digits 0–7, b the last eight (they may overlap).
			n = len(s)
			if n > maxPrefixDigits {
				n, b = maxPrefixDigits, b>>4
			}
			rest := b & (1<<(4*(n-8)) - 1) // digits 8…n−1
			return a<<(4*(maxPrefixDigits-8)) | rest<<(4*(maxPrefixDigits-n)), n, false
		}
	}
	for ; n < len(s); n++ {
		c := s[n] - '0'
		if c > 9 {
			return key << (4 * (maxPrefixDigits - n)), n, true
		}
		if n == maxPrefixDigits {
			break
		}
		key = key<<4 | uint64(c+1)
	}
	return key << (4 * (maxPrefixDigits - n)), n, false
}

// load64 reads the first 8 bytes of s little-endian (the compiler makes
// it one load).
func load64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// digits8 packs the 8 ASCII digits in w (the first in the low byte) as 8
// prefixKey nibbles (digit+1), the first most significant; ok is false if
// any byte is not a digit.
func digits8(w uint64) (packed uint64, ok bool) {
	// A byte below '0' borrows from w−'0'…, one above '9' carries in
	// w+0x46…: either sets its top bit (the lowest bad byte has no borrow
	// or carry coming in, so it always shows).
	if ((w-0x3030303030303030)|(w+0x4646464646464646))&0x8080808080808080 != 0 {
		return 0, false
	}
	x := bits.ReverseBytes64(w - 0x2f2f2f2f2f2f2f2f) // digit+1 a byte, first on top
	x = (x | x>>4) & 0x00ff00ff00ff00ff
	x = (x | x>>8) & 0x0000ffff0000ffff
	x = (x | x>>16) & 0x00000000ffffffff
	return x, true
}

// nodeExists reports whether some prefix starts with the n digits packed
// in key (n = 0: always). The trie answered -1 when a non-digit followed
// such digits, and the longest match when it fell off the trie first.
func (t *prefixTable) nodeExists(key uint64, n int) bool {
	if n == 0 {
		return true
	}
	i, _ := slices.BinarySearch(t.keys, key)
	return i < len(t.keys) && t.keys[i]&keyMask(n) == key
}
