package callswitch

import (
	"sync"
	"time"
)

// lockout counts bad PINs per phone: PINMaxFailures within PINWindow lock
// the phone for PINLockout. A good PIN does not clear the count: every
// resident knows one good PIN, their own, and on a shared phone a reset
// between guesses would let them guess others' forever; the count ends
// only with its window.
type lockout struct {
	max      int
	window   time.Duration
	duration time.Duration

	// mu guards phones.
	mu     sync.Mutex
	phones map[string]*pinFailures
}

// gatewayLockoutFactor is how many phones' worth of PIN failures lock a
// whole trusted gateway (identity.gatewayKey): its phones are named by a
// header, so a caller who can change it would otherwise start a fresh
// count with every guess.
const gatewayLockoutFactor = 10

type pinFailures struct {
	first       time.Time // start of the current window
	count       int
	lockedUntil time.Time
}

// maxLockoutEntries bounds the table; stale entries are pruned past it.
const maxLockoutEntries = 10_000

func newLockout(max int, window, duration time.Duration) *lockout {
	return &lockout{max: max, window: window, duration: duration, phones: make(map[string]*pinFailures)}
}

// locked reports whether phone is locked out at now.
func (l *lockout) locked(phone string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.phones[phone]
	return p != nil && now.Before(p.lockedUntil)
}

// fail records a bad PIN and reports whether this failure locked the phone.
func (l *lockout) fail(phone string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.phones[phone]
	if p == nil {
		if len(l.phones) >= maxLockoutEntries {
			l.pruneLocked(now)
		}
		p = &pinFailures{}
		l.phones[phone] = p
	}
	if p.count == 0 || now.Sub(p.first) > l.window {
		p.first, p.count = now, 0
	}
	p.count++
	if p.count >= l.max {
		p.count = 0
		p.lockedUntil = now.Add(l.duration)
		return true
	}
	return false
}

func (l *lockout) pruneLocked(now time.Time) {
	for k, p := range l.phones {
		if now.Sub(p.first) > l.window && !now.Before(p.lockedUntil) {
			delete(l.phones, k)
		}
	}
}
