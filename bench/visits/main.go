// Command visits is the load benchmark of video visits: N concurrent 1:1
// visits, each with a visitor and a resident publishing synthetic VP8 and
// Opus (about 400 packets/s each way) and a silent officer monitor, all
// relayed by one in-process signaling.Hub over loopback.
//
// The clients run in a child process (this binary with -child), so the
// parent's CPU time (getrusage RUSAGE_SELF) is the relay's alone. It
// reports CPU per visit, monitored visits per core, relayed packets per
// second per core and join latency (socket open to first media) p50/p95.
//
//	go run ./bench/visits -visits 20 -duration 10s
//
// Bounded: at most 200 visits and 60 s of measurement; loopback only.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	dto "github.com/prometheus/client_model/go"

	"ipcs/internal/clock"
	"ipcs/internal/token"
	"ipcs/metrics"
	"ipcs/signaling"
	"ipcs/signaling/signalingtest"
)

type spec struct {
	URL      string     `json:"url"`
	Visits   [][]string `json:"visits"` // visitor, resident, officer tokens
	VideoPPS int        `json:"vpps"`
	AudioPPS int        `json:"apps"`
	Pad      int        `json:"pad"`
	Parallel int        `json:"parallel"`
}

type ready struct {
	JoinMillis []float64 `json:"join_ms"`
	Failed     int       `json:"failed"`
	Err        string    `json:"err,omitempty"`
}

type final struct {
	RxPackets int64 `json:"rx_packets"`
}

func main() {
	child := flag.Bool("child", false, "run the clients (internal)")
	n := flag.Int("visits", 20, "concurrent monitored visits (≤ 200)")
	dur := flag.Duration("duration", 10*time.Second, "steady-state measurement (≤ 60s)")
	vpps := flag.Int("vpps", 350, "video packets/s per publisher")
	apps := flag.Int("apps", 50, "audio packets/s per publisher")
	pad := flag.Int("pad", 1000, "video payload padding bytes (realistic packet size)")
	par := flag.Int("parallel", 10, "visits joining at once")
	prof := flag.String("cpuprofile", "", "write the relay's CPU profile of the measurement here")
	flag.Parse()
	var err error
	if *child {
		err = runChild()
	} else {
		err = runParent(*n, *dur, *vpps, *apps, *pad, *par, *prof)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "visits:", err)
		os.Exit(1)
	}
}

func runParent(n int, dur time.Duration, vpps, apps, pad, par int, prof string) error {
	if n < 1 || n > 200 || dur <= 0 || dur > time.Minute {
		return errors.New("need 1 ≤ -visits ≤ 200 and 0 < -duration ≤ 60s")
	}
	clk := clock.Real{}
	ctx, cancel := context.WithTimeout(context.Background(), dur+3*time.Minute)
	defer cancel()
	signer, err := token.NewSigner([]byte(strings.Repeat("b", 32)))
	if err != nil {
		return err
	}
	now := clk.Now()
	visits := map[string]signaling.Visit{}
	sp := spec{VideoPPS: vpps, AudioPPS: apps, Pad: pad, Parallel: par}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("bench-%03d", i)
		visits[id] = signaling.Visit{ID: id, Facility: "f", ResidentID: "r" + id, Kind: signaling.KindRemote,
			Start: now.Add(-time.Minute), End: now.Add(time.Hour)}
		var toks []string
		for _, role := range []string{"visitor", "resident", "officer"} {
			tok, err := signer.Sign(token.Claims{Purpose: "join", Role: role, Subject: role + id, Resource: id,
				NotBefore: now.Add(-time.Hour).Unix(), Expires: now.Add(time.Hour).Unix()})
			if err != nil {
				return err
			}
			toks = append(toks, tok)
		}
		sp.Visits = append(sp.Visits, toks)
	}
	m := metrics.New()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	hub, err := signaling.New(signaling.Config{MaxSockets: 4 * n, IncludeLoopback: true},
		signer, signaling.VisitsFunc(func(_ context.Context, id string) (signaling.Visit, error) {
			v, ok := visits[id]
			if !ok {
				return v, signaling.ErrUnknownVisit
			}
			return v, nil
		}), signaling.FreeBiller{}, m.Visits, signaling.WithLogger(log), signaling.WithSettingEngine(signaling.LoopbackOnly))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: hub, ReadHeaderTimeout: 5 * time.Second}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = srv.Serve(ln) }()
	defer func() {
		_ = srv.Shutdown(context.Background())
		_ = hub.Close()
		wg.Wait()
	}()
	sp.URL = "ws://" + ln.Addr().String() + "/ws"

	cmd := exec.CommandContext(ctx, os.Args[0], "-child")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	if err := json.NewEncoder(stdin).Encode(sp); err != nil {
		return err
	}
	out := bufio.NewReader(stdout)
	var rd ready
	line, err := out.ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &rd)
	}
	if err != nil || rd.Err != "" {
		return fmt.Errorf("clients: %v %s", err, rd.Err)
	}

	if prof != "" {
		f, err := os.Create(prof)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	cpu0, t0, pk0 := cpuSelf(), clk.Now(), forwarded(m)
	timer := clk.NewTimer(dur)
	<-timer.C()
	cpu1, t1, pk1 := cpuSelf(), clk.Now(), forwarded(m)
	if prof != "" {
		pprof.StopCPUProfile()
	}
	_ = stdin.Close() // the child stops
	var fin final
	if line, err := out.ReadBytes('\n'); err == nil {
		_ = json.Unmarshal(line, &fin)
	}
	_ = cmd.Wait()

	wall := t1.Sub(t0).Seconds()
	cores := (cpu1 - cpu0).Seconds() / wall
	in := float64(pk1-pk0) / wall
	outPPS := 2 * in // each packet goes to the other side and to the monitor
	sort.Float64s(rd.JoinMillis)
	fmt.Printf("visits: %d monitored 1:1 visits (3 peers each), %d+%d pps per publisher, %.1f s measured\n", n, vpps, apps, wall)
	fmt.Printf("joins: %d ok, %d failed; join latency p50 %.0f ms, p95 %.0f ms, max %.0f ms\n",
		len(rd.JoinMillis), rd.Failed, pct(rd.JoinMillis, 50), pct(rd.JoinMillis, 95), pct(rd.JoinMillis, 100))
	fmt.Printf("relay CPU: %.3f cores total, %.2f ms CPU per visit-second (%.4f cores per visit)\n", cores, 1000*cores/float64(n), cores/float64(n))
	fmt.Printf("capacity: %.0f monitored visits per core\n", float64(n)/cores)
	fmt.Printf("packets: %.0f/s received from publishers, %.0f/s sent to subscribers; %.0f sent packets/s per core\n", in, outPPS, outPPS/cores)
	fmt.Printf("clients received %d packets in total\n", fin.RxPackets)
	return nil
}

// forwarded sums metrics Packets{kind}.
func forwarded(m *metrics.Metrics) int64 {
	var sum float64
	for _, k := range []string{"audio", "video"} {
		var d dto.Metric
		_ = m.Visits.Packets.WithLabelValues(k).Write(&d)
		sum += d.GetCounter().GetValue()
	}
	return int64(sum)
}

func cpuSelf() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func pct(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p / 100)
	return sorted[i]
}

// runChild joins every visit, reports join latencies once media flows
// everywhere, and closes everything when stdin closes.
func runChild() error {
	var sp spec
	if err := json.NewDecoder(os.Stdin).Decode(&sp); err != nil {
		return err
	}
	api, err := signalingtest.NewAPI()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var (
		mu    sync.Mutex
		peers []*signalingtest.Peer
		rd    ready
		wg    sync.WaitGroup
	)
	sem := make(chan struct{}, sp.Parallel)
	for _, toks := range sp.Visits {
		wg.Add(1)
		sem <- struct{}{}
		go func(toks []string) {
			defer wg.Done()
			defer func() { <-sem }()
			var vw sync.WaitGroup
			for i, tok := range toks {
				vw.Add(1)
				go func(i int, tok string) {
					defer vw.Done()
					p, err := signalingtest.Dial(ctx, api, signalingtest.Options{URL: sp.URL, Token: tok, Publish: i < 2,
						VideoPPS: sp.VideoPPS, AudioPPS: sp.AudioPPS, VideoPad: sp.Pad})
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						rd.Failed++
						return
					}
					peers = append(peers, p)
				}(i, tok)
			}
			vw.Wait()
		}(toks)
	}
	wg.Wait()
	// Wait for media at every peer (bounded by ctx).
	tick := clock.Real{}.NewTicker(20 * time.Millisecond)
	for {
		all := true
		for _, p := range peers {
			if p.JoinLatency() == 0 {
				all = false
				break
			}
		}
		if all {
			break
		}
		select {
		case <-ctx.Done():
			rd.Err = "media did not reach every peer"
		case <-tick.C():
			continue
		}
		break
	}
	tick.Stop()
	for _, p := range peers {
		if d := p.JoinLatency(); d > 0 {
			rd.JoinMillis = append(rd.JoinMillis, float64(d)/float64(time.Millisecond))
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(rd); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, os.Stdin) // until the parent closes it
	var fin final
	for _, p := range peers {
		fin.RxPackets += p.Received("audio").Packets + p.Received("video").Packets
		p.Close()
	}
	return json.NewEncoder(os.Stdout).Encode(fin)
}
