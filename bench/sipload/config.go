package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Config is the whole run: which modes, at what load, for how long.
type Config struct {
	// Target is the SIP peer calls go to (host:port on loopback); empty
	// runs no calls (trunk only).
	Target string
	// Transport is "udp" (default) or "tcp".
	Transport string
	// Local is the caller's listen address (responses and in-dialog
	// requests from the peer). Default 127.0.0.1:0.
	Local string

	// UAS, when set, runs the built-in trunk on this address (UDP and TCP).
	UAS string
	// Ring makes the trunk send 180 before 200.
	Ring bool

	// Rates are the call rates of the sweep, calls per second.
	Rates []float64
	// Duration is how long each rate is offered. Default 10s, at most 60s.
	Duration time.Duration
	// Hold is how long an answered call stays up before BYE; in memory
	// mode, how long the plateau of live calls is held and sampled.
	Hold time.Duration
	// Pause separates two rate steps so the peer settles. Default 2s.
	Pause time.Duration
	// SetupTimeout bounds INVITE to final answer. Default 8s.
	SetupTimeout time.Duration
	// ByeTimeout bounds BYE to its answer. Default 5s.
	ByeTimeout time.Duration
	// Concurrent > 0 selects memory mode: hold this many live calls.
	Concurrent int
	// MaxInflight bounds calls in progress; calls past it are not placed
	// and count as "driver-limit" failures. Default 20000.
	MaxInflight int
	// MaxFailPct makes the exit status 2 when a step fails more calls.
	// Negative disables. Default -1.
	MaxFailPct float64

	// Phones are the digest user names (From user), used round-robin.
	Phones []string
	// Password is every phone's digest password.
	Password string
	// PINs and Dests build the Request-URI user PIN*DEST, round-robin.
	PINs  []string
	Dests []string
	// Digest picks the challenge: "" (first offered), "MD5" or "SHA-256".
	Digest string

	// PID is the target's process, read from /proc for RSS and CPU.
	PID int
	// MetricsURL is the target's Prometheus endpoint (loopback), read for
	// process_resident_memory_bytes, process_cpu_seconds_total and
	// ipcs_calls_active.
	MetricsURL string

	// Lifetime bounds the whole run. Default: the sweep's own length plus
	// a margin, or 15m for a trunk alone; at most 1h.
	Lifetime time.Duration
	// JSON also writes the JSON lines to this file.
	JSON string
	// Label names the run in the JSON lines (e.g. "ipcsd", "uas-direct").
	Label string
	// LogLevel is the slog level of the driver and sipgo.
	LogLevel string
	// Quiet turns progress lines off.
	Quiet bool
}

// Bounds that keep a run on a shared 2-core machine short.
const (
	maxRate        = 20000
	maxDuration    = 60 * time.Second
	maxHold        = 10 * time.Minute
	maxConcurrent  = 50000
	maxIdentities  = 100000
	maxLifetime    = time.Hour
	maxCallsInStep = 1_000_000
)

func parseFlags(args []string) (Config, error) {
	var cfg Config
	fs := flag.NewFlagSet("sipload", flag.ContinueOnError)
	var rates, phones, pins, dests string
	fs.StringVar(&cfg.Target, "target", "", "SIP peer host:port on loopback (ipcsd, Kamailio, a UAS); empty: trunk only")
	fs.StringVar(&cfg.Transport, "transport", "udp", "udp or tcp")
	fs.StringVar(&cfg.Local, "local", "127.0.0.1:0", "caller's listen address (loopback)")
	fs.StringVar(&cfg.UAS, "uas", "", "run the built-in trunk UAS on this loopback address (UDP and TCP)")
	fs.BoolVar(&cfg.Ring, "ring", false, "trunk sends 180 Ringing before 200")
	fs.StringVar(&rates, "rates", "200,500,1000,1500", "comma-separated call rates (calls/s); memory mode ramps at the first")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long each rate is offered (≤ 60s)")
	fs.DurationVar(&cfg.Hold, "hold", 2*time.Second, "answered call hold time before BYE; memory mode: plateau length")
	fs.DurationVar(&cfg.Pause, "pause", 2*time.Second, "pause between rate steps")
	fs.DurationVar(&cfg.SetupTimeout, "setup-timeout", 8*time.Second, "INVITE to final answer bound")
	fs.DurationVar(&cfg.ByeTimeout, "bye-timeout", 5*time.Second, "BYE to answer bound")
	fs.IntVar(&cfg.Concurrent, "concurrent", 0, "memory mode: hold this many live calls and report KiB per live call")
	fs.IntVar(&cfg.MaxInflight, "max-inflight", 20000, "calls in progress at most; more count as driver-limit failures")
	fs.Float64Var(&cfg.MaxFailPct, "max-fail-pct", -1, "exit 2 if a step fails more than this percentage (negative: off)")
	fs.StringVar(&phones, "phones", "phone-[101-104]", "digest users, comma-separated; NAME[FIRST-LAST] expands a range")
	fs.StringVar(&cfg.Password, "password", "demo", "digest password of every phone")
	fs.StringVar(&pins, "pin", "1001", "resident PINs, comma-separated, used round-robin")
	fs.StringVar(&dests, "to", "+13125550123", "destinations, comma-separated, round-robin; NAME[FIRST-LAST] expands")
	fs.StringVar(&cfg.Digest, "digest", "", "challenge to answer: MD5, SHA-256, or empty for the first offered")
	fs.IntVar(&cfg.PID, "pid", 0, "target process id: RSS and CPU from /proc")
	fs.StringVar(&cfg.MetricsURL, "metrics", "", "target's /metrics URL on loopback (RSS, CPU, ipcs_calls_active)")
	fs.DurationVar(&cfg.Lifetime, "lifetime", 0, "hard bound of the whole run (default: computed; ≤ 1h)")
	fs.StringVar(&cfg.JSON, "json", "", "also append the JSON lines to this file")
	fs.StringVar(&cfg.Label, "label", "", "run label written in the JSON lines")
	fs.StringVar(&cfg.LogLevel, "log-level", "warn", "debug, info, warn or error")
	fs.BoolVar(&cfg.Quiet, "quiet", false, "no progress lines on stderr")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if cfg.Rates, err = parseRates(rates); err != nil {
		return cfg, err
	}
	if cfg.Phones, err = expandList(phones); err != nil {
		return cfg, fmt.Errorf("-phones: %w", err)
	}
	if cfg.PINs, err = expandList(pins); err != nil {
		return cfg, fmt.Errorf("-pin: %w", err)
	}
	if cfg.Dests, err = expandList(dests); err != nil {
		return cfg, fmt.Errorf("-to: %w", err)
	}
	return cfg, cfg.Validate()
}

func parseRates(s string) ([]float64, error) {
	var out []float64
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		r, err := strconv.ParseFloat(f, 64)
		if err != nil || r <= 0 || r > maxRate {
			return nil, fmt.Errorf("-rates: %q must be a number in (0, %d]", f, maxRate)
		}
		out = append(out, r)
	}
	return out, nil
}

// rangeItem matches NAME[FIRST-LAST]SUFFIX, e.g. phone-[101-104].
var rangeItem = regexp.MustCompile(`^(.*)\[(\d+)-(\d+)\](.*)$`)

// expandList splits a comma-separated list and expands ranges. A range
// keeps FIRST's zero padding: x[001-010] gives x001 … x010.
func expandList(s string) ([]string, error) {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		m := rangeItem.FindStringSubmatch(item)
		if m == nil {
			out = append(out, item)
			continue
		}
		first, err1 := strconv.Atoi(m[2])
		last, err2 := strconv.Atoi(m[3])
		if err1 != nil || err2 != nil || last < first || last-first >= maxIdentities {
			return nil, fmt.Errorf("bad range %q", item)
		}
		width := len(m[2])
		for n := first; n <= last; n++ {
			out = append(out, fmt.Sprintf("%s%0*d%s", m[1], width, n, m[4]))
		}
		if len(out) > maxIdentities {
			return nil, fmt.Errorf("more than %d items", maxIdentities)
		}
	}
	return out, nil
}

// Validate checks every field, fills defaults, and names the first bad one.
func (c *Config) Validate() error {
	if c.Target == "" && c.UAS == "" {
		return errors.New("nothing to do: give -target, -uas, or both")
	}
	for name, addr := range map[string]string{"target": c.Target, "uas": c.UAS, "local": c.Local} {
		if addr == "" {
			continue
		}
		if err := loopbackHostPort(addr, name != "local" && name != "uas"); err != nil {
			return fmt.Errorf("-%s: %w", name, err)
		}
	}
	switch c.Transport {
	case "udp", "tcp":
	default:
		return fmt.Errorf("-transport: %q is not udp or tcp", c.Transport)
	}
	if c.MetricsURL != "" {
		u, err := url.Parse(c.MetricsURL)
		if err != nil || u.Scheme != "http" && u.Scheme != "https" {
			return fmt.Errorf("-metrics: %q is not an http URL", c.MetricsURL)
		}
		if err := loopbackHost(u.Hostname()); err != nil {
			return fmt.Errorf("-metrics: %w", err)
		}
	}
	if c.PID < 0 {
		return fmt.Errorf("-pid: %d", c.PID)
	}
	if c.Target != "" {
		if len(c.Rates) == 0 {
			return errors.New("-rates: empty")
		}
		if len(c.Phones) == 0 || len(c.PINs) == 0 || len(c.Dests) == 0 {
			return errors.New("-phones, -pin and -to need at least one value each")
		}
		for _, s := range append(append(append([]string{}, c.Phones...), c.PINs...), c.Dests...) {
			if strings.ContainsAny(s, " \t\r\n@:;<>\"") {
				return fmt.Errorf("identity %q has a character not allowed in a SIP user part", s)
			}
		}
	}
	switch strings.ToUpper(c.Digest) {
	case "":
	case "MD5", "SHA-256":
		c.Digest = strings.ToUpper(c.Digest)
	default:
		return fmt.Errorf("-digest: %q is not MD5 or SHA-256", c.Digest)
	}
	if c.Duration <= 0 || c.Duration > maxDuration {
		return fmt.Errorf("-duration: %v must be in (0, %v]", c.Duration, maxDuration)
	}
	if c.Hold < 0 || c.Hold > maxHold {
		return fmt.Errorf("-hold: %v must be in [0, %v]", c.Hold, maxHold)
	}
	if c.Pause < 0 || c.Pause > time.Minute {
		return fmt.Errorf("-pause: %v must be in [0, 1m]", c.Pause)
	}
	if c.SetupTimeout <= 0 || c.SetupTimeout > time.Minute {
		return fmt.Errorf("-setup-timeout: %v must be in (0, 1m]", c.SetupTimeout)
	}
	if c.ByeTimeout <= 0 || c.ByeTimeout > time.Minute {
		return fmt.Errorf("-bye-timeout: %v must be in (0, 1m]", c.ByeTimeout)
	}
	if c.Concurrent < 0 || c.Concurrent > maxConcurrent {
		return fmt.Errorf("-concurrent: %d must be in [0, %d]", c.Concurrent, maxConcurrent)
	}
	if c.MaxInflight <= 0 || c.MaxInflight > 2*maxConcurrent {
		return fmt.Errorf("-max-inflight: %d must be in (0, %d]", c.MaxInflight, 2*maxConcurrent)
	}
	if c.Concurrent > c.MaxInflight {
		return fmt.Errorf("-concurrent: %d is over -max-inflight %d", c.Concurrent, c.MaxInflight)
	}
	for _, r := range c.Rates {
		if r*c.Duration.Seconds() > maxCallsInStep {
			return fmt.Errorf("-rates: %v calls/s for %v is over %d calls", r, c.Duration, maxCallsInStep)
		}
	}
	if c.Lifetime < 0 || c.Lifetime > maxLifetime {
		return fmt.Errorf("-lifetime: %v must be in [0, %v]", c.Lifetime, maxLifetime)
	}
	if c.Lifetime == 0 {
		c.Lifetime = c.defaultLifetime()
	}
	return nil
}

// defaultLifetime is the run's expected length plus a margin for drains.
func (c *Config) defaultLifetime() time.Duration {
	if c.Target == "" {
		return 15 * time.Minute
	}
	drain := c.drain()
	var d time.Duration
	if c.Concurrent > 0 {
		ramp := time.Duration(float64(c.Concurrent)/c.Rates[0]*float64(time.Second)) * 2
		d = 2*ramp + c.Hold + drain
	} else {
		for range c.Rates {
			d += c.Duration + drain + c.Pause
		}
	}
	d += 30 * time.Second
	return min(d, maxLifetime)
}

// drain bounds waiting for a step's last calls after its last INVITE.
func (c *Config) drain() time.Duration {
	return c.SetupTimeout + c.Hold + c.ByeTimeout + 2*time.Second
}

// loopbackHostPort refuses any address that is not host:port on loopback.
func loopbackHostPort(addr string, needPort bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 || needPort && p == 0 {
		return fmt.Errorf("%q has a bad port", addr)
	}
	return loopbackHost(host)
}

// loopbackHost accepts "localhost" and loopback IP literals only: the
// driver never resolves names, so it cannot be pointed off the machine.
func loopbackHost(host string) error {
	if host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback address (refusing to load anything off this machine)", host)
	}
	return nil
}

// hostPort splits a validated loopback address; "localhost" becomes
// 127.0.0.1 so no resolver is involved.
func hostPort(addr string) (string, int) {
	host, port, _ := net.SplitHostPort(addr)
	if host == "localhost" {
		host = "127.0.0.1"
	}
	p, _ := strconv.Atoi(port)
	return host, p
}
