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
// through a transaction of their own.
const maxHolds = 1 << 16

// holdIndex remembers the account of each reservation this Ledger made,
// so that Commit, which names only the reservation, knows its lock order.
// A reservation it does not know (made by another node, or forgotten)
// commits in a transaction of its own (order "").
type holdIndex struct {
	// mu guards m.
	mu sync.Mutex
	m  map[string]string
}

func (h *holdIndex) add(reservation, account string) {
	h.mu.Lock()
	if h.m == nil || len(h.m) >= maxHolds {
		h.m = make(map[string]string, 1024)
	}
	h.m[reservation] = account
	h.mu.Unlock()
}

// take returns and forgets reservation's account ("" if unknown).
func (h *holdIndex) take(reservation string) string {
	h.mu.Lock()
	a, ok := h.m[reservation]
	if ok {
		delete(h.m, reservation)
	}
	h.mu.Unlock()
	return a
}

func (h *holdIndex) forget(reservation string) {
	h.mu.Lock()
	delete(h.m, reservation)
	h.mu.Unlock()
}
