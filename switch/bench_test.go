package callswitch

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkCalls places and hangs up calls through the whole switch
// (digest, PIN, policy, quote, SQLite reservation, trunk leg, Meter,
// commit with CDR) over loopback UDP, eight at a time.
func BenchmarkCalls(b *testing.B) {
	e := newEnv(b, envOpts{trunk: TrunkConfig{RingDelay: time.Microsecond}})
	p := e.phone("phone-101", "udp")
	var failed atomic.Int64
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
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "calls/s")
	b.ReportMetric(float64(failed.Load()), "failed")
	b.ReportMetric(float64(runtime.NumGoroutine()), "goroutines")
}
