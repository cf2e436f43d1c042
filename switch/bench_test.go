package callswitch

import (
	"context"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user plus system CPU time so far.
func cpuTime(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCalls places and hangs up calls through the whole switch
// (digest, PIN, policy, quote, SQLite reservation, trunk leg, Meter,
// commit with CDR) over loopback UDP, four streams per core. cpu-µs/call
// is the whole process's CPU time per call: the switch, the SQLite
// ledger, and the test's phone and trunk user agents (roughly a third of
// it, by profile).
func BenchmarkCalls(b *testing.B) {
	e := newEnv(b, envOpts{trunk: TrunkConfig{RingDelay: time.Microsecond}})
	p := e.phone("phone-101", "udp")
	var failed atomic.Int64
	b.ReportAllocs()
	runtime.GC()
	cpu0 := cpuTime(b)
	start := time.Now()
	b.ResetTimer()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			pc, err := p.Call(ctx, "1001", "+13125550123")
			if err == nil {
				err = pc.Hangup(ctx)
			}
			cancel()
			if err != nil {
				failed.Add(1)
			}
		}
	})
	el := time.Since(start)
	cpu := cpuTime(b) - cpu0
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "calls/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/call")
	b.ReportMetric(float64(failed.Load()), "failed")
	b.ReportMetric(float64(runtime.NumGoroutine()), "goroutines")
}

// BenchmarkLiveCalls holds liveCalls answered calls at once and reports
// the memory they take: the growth of heap in use plus goroutine stacks,
// after a GC, divided by the number of calls. The phone and trunk user
// agents live in the same process, so the figure is an upper bound for
// the switch alone. It also counts sipgo's transactions of the calls'
// setup, which linger until their timers (Timer L, 64*T1) fire.
func BenchmarkLiveCalls(b *testing.B) {
	const liveCalls = 2000
	for range b.N {
		e := newEnv(b, envOpts{cfg: Config{MaxCalls: liveCalls + 100}, trunk: TrunkConfig{RingDelay: time.Microsecond}})
		p := e.phone("phone-101", "udp")
		g0 := runtime.NumGoroutine()
		heap0, stack0 := inUse()
		calls := make([]*PhoneCall, liveCalls)
		var failed atomic.Int64
		var wg sync.WaitGroup
		const workers = 16
		for w := range workers {
			wg.Go(func() {
				for i := w; i < liveCalls; i += workers {
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					// The privileged number is free: no hold, so one resident's
					// balance does not bound the number of calls.
					pc, err := p.Call(ctx, "1001", "+15555550199")
					cancel()
					if err != nil {
						failed.Add(1)
						continue
					}
					calls[i] = pc
				}
			})
		}
		wg.Wait()
		if f := failed.Load(); f > 0 {
			b.Fatalf("%d of %d calls failed", f, liveCalls)
		}
		e.eventually(func() bool { return e.sw.ActiveCalls() == liveCalls }, "%d live calls", liveCalls)
		heap1, stack1 := inUse()
		if path := os.Getenv("LIVECALLS_HEAPPROFILE"); path != "" {
			writeHeapProfile(b, path) // the plateau's live objects, for pprof
		}
		b.ReportMetric(float64(heap1+stack1-heap0-stack0)/1024/liveCalls, "KiB/call")
		b.ReportMetric(float64(stack1-stack0)/1024/liveCalls, "stack-KiB/call")
		b.ReportMetric(float64(runtime.NumGoroutine()-g0)/liveCalls, "goroutines/call")
		var hwg sync.WaitGroup
		for w := range workers {
			hwg.Go(func() {
				for i := w; i < liveCalls; i += workers {
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					_ = calls[i].Hangup(ctx)
					cancel()
				}
			})
		}
		hwg.Wait()
		e.eventually(func() bool { return e.sw.ActiveCalls() == 0 }, "calls to end")
	}
}

// writeHeapProfile writes the heap profile (in-use objects as of the
// last GC) to path. Run with -memprofilerate 1 for every allocation.
func writeHeapProfile(b *testing.B, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}

// inUse is heap in use and goroutine stacks, after a full GC.
func inUse() (heap, stack uint64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse, ms.StackInuse
}
