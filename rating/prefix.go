package rating

// prefixTable maps E.164 prefixes to class indexes by longest-prefix
// match. It is a digit trie stored in one slice: a lookup walks at most 15
// nodes, follows int32 indexes and allocates nothing. A 50,000-prefix
// table of 4–8 digit prefixes takes a few hundred thousand nodes (~44 B
// each), built once at load and read-only afterwards, so lookups are safe
// from any number of goroutines.
type prefixTable struct {
	nodes []prefixNode
}

type prefixNode struct {
	child [10]int32 // 0: no child (node 0 is the root, never a child)
	class int16     // -1: no prefix ends here
}

func newPrefixTable() *prefixTable {
	return &prefixTable{nodes: []prefixNode{{class: -1}}}
}

// insert sets the class of prefix p ("+44", "+1312", or "+" for the root).
// p must be '+' followed by digits; it reports false otherwise.
func (t *prefixTable) insert(p string, class int16) bool {
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
			t.nodes = append(t.nodes, prefixNode{class: -1})
			next = int32(len(t.nodes) - 1)
			t.nodes[n].child[c] = next
		}
		n = next
	}
	t.nodes[n].class = class
	return true
}

// lookup returns the class of the longest prefix of e164 ("+digits"), or
// -1 when none matches.
func (t *prefixTable) lookup(e164 string) int16 {
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

// compact renumbers the nodes in breadth-first order, so that the top
// levels every lookup walks sit together in a few cache lines.
func (t *prefixTable) compact() {
	old := t.nodes
	out := make([]prefixNode, 0, len(old))
	idx := make([]int32, len(old)) // old index → new index
	out = append(out, old[0])
	queue := []int32{0}
	for len(queue) > 0 {
		o := queue[0]
		queue = queue[1:]
		for _, c := range old[o].child {
			if c != 0 {
				idx[c] = int32(len(out))
				out = append(out, old[c])
				queue = append(queue, c)
			}
		}
	}
	for i := range out {
		for d, c := range out[i].child {
			if c != 0 {
				out[i].child[d] = idx[c]
			}
		}
	}
	t.nodes = out
}
