package rating

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// trieTable is the digit trie prefixTable replaced, kept as the reference
// answer: one node per digit, a lookup walks the number until it falls off.
type trieTable struct {
	nodes []trieNode
}

type trieNode struct {
	child [10]int32 // 0: no child (node 0 is the root, never a child)
	class int16     // -1: no prefix ends here
}

func newTrieTable() *trieTable {
	return &trieTable{nodes: []trieNode{{class: -1}}}
}

func (t *trieTable) insert(p string, class int16) bool {
	if len(p) == 0 || p[0] != '+' || len(p) > 16 {
		return false
	}
	n := int32(0)
	for i := 1; i < len(p); i++ {
		c := p[i] - '0'
		if c > 9 {
			return false
		}
		next := t.nodes[n].child[c]
		if next == 0 {
			t.nodes = append(t.nodes, trieNode{class: -1})
			next = int32(len(t.nodes) - 1)
			t.nodes[n].child[c] = next
		}
		n = next
	}
	t.nodes[n].class = class
	return true
}

func (t *trieTable) lookup(e164 string) int16 {
	nodes := t.nodes
	best := nodes[0].class
	n := int32(0)
	for i := 1; i < len(e164); i++ {
		c := e164[i] - '0'
		if c > 9 {
			return -1
		}
		n = nodes[n].child[c]
		if n == 0 {
			break
		}
		if cl := nodes[n].class; cl >= 0 {
			best = cl
		}
	}
	return best
}

// randomPrefixes returns n distinct "+digits" prefixes of 1–15 digits,
// skewed like real tables: many share a few country codes.
func randomPrefixes(r *rand.Rand, n int) []string {
	roots := []string{"+1", "+44", "+91", "+7", "+353", "+1212", "+4475"}
	seen := map[string]bool{}
	var out []string
	for len(out) < n {
		var sb strings.Builder
		if r.IntN(2) == 0 {
			sb.WriteString(roots[r.IntN(len(roots))])
		} else {
			sb.WriteByte('+')
		}
		for k := r.IntN(9); k > 0 && sb.Len() < 16; k-- {
			sb.WriteByte(byte('0' + r.IntN(10)))
		}
		p := sb.String()
		if seen[p] {
			continue
		}
		seen[p] = true
		out = append(out, p)
	}
	return out
}

// randomNumber returns a lookup input: mostly a prefix extended with
// digits, sometimes garbage (no '+', a non-digit, overlong, empty).
func randomNumber(r *rand.Rand, ps []string) string {
	b := []byte(ps[r.IntN(len(ps))])
	for k := r.IntN(14); k > 0; k-- {
		b = append(b, byte('0'+r.IntN(10)))
	}
	switch r.IntN(8) {
	case 0: // a non-digit somewhere (or one past the end)
		b = append(b, 'x')
		i := r.IntN(len(b))
		b[i] = "x;/:+ \xff\x80\xba"[r.IntN(9)]
	case 1: // truncate, possibly to "" or "+"
		b = b[:r.IntN(len(b)+1)]
	case 2: // no '+': the trie never read e164[0]
		b[0] = '9'
	case 3: // overlong
		for len(b) < 20 {
			b = append(b, byte('0'+r.IntN(10)))
		}
		if r.IntN(2) == 0 {
			b[16+r.IntN(4)] = 'x'
		}
	}
	return string(b)
}

// TestPrefixTableMatchesTrie checks the hashed table against the digit
// trie on random tables of every size (so every head width), with
// re-inserted prefixes (the later class wins) and garbage numbers.
func TestPrefixTableMatchesTrie(t *testing.T) {
	for _, size := range []int{0, 1, 5, 30, 300, 3000, 30000} {
		r := rand.New(rand.NewPCG(uint64(size), 7))
		ps := randomPrefixes(r, size)
		pt, tt := newPrefixTable(), newTrieTable()
		put := func(p string, c int16) {
			if pt.insert(p, c) != tt.insert(p, c) {
				t.Fatalf("insert(%q) disagrees", p)
			}
		}
		if r.IntN(2) == 0 {
			put("+", 0)
		}
		for i, p := range ps {
			put(p, int16(i%7))
		}
		for i := 0; i < len(ps)/10; i++ { // replace some classes
			put(ps[r.IntN(len(ps))], int16(7+i%3))
		}
		for _, p := range []string{"", "1", "+x", "+1234567890123456"} { // refused by both
			put(p, 1)
		}
		pt.freeze()
		ps = append(ps, "+", "+0", "+9")
		for range 20000 + 10*size {
			n := randomNumber(r, ps)
			if got, want := pt.lookup(n), tt.lookup(n); got != want {
				t.Fatalf("size %d: lookup(%q) = %d, trie says %d", size, n, got, want)
			}
		}
		// Every prefix, exactly.
		for _, p := range ps {
			if got, want := pt.lookup(p), tt.lookup(p); got != want {
				t.Fatalf("size %d: lookup(%q) = %d, trie says %d", size, p, got, want)
			}
		}
	}
}

// TestPrefixTableLinearScan checks lookups against the definition: the
// longest prefix of the number, by a scan over all prefixes.
func TestPrefixTableLinearScan(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	ps := randomPrefixes(r, 2000)
	pt := newPrefixTable()
	for i, p := range ps {
		pt.insert(p, int16(i))
	}
	pt.freeze()
	for range 5000 {
		n := randomNumber(r, ps)
		if strings.Trim(n[min(1, len(n)):], "0123456789") != "" || !strings.HasPrefix(n, "+") {
			continue // well-formed numbers only: the definition says nothing else
		}
		want, wantLen := int16(-1), -1
		for i, p := range ps {
			if len(p) <= 16 && strings.HasPrefix(n[:min(len(n), 16)], p) && len(p) > wantLen {
				want, wantLen = int16(i), len(p)
			}
		}
		if got := pt.lookup(n); got != want {
			t.Fatalf("lookup(%q) = %d, want %d (%q)", n, got, want, ps[max(want, 0)])
		}
	}
}

// BenchmarkPrefixLookup compares the hashed table with the digit trie on
// the 50,000-prefix benchmark table, random destinations.
func BenchmarkPrefixLookup(b *testing.B) {
	book, dests := bigBook(b)
	tr, err := book.TariffAt("big", Audio, time.Date(2026, 3, 8, 23, 30, 0, 0, time.UTC))
	if err != nil {
		b.Fatal(err)
	}
	trie := newTrieTable()
	for k := range tr.prefix.slots { // the same prefixes, rebuilt as a trie
		if s := tr.prefix.slots[k]; s.key != 0 {
			trie.insert(keyString(s.key), s.class)
		}
	}
	trie.insert("+", tr.prefix.root)
	b.Run("table", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if tr.prefix.lookup(dests[i%len(dests)]) < 0 {
				b.Fatal("no class")
			}
		}
	})
	b.Run("trie", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if trie.lookup(dests[i%len(dests)]) < 0 {
				b.Fatal("no class")
			}
		}
	})
}

// keyString unpacks a prefix key to "+digits".
func keyString(key uint64) string {
	b := []byte{'+'}
	for i := range keyDigits(key) {
		b = append(b, byte('0'+key>>(4*(maxPrefixDigits-1-i))&0xf-1))
	}
	return string(b)
}
