// Command visits is the load benchmark of video visits: N concurrent 1:1
// visits, each with a visitor and a resident publishing synthetic VP8 and
// Opus (about 400 packets/s each way) and a silent officer monitor, all
// relayed by one in-process signaling.Hub over loopback.
//
// The clients run in a child process (this binary with -child), so the
// parent's CPU time (getrusage RUSAGE_SELF) is the relay's alone. Over the
// measurement window it also samples the child's CPU, the packets the
// clients published and received, and the whole machine's busy time
// (/proc/stat), so a starved client (fewer packets offered than nominal,
// or fewer received than the relay sent) or a machine busy with other work
// is flagged in the output rather than silently lowering the figures.
//
// It reports the relay's CPU per visit and per packet, monitored visits
// per core (as measured, and normalized to the nominal packet rate),
// packets sent to subscribers per relay core, and join latency (socket
// open to first media at the client) p50/p95.
//
//	go run ./bench/visits -visits 20 -duration 10s
//
// It also prints the relay's CPU split into user and kernel time and its
// heap allocations per packet; -cpuprofile and -memprofile write profiles
// of the measurement, -relayprocs sets the relay's GOMAXPROCS alone.
// -sendcost measures instead the floor under all of it: the CPU one
// loopback sendto of a video packet costs on this machine, at the packet
// rate of -visits.
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
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	dto "github.com/prometheus/client_model/go"

	"ipcs/bench/internal/procnet"
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

// sample is the child's counters at one instant of the measurement.
type sample struct {
	Sent     int64 `json:"sent"`     // RTP packets published by all peers
	Received int64 `json:"received"` // RTP packets received by all peers
	CPU      int64 `json:"cpu_ns"`   // the child's CPU time (user + system)
}

func main() {
	child := flag.Bool("child", false, "run the clients (internal)")
	sink := flag.Int("sink", 0, "open this many loopback UDP sockets and read them until stdin closes (internal, for -sendcost)")
	sendCost := flag.Bool("sendcost", false, "instead of visits: measure the CPU one sendto of a 1,100-byte datagram over loopback costs this process, at the packet rate of -visits")
	n := flag.Int("visits", 20, "concurrent monitored visits (≤ 200)")
	dur := flag.Duration("duration", 10*time.Second, "steady-state measurement (≤ 60s)")
	vpps := flag.Int("vpps", 350, "video packets/s per publisher")
	apps := flag.Int("apps", 50, "audio packets/s per publisher")
	pad := flag.Int("pad", 1000, "video payload padding bytes (realistic packet size)")
	par := flag.Int("parallel", 10, "visits joining at once")
	prof := flag.String("cpuprofile", "", "write the relay's CPU profile of the measurement here")
	memprof := flag.String("memprofile", "", "write the relay's allocation profiles at the start (FILE.base) and the end (FILE) of the measurement; compare with pprof -diff_base")
	mux := flag.Bool("udpmux", false, "share one UDP port (Config.UDPPort, the ICE UDP mux) among all relay peers")
	procs := flag.Int("relayprocs", 0, "GOMAXPROCS of the relay (parent) process only; 0: the default (all CPUs)")
	flag.Parse()
	if !*child && *memprof != "" {
		runtime.MemProfileRate = 64 // sample nearly every allocation (costs CPU: not for timing runs)
	}
	if !*child && *procs > 0 {
		runtime.GOMAXPROCS(*procs)
	}
	var err error
	switch {
	case *sink > 0:
		err = runSink(*sink)
	case *sendCost:
		err = runSendCost(*n, *dur, *vpps, *apps)
	case *child:
		err = runChild()
	default:
		err = runParent(*n, *dur, *vpps, *apps, *pad, *par, *prof, *memprof, *mux)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "visits:", err)
		os.Exit(1)
	}
}

func runParent(n int, dur time.Duration, vpps, apps, pad, par int, prof, memprof string, mux bool) error {
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
	cfg := signaling.Config{MaxSockets: 4 * n, IncludeLoopback: true}
	if mux {
		if cfg.UDPPort, err = freeUDPPort(); err != nil {
			return err
		}
	}
	hub, err := signaling.New(cfg,
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

	cmd, stdin, stdout, err := startChild(ctx, "-child")
	if err != nil {
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

	mark := func() (sample, error) {
		var sm sample
		if _, err := io.WriteString(stdin, "mark\n"); err != nil {
			return sm, err
		}
		line, err := out.ReadBytes('\n')
		if err == nil {
			err = json.Unmarshal(line, &sm)
		}
		return sm, err
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
	c0, err := mark()
	if err != nil {
		return fmt.Errorf("clients: %w", err)
	}
	var ms0, ms1 runtime.MemStats
	if memprof != "" {
		if err := writeAllocs(memprof + ".base"); err != nil {
			return err
		}
	}
	runtime.ReadMemStats(&ms0)
	sys0 := cpuSys()
	cpu0, t0, pk0, busy0, drop0 := cpuSelf(), clk.Now(), forwarded(m), machineBusy(), udpRcvbufErrors()
	timer := clk.NewTimer(dur)
	<-timer.C()
	cpu1, t1, pk1, busy1, drop1 := cpuSelf(), clk.Now(), forwarded(m), machineBusy(), udpRcvbufErrors()
	sys1 := cpuSys()
	runtime.ReadMemStats(&ms1)
	if memprof != "" {
		if err := writeAllocs(memprof); err != nil {
			return err
		}
	}
	c1, err := mark()
	if prof != "" {
		pprof.StopCPUProfile()
	}
	_ = stdin.Close() // the child stops
	_ = cmd.Wait()
	if err != nil {
		return fmt.Errorf("clients: %w", err)
	}

	r := result{
		n: n, nominalIn: float64(2 * n * (vpps + apps)), wall: t1.Sub(t0).Seconds(),
		relayCPU: (cpu1 - cpu0).Seconds(), relaySys: (sys1 - sys0).Seconds(), clientCPU: time.Duration(c1.CPU - c0.CPU).Seconds(),
		machineCPU: (busy1 - busy0).Seconds(), ncpu: runtime.NumCPU(),
		in: float64(pk1 - pk0), sent: float64(c1.Sent - c0.Sent), received: float64(c1.Received - c0.Received),
		drops: drop1 - drop0, mallocs: float64(ms1.Mallocs - ms0.Mallocs), gcs: ms1.NumGC - ms0.NumGC,
		procs: runtime.GOMAXPROCS(0),
	}
	sort.Float64s(rd.JoinMillis)
	fmt.Printf("visits: %d monitored 1:1 visits (3 peers each), %d+%d pps per publisher, %.1f s measured, udpmux %v\n", n, vpps, apps, r.wall, mux)
	fmt.Printf("joins: %d ok, %d failed; join latency p50 %.0f ms, p95 %.0f ms, max %.0f ms\n",
		len(rd.JoinMillis), rd.Failed, pct(rd.JoinMillis, 50), pct(rd.JoinMillis, 95), pct(rd.JoinMillis, 100))
	r.print(os.Stdout)
	return nil
}

// result is one measurement window; counts are totals over wall seconds.
type result struct {
	n                              int
	nominalIn                      float64 // packets/s the publishers should offer
	wall                           float64
	relayCPU, clientCPU            float64 // CPU seconds
	relaySys                       float64 // the relay's CPU seconds in the kernel (part of relayCPU)
	machineCPU                     float64 // busy CPU seconds of the whole machine
	ncpu                           int
	in, sent, received             float64 // relay received; clients published; clients received
	drops                          int64   // UDP datagrams the kernel dropped for a full receive buffer (machine-wide)
	mallocs                        float64 // heap allocations in the relay process
	gcs                            uint32  // garbage collections in the relay process
	procs                          int     // the relay's GOMAXPROCS
	starvedOffer, starvedReceivers bool
}

// subscribers is how many peers receive each published packet: the other
// side and the monitor.
const subscribers = 2

func (r *result) print(w io.Writer) {
	inPS, sentPS := r.in/r.wall, r.sent/r.wall
	outPS := subscribers * inPS
	rxPS := r.received / r.wall
	cores := r.relayCPU / r.wall
	usPerIn := 1e6 * r.relayCPU / r.in
	normCores := usPerIn * r.nominalIn / 1e6 / float64(r.n) // relay cores per visit at the nominal rate
	r.starvedOffer = sentPS < 0.97*r.nominalIn
	r.starvedReceivers = rxPS < 0.97*outPS
	fmt.Fprintf(w, "offered: clients published %.0f packets/s of %.0f nominal (%.1f%%); relay received %.0f/s (%.1f%% of published)\n",
		sentPS, r.nominalIn, 100*sentPS/r.nominalIn, inPS, 100*inPS/sentPS)
	fmt.Fprintf(w, "delivered: relay sent %.0f packets/s to subscribers; clients received %.0f/s (%.1f%%)\n", outPS, rxPS, 100*rxPS/outPS)
	fmt.Fprintf(w, "relay CPU: %.3f cores, %.2f ms CPU per visit-second (%.4f cores per visit); %.1f µs per received packet, %.1f µs per sent packet\n",
		cores, 1000*cores/float64(r.n), cores/float64(r.n), usPerIn, usPerIn/subscribers)
	fmt.Fprintf(w, "relay CPU split: %.1f µs user + %.1f µs kernel per received packet (the kernel part is mostly sendto: loopback delivery to the client)\n",
		1e6*(r.relayCPU-r.relaySys)/r.in, 1e6*r.relaySys/r.in)
	fmt.Fprintf(w, "capacity: %.1f monitored visits per core as measured; %.1f at the nominal %.0f packets/s per visit (%.4f cores per visit)\n",
		float64(r.n)/cores, 1/normCores, r.nominalIn/float64(r.n), normCores)
	fmt.Fprintf(w, "forwarding: %.0f sent packets/s per relay core = %.2f × LiveKit's 56,000\n", outPS/cores, outPS/cores/56000)
	fmt.Fprintf(w, "relay runtime: GOMAXPROCS %d; %.2f heap allocations per received packet; %d GCs\n", r.procs, r.mallocs/r.in, r.gcs)
	other := r.machineCPU - r.relayCPU - r.clientCPU
	fmt.Fprintf(w, "machine: %.2f of %d cores busy: relay %.2f, clients %.2f, other processes %.2f; %d UDP datagrams dropped on full receive buffers (all processes)\n",
		r.machineCPU/r.wall, r.ncpu, cores, r.clientCPU/r.wall, max(other, 0)/r.wall, r.drops)
	switch {
	case r.starvedOffer || r.starvedReceivers:
		fmt.Fprintf(w, "WARNING: clients starved (offered %.1f%% of nominal, received %.1f%% of sent): the per-visit figures are taken below the nominal load; use the normalized capacity or fewer visits\n",
			100*sentPS/r.nominalIn, 100*rxPS/outPS)
	case r.machineCPU/r.wall > 0.9*float64(r.ncpu):
		fmt.Fprintf(w, "WARNING: the machine was saturated (%.2f of %d cores busy): CPU figures include contention\n", r.machineCPU/r.wall, r.ncpu)
	default:
		fmt.Fprintln(w, "check: load as offered, every packet delivered (±3%)")
	}
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

// writeAllocs writes the heap profile (its alloc_objects sample is every
// allocation since start-up) to path.
func writeAllocs(path string) error {
	runtime.GC() // the profile is as of the last GC
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// cpuSys is this process's CPU time in the kernel.
func cpuSys() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Stime.Nano())
}

func cpuSelf() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineBusy is the CPU time every CPU of the machine spent on anything
// but idle and iowait (/proc/stat), 0 where unavailable.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, v := range f[1:9] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return time.Duration(busy) * time.Second / 100 // USER_HZ
}

// udpRcvbufErrors is the kernel's count of UDP datagrams dropped because
// a socket's receive buffer was full (procnet.UDPRcvbufErrors), -1 where
// unknown.
func udpRcvbufErrors() int64 {
	n, ok := procnet.UDPRcvbufErrors()
	if !ok {
		return -1
	}
	return n
}

// freeUDPPort finds a loopback UDP port that is free now, for the relay's
// single-port mux.
func freeUDPPort() (int, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
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
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(rd); err != nil {
		return err
	}
	// Each line the parent writes asks for a sample; EOF ends the run.
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var sm sample
		for _, p := range peers {
			sm.Sent += p.Sent()
			sm.Received += p.Received("audio").Packets + p.Received("video").Packets
		}
		sm.CPU = int64(cpuSelf())
		if err := enc.Encode(sm); err != nil {
			return err
		}
	}
	for _, p := range peers {
		p.Close()
	}
	return nil
}

// runSendCost measures the floor under the relay's CPU per packet: what
// sending one datagram of a forwarded video packet's size over loopback
// costs the sender (the kernel's UDP/IP path, loopback delivery and waking
// the reader), with nothing else to do. It sends to 2n sockets in a child
// process (a visit's subscribers), at the relay's nominal rate (2 × the
// packets it receives), in bursts every 10 ms.
func runSendCost(n int, dur time.Duration, vpps, apps int) error {
	if n < 1 || n > 200 || dur <= 0 || dur > time.Minute {
		return errors.New("need 1 ≤ -visits ≤ 200 and 0 < -duration ≤ 60s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), dur+time.Minute)
	defer cancel()
	socks := 2 * subscribers * n // each visit: two publishers, each to two subscribers
	cmd, stdin, stdout, err := startChild(ctx, "-sink", strconv.Itoa(socks))
	if err != nil {
		return err
	}
	defer func() { _ = stdin.Close(); _ = cmd.Wait() }()
	var dsts []netip.AddrPort
	in := bufio.NewScanner(stdout)
	for len(dsts) < socks && in.Scan() {
		ap, err := netip.ParseAddrPort(in.Text())
		if err != nil {
			return err
		}
		dsts = append(dsts, ap)
	}
	if len(dsts) < socks {
		return errors.New("sink did not start")
	}
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	defer c.Close()
	payload := make([]byte, 1100)
	perSock := float64(vpps+apps) / 100 // per 10 ms tick
	clk := clock.Real{}
	tick := clk.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var credit float64
	sent := 0
	cpu0, t0 := cpuSelf(), clk.Now()
	for clk.Now().Sub(t0) < dur {
		<-tick.C()
		for credit += perSock; credit >= 1; credit-- {
			for _, d := range dsts {
				if _, err := c.WriteToUDPAddrPort(payload, d); err == nil {
					sent++
				}
			}
		}
	}
	cpu, wall := (cpuSelf() - cpu0).Seconds(), clk.Now().Sub(t0).Seconds()
	us := 1e6 * cpu / float64(sent)
	fmt.Printf("sendcost: %d datagrams/s of 1,100 bytes to %d loopback sockets: %.2f cores, %.2f µs CPU per sendto\n", int(float64(sent)/wall), socks, cpu/wall, us)
	fmt.Printf("floor: a visit's %d sent packets/s cost %.1f ms CPU per second in sendto alone: at most %.0f monitored visits per core if the relay did nothing else\n",
		2*subscribers*(vpps+apps), float64(2*subscribers*(vpps+apps))*us/1000, 1e6/(float64(2*subscribers*(vpps+apps))*us))
	return nil
}

// runSink is -sendcost's receiving side: it prints its sockets'
// addresses, one a line, and reads them until stdin closes.
func runSink(n int) error {
	var wg sync.WaitGroup
	var conns []*net.UDPConn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
		wg.Wait()
	}()
	for i := 0; i < n; i++ {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return err
		}
		conns = append(conns, c)
		fmt.Println(c.LocalAddr().(*net.UDPAddr).AddrPort())
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := make([]byte, 1500)
			for {
				if _, _, err := c.ReadFromUDPAddrPort(b); err != nil {
					return
				}
			}
		}()
	}
	_, err := io.Copy(io.Discard, os.Stdin)
	return err
}

// startChild starts this program again with args, its stdin and stdout
// piped to us and its stderr shared; it dies with ctx.
func startChild(ctx context.Context, args ...string) (*exec.Cmd, io.WriteCloser, io.ReadCloser, error) {
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, nil, nil, err
	}
	return cmd, stdin, stdout, nil
}
