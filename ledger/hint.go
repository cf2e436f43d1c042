package ledger

import "sync"

// Hints: what a Ledger last saw of the rows Reserve and Commit change —
// an account's available balance (availHints) and a reservation's
// account and hold (holdIndex, lockorder.go) — so that on the Update
// path (every SQLite reserve and commit) their conditional UPDATEs run
// without RETURNING, which costs SQLite an ephemeral table per statement
// (about half of the statement; docs/PERFORMANCE.md, "Ledger").
//
// A hint never decides an outcome: it only becomes one more condition of
// the UPDATE (… AND available = hint, … AND held = hint), so a stale or
// wrong hint makes the statement match nothing, and the operation then
// runs the statement that reads the row back (qHoldNew, qClaimCommit),
// exactly as without hints. Hints are therefore safe across nodes,
// re-runs and rolled-back batches, and may be updated by arithmetic
// without knowing whether they were right.

// maxAvailHints bounds availHints; when full it is emptied.
const maxAvailHints = 1 << 16

// availHints maps account → last known available balance.
type availHints struct {
	// mu guards m.
	mu sync.Mutex
	m  map[string]int64
}

func (h *availHints) get(account string) (int64, bool) {
	h.mu.Lock()
	v, ok := h.m[account]
	h.mu.Unlock()
	return v, ok
}

func (h *availHints) set(account string, avail int64) {
	h.mu.Lock()
	if h.m == nil || len(h.m) >= maxAvailHints {
		h.m = make(map[string]int64, 1024)
	}
	h.m[account] = avail
	h.mu.Unlock()
}

// add moves a known hint by delta (a commit's or release's return).
func (h *availHints) add(account string, delta int64) {
	h.mu.Lock()
	if v, ok := h.m[account]; ok {
		h.m[account] = v + delta
	}
	h.mu.Unlock()
}

func (h *availHints) forget(account string) {
	h.mu.Lock()
	delete(h.m, account)
	h.mu.Unlock()
}
