package clock

import (
	"testing"
	"time"
)

func TestFakeTimersFireInOrder(t *testing.T) {
	start := time.Date(2026, 3, 8, 6, 0, 0, 0, time.UTC)
	f := NewFake(start)
	a := f.NewTimer(2 * time.Second)
	b := f.NewTimer(1 * time.Second)
	tick := f.NewTicker(time.Second)
	done := make(chan struct{})
	f.AfterFunc(3*time.Second, func() { close(done) })

	f.Advance(1500 * time.Millisecond)
	select {
	case got := <-b.C():
		if want := start.Add(time.Second); !got.Equal(want) {
			t.Fatalf("b fired at %v, want %v", got, want)
		}
	default:
		t.Fatal("b did not fire")
	}
	select {
	case <-a.C():
		t.Fatal("a fired early")
	default:
	}
	<-tick.C()
	f.Advance(2 * time.Second)
	<-a.C()
	<-done
	if got, want := f.Now(), start.Add(3500*time.Millisecond); !got.Equal(want) {
		t.Fatalf("Now = %v, want %v", got, want)
	}
	if a.Stop() {
		t.Fatal("Stop on fired timer reported active")
	}
	tick.Stop()
	if n := f.Timers(); n != 0 {
		t.Fatalf("pending timers = %d, want 0", n)
	}
}

func TestFakeReset(t *testing.T) {
	f := NewFake(time.Unix(0, 0))
	tm := f.NewTimer(time.Minute)
	if !tm.Reset(time.Second) {
		t.Fatal("Reset of a pending timer reported inactive")
	}
	f.Advance(time.Second)
	select {
	case <-tm.C():
	default:
		t.Fatal("reset timer did not fire")
	}
}
