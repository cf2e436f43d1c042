package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// usage is one reading of a process: resident memory and CPU used so far.
type usage struct {
	// RSS is the resident set in bytes; 0 when unknown.
	RSS int64
	// CPU is user plus system time consumed since the process started.
	CPU time.Duration
	// Active is ipcs_calls_active from /metrics; -1 when unknown.
	Active float64
	// HeapInuse is go_memstats_heap_inuse_bytes; 0 when unknown.
	HeapInuse int64
	// Goroutines is go_goroutines; 0 when unknown.
	Goroutines int64
	// OK reports whether anything was read.
	OK bool
}

// probe reads the target's usage from /proc (given a PID) and from its
// Prometheus endpoint (given a URL). Both are optional.
type probe struct {
	pid        int
	metricsURL string
	http       *http.Client
}

func newProbe(cfg Config) *probe {
	return &probe{pid: cfg.PID, metricsURL: cfg.MetricsURL, http: &http.Client{Timeout: 3 * time.Second}}
}

func (p *probe) enabled() bool { return p.pid > 0 || p.metricsURL != "" }

// read takes one reading; /proc wins for RSS and CPU when both are given.
func (p *probe) read(ctx context.Context) (usage, error) {
	u := usage{Active: -1}
	var errs []error
	if p.metricsURL != "" {
		if err := p.readMetrics(ctx, &u); err != nil {
			errs = append(errs, err)
		} else {
			u.OK = true
		}
	}
	if p.pid > 0 {
		rss, cpu, err := procUsage(p.pid)
		if err != nil {
			errs = append(errs, err)
		} else {
			u.RSS, u.CPU, u.OK = rss, cpu, true
		}
	}
	return u, errors.Join(errs...)
}

func (p *probe) readMetrics(ctx context.Context, u *usage) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.metricsURL, nil)
	if err != nil {
		return err
	}
	res, err := p.http.Do(req)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("metrics: %s", res.Status)
	}
	sc := bufio.NewScanner(io.LimitReader(res.Body, 16<<20))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, val, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			continue
		}
		switch name {
		case "process_resident_memory_bytes":
			u.RSS = int64(f)
		case "process_cpu_seconds_total":
			u.CPU = time.Duration(f * float64(time.Second))
		case "ipcs_calls_active":
			u.Active = f
		case "go_memstats_heap_inuse_bytes":
			u.HeapInuse = int64(f)
		case "go_goroutines":
			u.Goroutines = int64(f)
		}
	}
	return sc.Err()
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat;
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// procUsage reads VmRSS from /proc/PID/status and utime+stime from
// /proc/PID/stat.
func procUsage(pid int) (rss int64, cpu time.Duration, err error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("/proc/%d/status: VmRSS %q", pid, v)
			}
			rss = kb << 10
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name may hold spaces; fields restart after its ')'.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("/proc/%d/stat: bad utime/stime", pid)
	}
	return rss, time.Duration(ut+st) * time.Second / clockTicks, nil
}

// udpSocketDrops sums the drops of the UDP sockets bound to local port
// (/proc/net/udp and /proc/net/udp6, last column): datagrams the target
// itself lost to a full receive buffer.
func udpSocketDrops(port int) (n int64, ok bool) {
	want := fmt.Sprintf(":%04X", port)
	for _, f := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for i, line := range strings.Split(string(b), "\n") {
			fields := strings.Fields(line)
			if i == 0 || len(fields) < 13 || !strings.HasSuffix(fields[1], want) {
				continue
			}
			if d, err := strconv.ParseInt(fields[len(fields)-1], 10, 64); err == nil {
				n += d
				ok = true
			}
		}
	}
	return n, ok
}

// selfUsage is the driver's own CPU time and peak RSS.
func selfUsage() (cpu time.Duration, maxRSS int64) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	tv := func(t syscall.Timeval) time.Duration {
		return time.Duration(t.Sec)*time.Second + time.Duration(t.Usec)*time.Microsecond
	}
	return tv(ru.Utime) + tv(ru.Stime), ru.Maxrss << 10
}

// cpuPct is the share of one core used over wall.
func cpuPct(used, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return 100 * float64(used) / float64(wall)
}
