package main

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// memoryReport is the live-call memory run's JSON line.
type memoryReport struct {
	Mode       string         `json:"mode"`
	Label      string         `json:"label,omitempty"`
	Target     string         `json:"target"`
	Transport  string         `json:"transport"`
	Concurrent int            `json:"concurrent"`
	RampRate   float64        `json:"ramp_rate"`
	HoldS      float64        `json:"hold_s"`
	Answered   int            `json:"answered"`
	Failed     int            `json:"failed"`
	Failures   map[string]int `json:"failures"`
	// Live is the number of calls up at the plateau (driver's count).
	Live int `json:"live"`
	// TargetActive is ipcs_calls_active at the plateau, -1 if unknown.
	TargetActive float64 `json:"target_active"`
	// RSS before the first call, highest at the plateau, after the last.
	RSSBeforeKiB  int64   `json:"rss_before_kib"`
	RSSPlateauKiB int64   `json:"rss_plateau_kib"`
	RSSAfterKiB   int64   `json:"rss_after_kib"`
	KiBPerCall    float64 `json:"kib_per_live_call"`
	// Heap in use (from /metrics) before and at the plateau, per call.
	HeapKiBPerCall float64 `json:"heap_kib_per_live_call,omitempty"`
	// Goroutines per live call (from /metrics).
	GoroutinesPerCall float64 `json:"goroutines_per_live_call,omitempty"`
	SetupP50Ms        float64 `json:"setup_p50_ms"`
	SetupP99Ms        float64 `json:"setup_p99_ms"`
	Note              string  `json:"note,omitempty"`
}

// memory ramps to -concurrent live calls at the first rate, holds them for
// -hold while sampling the target every second, then hangs them up at the
// same rate. The memory per live call is (highest plateau RSS − RSS
// before the first call) / live calls.
func (r *runner) memory(ctx context.Context) memoryReport {
	k, rate := r.cfg.Concurrent, r.cfg.Rates[0]
	rep := memoryReport{
		Mode: "memory", Label: r.cfg.Label, Target: r.cfg.Target, Transport: r.cfg.Transport,
		Concurrent: k, RampRate: rate, HoldS: r.cfg.Hold.Seconds(), TargetActive: -1,
	}
	before, err := r.probe.read(ctx)
	if err != nil || !before.OK {
		rep.Note = fmt.Sprintf("no target reading (give -pid or -metrics): %v", err)
	}
	st := newStats(k)
	callCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	// Each held call takes one token from release to hang up; the pacer
	// below hands them out at the ramp rate so the BYEs do not arrive as
	// one burst.
	release := make(chan struct{})
	r.pace(ctx, rate, k, st, func(n uint64) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.caller.place(callCtx, n, 0, release, st)
		}()
	}, func(elapsed time.Duration) { r.report("ramp", elapsed, st) })

	// Wait (bounded) until every call is answered or has failed.
	settle := r.cfg.SetupTimeout + 2*time.Second
	deadline := r.clk.Now().Add(settle)
	for r.clk.Now().Before(deadline) && ctx.Err() == nil {
		s := st.snapshot()
		if s.Answered+s.Failed >= s.Attempted {
			break
		}
		r.sleep(ctx, 200*time.Millisecond)
	}
	// Let the target finish its per-call work (ledger writes, GC) first.
	r.sleep(ctx, time.Second)

	var peak, last usage
	plateauEnd := r.clk.Now().Add(r.cfg.Hold)
	for ctx.Err() == nil {
		if u, err := r.probe.read(ctx); err == nil && u.OK {
			if u.RSS > peak.RSS {
				peak = u
			}
			last = u
		}
		r.report("plateau", r.cfg.Hold-plateauEnd.Sub(r.clk.Now()), st)
		if !r.clk.Now().Before(plateauEnd) {
			break
		}
		r.sleep(ctx, min(time.Second, plateauEnd.Sub(r.clk.Now())))
	}
	live := st.snapshot().Inflight

	// Hang up at the ramp rate; stop handing out tokens once every call
	// has ended (some may have been ended by the peer).
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	pacer := r.clk.NewTicker(time.Duration(float64(time.Second) / rate))
	bound := r.clk.NewTimer(time.Duration(float64(k)/rate*float64(time.Second)) + r.cfg.drain())
	abort := func() {
		cancel()
		<-done
	}
hangup:
	for {
		select {
		case <-done:
			break hangup
		case <-bound.C():
			abort()
			break hangup
		case <-pacer.C():
		}
		select {
		case release <- struct{}{}:
		case <-done:
			break hangup
		case <-bound.C():
			abort()
			break hangup
		}
	}
	pacer.Stop()
	bound.Stop()
	r.sleep(ctx, time.Second)
	after, _ := r.probe.read(ctx)

	snap := st.snapshot()
	rep.Answered, rep.Failed, rep.Failures, rep.Live = snap.Answered, snap.Failed, snap.Failures, live
	rep.SetupP50Ms, rep.SetupP99Ms = ms(percentile(snap.Setup, 50)), ms(percentile(snap.Setup, 99))
	rep.RSSBeforeKiB, rep.RSSPlateauKiB, rep.RSSAfterKiB = before.RSS>>10, peak.RSS>>10, after.RSS>>10
	rep.TargetActive = last.Active
	if live > 0 && before.OK && peak.OK {
		rep.KiBPerCall = round1(float64(peak.RSS-before.RSS) / 1024 / float64(live))
		if before.HeapInuse > 0 && last.HeapInuse > 0 {
			rep.HeapKiBPerCall = round1(float64(last.HeapInuse-before.HeapInuse) / 1024 / float64(live))
		}
		if before.Goroutines > 0 && last.Goroutines > 0 {
			rep.GoroutinesPerCall = round3(float64(last.Goroutines-before.Goroutines) / float64(live))
		}
	}
	return rep
}
