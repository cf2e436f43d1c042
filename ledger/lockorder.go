package ledger

import "sync"

// Lock order of the single-statement fast paths (OneShot). A store that
// groups several statements into one transaction runs them sorted by
// these keys, so every shared transaction takes its row locks in the
// same order — account by account, and within an account each
// reservation (a commit locks it, then its account) before the account
// alone (a reserve) — and two of them cannot deadlock. The Update path
// locks at most one account per transaction (a reservation first), so
// it fits the same order.

// reserveOrder is the lock order of a reserve on account.
func reserveOrder(account string) string { return account + "\x00\x02" }

// commitOrder is the lock order of a commit of reservation on account.
func commitOrder(account, reservation string) string {
	return account + "\x00\x01" + reservation
}

// maxHolds bounds the reservation → account map; when it is full it is
// emptied, which only sends later commits of the forgotten reservations
// through a transaction of their own (and, on the Update path, through
// the claim that reads the reservation back; hint.go).
const maxHolds = 1 << 16

// holdIndex remembers the account and the hold of each reservation this
// Ledger made. Commit, which names only the reservation, takes its lock
// order from it (OneShot); the Update path uses it as a hint (hint.go).
// A reservation it does not know (made by another node, or forgotten)
// commits in a transaction of its own (order "").
type holdIndex struct {
	// mu guards m.
	mu sync.Mutex
	m  map[string]holdHint
}

// holdHint is what a Ledger last knew of one of its reservations.
type holdHint struct {
	account string
	held    int64
}

func (h *holdIndex) add(reservation, account string, held int64) {
	h.mu.Lock()
	if h.m == nil || len(h.m) >= maxHolds {
		h.m = make(map[string]holdHint, 1024)
	}
	h.m[reservation] = holdHint{account: account, held: held}
	h.mu.Unlock()
}

// grow adds an extension's grant to a known reservation's hold.
func (h *holdIndex) grow(reservation string, g int64) {
	h.mu.Lock()
	if v, ok := h.m[reservation]; ok {
		v.held += g
		h.m[reservation] = v
	}
	h.mu.Unlock()
}

// peek returns what is known of reservation.
func (h *holdIndex) peek(reservation string) (holdHint, bool) {
	h.mu.Lock()
	v, ok := h.m[reservation]
	h.mu.Unlock()
	return v, ok
}

// take returns and forgets reservation's account ("" if unknown).
func (h *holdIndex) take(reservation string) string {
	h.mu.Lock()
	v, ok := h.m[reservation]
	if ok {
		delete(h.m, reservation)
	}
	h.mu.Unlock()
	return v.account
}

func (h *holdIndex) forget(reservation string) {
	h.mu.Lock()
	delete(h.m, reservation)
	h.mu.Unlock()
}
