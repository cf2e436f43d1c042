package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"time"

	"ipcs/bench/internal/procnet"
	"ipcs/internal/clock"
)

// runner owns the caller, the probe and every call goroutine of a run.
type runner struct {
	cfg    Config
	clk    clock.Clock
	log    *slog.Logger
	caller *caller
	probe  *probe
	// progress receives one line a second while a step runs (stderr).
	progress io.Writer
	// seq numbers calls across steps, so identities keep rotating.
	seq uint64
}

// stepReport is one rate step's JSON line.
type stepReport struct {
	Mode          string         `json:"mode"`
	Label         string         `json:"label,omitempty"`
	Target        string         `json:"target"`
	Transport     string         `json:"transport"`
	Rate          float64        `json:"rate"`
	DurationS     float64        `json:"duration_s"`
	HoldS         float64        `json:"hold_s"`
	WindowS       float64        `json:"window_s"`
	Attempted     int            `json:"attempted"`
	Answered      int            `json:"answered"`
	Completed     int            `json:"completed"`
	PeerByes      int            `json:"peer_byes"`
	Failed        int            `json:"failed"`
	Failures      map[string]int `json:"failures"`
	FailPct       float64        `json:"fail_pct"`
	CPS           float64        `json:"cps"`
	AttemptCPS    float64        `json:"attempt_cps"`
	SetupP50Ms    float64        `json:"setup_p50_ms"`
	SetupP99Ms    float64        `json:"setup_p99_ms"`
	SetupMaxMs    float64        `json:"setup_max_ms"`
	DriverCPUPct  float64        `json:"driver_cpu_pct"`
	TargetCPUPct  *float64       `json:"target_cpu_pct,omitempty"`
	TargetRSSKiB  int64          `json:"target_rss_kib,omitempty"`
	TargetMaxLive float64        `json:"target_max_active,omitempty"`
	// UDPDrops is the machine's UDP receive-buffer drops during the step.
	UDPDrops int64 `json:"udp_rcvbuf_drops"`
	// TargetDrops are the drops of the target's own UDP socket (-1 when
	// it is not a UDP socket on this machine).
	TargetDrops int64 `json:"target_socket_drops"`
}

// sweep runs every rate in turn and reports each step as it ends.
func (r *runner) sweep(ctx context.Context, emit func(any)) []stepReport {
	var out []stepReport
	for i, rate := range r.cfg.Rates {
		if ctx.Err() != nil {
			break
		}
		if i > 0 && r.cfg.Pause > 0 {
			r.sleep(ctx, r.cfg.Pause)
		}
		rep := r.step(ctx, rate)
		emit(rep)
		out = append(out, rep)
	}
	return out
}

func (r *runner) sleep(ctx context.Context, d time.Duration) {
	t := r.clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
	case <-ctx.Done():
	}
}

// step offers rate calls/s for -duration, then waits (bounded) for the
// last calls to end.
func (r *runner) step(ctx context.Context, rate float64) stepReport {
	total := int(math.Round(rate * r.cfg.Duration.Seconds()))
	st := newStats(total)
	stepCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup

	cpu0, _ := selfUsage()
	tu0, _ := r.probe.read(ctx)
	drops0, _ := procnet.UDPRcvbufErrors()
	sock0, sockOK := udpSocketDrops(r.caller.port)
	var maxActive float64
	start := r.clk.Now()
	window := r.pace(ctx, rate, total, st, func(n uint64) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.caller.place(stepCtx, n, r.cfg.Hold, nil, st)
		}()
	}, func(elapsed time.Duration) {
		if u, err := r.probe.read(ctx); err == nil {
			maxActive = max(maxActive, u.Active)
		}
		r.report(fmt.Sprintf("rate %g", rate), elapsed, st)
	})

	// Drain: the last calls still hold and hang up; past the bound they
	// are aborted (BYE sent, counted "aborted").
	r.wait(ctx, &wg, r.cfg.drain(), cancel)
	wall := r.clk.Now().Sub(start)
	cpu1, _ := selfUsage()
	tu1, terr := r.probe.read(ctx)
	drops1, _ := procnet.UDPRcvbufErrors()
	sock1, sockOK1 := udpSocketDrops(r.caller.port)

	snap := st.snapshot()
	rep := stepReport{
		Mode: "rate", Label: r.cfg.Label, Target: r.cfg.Target, Transport: r.cfg.Transport,
		Rate: rate, DurationS: r.cfg.Duration.Seconds(), HoldS: r.cfg.Hold.Seconds(), WindowS: window.Seconds(),
		Attempted: snap.Attempted, Answered: snap.Answered, Completed: snap.Completed,
		PeerByes: snap.PeerByes, Failed: snap.Failed, Failures: snap.Failures,
		SetupP50Ms:   ms(percentile(snap.Setup, 50)),
		SetupP99Ms:   ms(percentile(snap.Setup, 99)),
		SetupMaxMs:   ms(percentile(snap.Setup, 100)),
		DriverCPUPct: round1(cpuPct(cpu1-cpu0, wall)),
		UDPDrops:     drops1 - drops0,
		TargetDrops:  -1,
	}
	if sockOK && sockOK1 && r.cfg.Transport == "udp" {
		rep.TargetDrops = sock1 - sock0
	}
	if snap.Attempted > 0 {
		rep.FailPct = round3(100 * float64(snap.Failed) / float64(snap.Attempted))
	}
	if window > 0 {
		rep.CPS = round1(float64(snap.Completed) / window.Seconds())
		rep.AttemptCPS = round1(float64(snap.Attempted) / window.Seconds())
	}
	if r.probe.enabled() && terr == nil && tu0.OK && tu1.OK {
		pct := round1(cpuPct(tu1.CPU-tu0.CPU, wall))
		rep.TargetCPUPct = &pct
		rep.TargetRSSKiB = tu1.RSS >> 10
		rep.TargetMaxLive = maxActive
	}
	return rep
}

// pace starts total calls at rate calls/s from now, calling launch for
// each call it may place (st.start admits it under -max-inflight), and
// tick about once a second. It returns the send window.
func (r *runner) pace(ctx context.Context, rate float64, total int, st *stats, launch func(n uint64), tick func(time.Duration)) time.Duration {
	start := r.clk.Now()
	// A 1 ms ticker paces to within a few calls at 20,000 calls/s.
	t := r.clk.NewTicker(time.Millisecond)
	defer t.Stop()
	second := r.clk.NewTicker(time.Second)
	defer second.Stop()
	started := 0
	for started < total {
		select {
		case <-ctx.Done():
			return r.clk.Now().Sub(start)
		case <-second.C():
			if !r.cfg.Quiet {
				tick(r.clk.Now().Sub(start))
			}
			continue
		case <-t.C():
		}
		due := min(total, int(rate*r.clk.Now().Sub(start).Seconds())+1)
		for ; started < due; started++ {
			if !st.start(r.cfg.MaxInflight) {
				continue
			}
			n := r.seq
			r.seq++
			launch(n)
		}
	}
	return r.clk.Now().Sub(start)
}

// wait waits for wg; past bound, or when ctx ends, it calls abort and
// waits for the calls to wind down (sipgo's own timers bound that).
func (r *runner) wait(ctx context.Context, wg *sync.WaitGroup, bound time.Duration, abort func()) {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	t := r.clk.NewTimer(bound)
	defer t.Stop()
	select {
	case <-done:
		return
	case <-t.C():
		r.log.Warn("calls still running after the drain bound; aborting them", "bound", bound)
	case <-ctx.Done():
	}
	abort()
	<-done
}

func (r *runner) report(what string, elapsed time.Duration, st *stats) {
	if r.cfg.Quiet {
		return
	}
	s := st.snapshot()
	fmt.Fprintf(r.progress, "sipload: %s t=%.0fs attempted=%d answered=%d completed=%d failed=%d inflight=%d\n",
		what, elapsed.Seconds(), s.Attempted, s.Answered, s.Completed, s.Failed, s.Inflight)
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }
func round3(f float64) float64 { return math.Round(f*1000) / 1000 }
