package clock

import (
	"sort"
	"sync"
	"time"
)

// Fake is a Clock that only moves when Advance or Set is called. Timers
// and tickers fire synchronously inside Advance, in deadline order; timer
// channels have a buffer of one, as the real ones do, and a tick that finds
// the buffer full is dropped.
type Fake struct {
	// mu guards now, waiters and seq.
	mu      sync.Mutex
	now     time.Time
	waiters []*fakeTimer
	seq     uint64
}

// NewFake returns a Fake clock set to start.
func NewFake(start time.Time) *Fake { return &Fake{now: start} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// NewTimer returns a timer that fires when the fake time reaches now+d.
func (f *Fake) NewTimer(d time.Duration) Timer {
	t := &fakeTimer{clock: f, ch: make(chan time.Time, 1)}
	f.add(t, d)
	return t
}

// NewTicker returns a ticker that fires every d of fake time.
func (f *Fake) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("clock: non-positive ticker period") // mirrors time.NewTicker
	}
	t := &fakeTimer{clock: f, ch: make(chan time.Time, 1), period: d}
	f.add(t, d)
	return fakeTicker{t}
}

// AfterFunc calls fn in its own goroutine when the fake time reaches now+d.
func (f *Fake) AfterFunc(d time.Duration, fn func()) Timer {
	t := &fakeTimer{clock: f, fn: fn}
	f.add(t, d)
	return t
}

// Advance moves the fake time forward by d, firing every timer that falls
// due on the way, each at its own deadline.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	target := f.now.Add(d)
	f.mu.Unlock()
	f.Set(target)
}

// Set moves the fake time to t (never backwards), firing due timers.
func (f *Fake) Set(t time.Time) {
	for {
		f.mu.Lock()
		if len(f.waiters) == 0 || f.waiters[0].when.After(t) {
			if t.After(f.now) {
				f.now = t
			}
			f.mu.Unlock()
			return
		}
		w := f.waiters[0]
		f.waiters = f.waiters[1:]
		if w.when.After(f.now) {
			f.now = w.when
		}
		now := f.now
		if w.period > 0 {
			w.when = w.when.Add(w.period)
			f.insertLocked(w)
		} else {
			w.active = false
		}
		f.mu.Unlock()
		w.fire(now)
	}
}

// Timers returns how many timers and tickers are pending; tests use it to
// wait until a goroutine has armed its timer before advancing.
func (f *Fake) Timers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiters)
}

func (f *Fake) add(t *fakeTimer, d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t.when = f.now.Add(d)
	t.active = true
	f.insertLocked(t)
}

func (f *Fake) insertLocked(t *fakeTimer) {
	f.seq++
	t.seq = f.seq
	i := sort.Search(len(f.waiters), func(i int) bool {
		w := f.waiters[i]
		return w.when.After(t.when) || (w.when.Equal(t.when) && w.seq > t.seq)
	})
	f.waiters = append(f.waiters, nil)
	copy(f.waiters[i+1:], f.waiters[i:])
	f.waiters[i] = t
}

func (f *Fake) removeLocked(t *fakeTimer) bool {
	for i, w := range f.waiters {
		if w == t {
			f.waiters = append(f.waiters[:i], f.waiters[i+1:]...)
			return true
		}
	}
	return false
}

type fakeTimer struct {
	clock  *Fake
	ch     chan time.Time
	fn     func()
	period time.Duration
	// when, seq and active are guarded by clock.mu.
	when   time.Time
	seq    uint64
	active bool
}

func (t *fakeTimer) fire(now time.Time) {
	if t.fn != nil {
		go t.fn()
		return
	}
	select {
	case t.ch <- now:
	default:
	}
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	was := t.active
	t.active = false
	t.clock.removeLocked(t)
	return was
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	was := t.active
	t.clock.removeLocked(t)
	t.when = t.clock.now.Add(d)
	t.active = true
	t.clock.insertLocked(t)
	return was
}

type fakeTicker struct{ t *fakeTimer }

func (k fakeTicker) C() <-chan time.Time { return k.t.ch }
func (k fakeTicker) Stop()               { k.t.Stop() }
func (k fakeTicker) Reset(d time.Duration) {
	k.t.clock.mu.Lock()
	k.t.period = d
	k.t.clock.mu.Unlock()
	k.t.Reset(d)
}
