package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is everything ipcsd reads at start-up. Zero values are the
// documented defaults; precedence is defaults < file < environment
// (IPCS_<FIELD>) < flags. Validate names the bad field.
type Config struct {
	// HTTP is the API, pages, /ws and /metrics address.
	HTTP string `yaml:"http" json:"http"`
	// SIP is the SIP listen address (UDP and TCP).
	SIP string `yaml:"sip" json:"sip"`
	// DB is a SQLite file path or a postgres:// URL.
	DB string `yaml:"db" json:"db"`
	// Trunk is the outbound SIP trunk ("sip:HOST:PORT"); empty runs the
	// built-in auto-answer demo trunk.
	Trunk string `yaml:"trunk" json:"trunk"`
	// Demo seeds the demo facility, residents, phones, tariff and visitor.
	Demo bool `yaml:"demo" json:"demo"`
	// SecretFile holds the token signing key (created if missing).
	SecretFile string `yaml:"secret_file" json:"secret_file"`
	// RecordDir is where visit recordings are written.
	RecordDir string `yaml:"record_dir" json:"record_dir"`
	// AdminPassword is the password of the "admin" API user.
	AdminPassword string `yaml:"admin_password" json:"admin_password"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level" json:"log_level"`
	// ShutdownGrace bounds a graceful shutdown.
	ShutdownGrace time.Duration `yaml:"shutdown_grace" json:"shutdown_grace"`
	// TrustedNetworks are facility SIP gateways that need no digest, each
	// "CIDR=FACILITY", e.g. "10.1.0.0/16=demo".
	TrustedNetworks []string `yaml:"trusted_networks" json:"trusted_networks"`
	// MaxCalls bounds concurrent calls (ringing or answered); over it new
	// INVITEs get 503 with Retry-After. A live call takes about 30 KiB
	// (docs/PERFORMANCE.md). 0 uses the switch's default (2,000).
	MaxCalls int `yaml:"max_calls" json:"max_calls"`
	// NodeID names this node in a shared database; reservations it leaves
	// open are settled when it restarts. Default: the host name.
	NodeID string `yaml:"node_id" json:"node_id"`
	// Directory is a YAML file of facilities' calling rules, phones and
	// residents (callswitch.DirectoryConfig); empty uses the demo's.
	Directory string `yaml:"directory" json:"directory"`
	// WebRTCPort, if set, is the one UDP port all visit media share (a
	// deployment opens only it); 0 uses ephemeral ports.
	WebRTCPort int `yaml:"webrtc_port" json:"webrtc_port"`
	// WebRTCPublicIPs are the addresses browsers reach the relay at when
	// it sits behind 1:1 NAT.
	WebRTCPublicIPs []string `yaml:"webrtc_public_ips" json:"webrtc_public_ips"`
	// WebRTCLoopback offers loopback ICE candidates, so a browser on the
	// same machine (the demo, tests) can connect. Default true.
	WebRTCLoopback bool `yaml:"webrtc_loopback" json:"webrtc_loopback"`
	// Tariffs are tariff/facility files replacing the demo ones.
	Tariffs []string `yaml:"tariffs" json:"tariffs"`
}

func defaults() Config {
	return Config{
		HTTP:           "127.0.0.1:8080",
		SIP:            "127.0.0.1:5060",
		DB:             "ipcs.db",
		Demo:           true,
		SecretFile:     "ipcs.secret",
		RecordDir:      "recordings",
		AdminPassword:  "admin",
		LogLevel:       "info",
		ShutdownGrace:  10 * time.Second,
		WebRTCLoopback: true,
	}
}

// loadConfig builds the Config from args and the environment.
func loadConfig(args []string, getenv func(string) string) (Config, error) {
	cfg := defaults()
	if h, err := os.Hostname(); err == nil {
		cfg.NodeID = h
	}
	fs := flag.NewFlagSet("ipcsd", flag.ContinueOnError)
	file := fs.String("config", getenv("IPCS_CONFIG"), "YAML or JSON config file")
	// Flags are parsed twice: first to find the file, then over it.
	bind := func(c *Config) {
		fs.StringVar(&c.HTTP, "http", c.HTTP, "HTTP listen address")
		fs.StringVar(&c.SIP, "sip", c.SIP, "SIP listen address (UDP and TCP)")
		fs.StringVar(&c.DB, "db", c.DB, "SQLite file or postgres:// URL")
		fs.StringVar(&c.Trunk, "trunk", c.Trunk, "outbound trunk sip:HOST:PORT (empty: built-in demo trunk)")
		fs.BoolVar(&c.Demo, "demo", c.Demo, "seed the demo facility")
		fs.StringVar(&c.SecretFile, "secret-file", c.SecretFile, "token signing key file (created if missing)")
		fs.StringVar(&c.RecordDir, "record-dir", c.RecordDir, "visit recordings folder")
		fs.StringVar(&c.AdminPassword, "admin-password", c.AdminPassword, "password of the admin API user")
		fs.StringVar(&c.Directory, "directory", c.Directory, "YAML file of phones, residents and calling rules (default: the demo's)")
		fs.IntVar(&c.WebRTCPort, "webrtc-port", c.WebRTCPort, "single UDP port for all visit media (0: ephemeral ports)")
		fs.BoolVar(&c.WebRTCLoopback, "webrtc-loopback", c.WebRTCLoopback, "offer loopback ICE candidates (same-machine browsers)")
		fs.IntVar(&c.MaxCalls, "max-calls", c.MaxCalls, "concurrent calls before new ones get 503 (0: 2000)")
		fs.StringVar(&c.NodeID, "node-id", c.NodeID, "this node's name in a shared database (default: host name)")
		fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
		fs.Func("tariff", "tariff/facility YAML file (repeatable; replaces the demo tariffs)", func(v string) error {
			c.Tariffs = append(c.Tariffs, v)
			return nil
		})
		fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", c.ShutdownGrace, "graceful shutdown bound")
	}
	probe := cfg
	bind(&probe)
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if *file != "" {
		if err := readConfigFile(*file, &cfg); err != nil {
			return cfg, err
		}
	}
	if err := applyEnv(&cfg, getenv); err != nil {
		return cfg, err
	}
	fs = flag.NewFlagSet("ipcsd", flag.ContinueOnError)
	fs.String("config", *file, "YAML or JSON config file")
	bind(&cfg)
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

func readConfigFile(path string, cfg *Config) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if strings.HasSuffix(path, ".json") {
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(cfg); err != nil {
			return fmt.Errorf("config %s: %w", path, err)
		}
		return nil
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

func applyEnv(cfg *Config, getenv func(string) string) error {
	str := map[string]*string{
		"IPCS_HTTP": &cfg.HTTP, "IPCS_SIP": &cfg.SIP, "IPCS_DB": &cfg.DB, "IPCS_TRUNK": &cfg.Trunk,
		"IPCS_SECRET_FILE": &cfg.SecretFile, "IPCS_RECORD_DIR": &cfg.RecordDir,
		"IPCS_ADMIN_PASSWORD": &cfg.AdminPassword, "IPCS_NODE_ID": &cfg.NodeID, "IPCS_LOG_LEVEL": &cfg.LogLevel,
	}
	for k, p := range str {
		if v := getenv(k); v != "" {
			*p = v
		}
	}
	if v := getenv("IPCS_DEMO"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("config: IPCS_DEMO: %q is not a boolean", v)
		}
		cfg.Demo = b
	}
	if v := getenv("IPCS_MAX_CALLS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("config: IPCS_MAX_CALLS: %q is not a number", v)
		}
		cfg.MaxCalls = n
	}
	if v := getenv("IPCS_SHUTDOWN_GRACE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("config: IPCS_SHUTDOWN_GRACE: %q is not a duration", v)
		}
		cfg.ShutdownGrace = d
	}
	return nil
}

// Validate checks every field and names the first bad one.
func (c Config) Validate() error {
	for name, addr := range map[string]string{"http": c.HTTP, "sip": c.SIP} {
		if _, err := netip.ParseAddrPort(addr); err != nil {
			if _, _, err2 := net.SplitHostPort(addr); err2 != nil {
				return fmt.Errorf("config: %s: %q is not host:port", name, addr)
			}
		}
	}
	if c.DB == "" {
		return errors.New("config: db: empty")
	}
	if c.Trunk != "" {
		hp, ok := strings.CutPrefix(c.Trunk, "sip:")
		if !ok {
			return fmt.Errorf("config: trunk: %q must look like sip:HOST:PORT", c.Trunk)
		}
		if _, _, err := net.SplitHostPort(hp); err != nil {
			return fmt.Errorf("config: trunk: %q must look like sip:HOST:PORT", c.Trunk)
		}
	}
	if c.NodeID == "" || len(c.NodeID) > 64 {
		return errors.New("config: node_id: must be 1 to 64 characters")
	}
	if c.SecretFile == "" {
		return errors.New("config: secret_file: empty")
	}
	if c.AdminPassword == "" {
		return errors.New("config: admin_password: empty")
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return fmt.Errorf("config: log_level: %q is not debug, info, warn or error", c.LogLevel)
	}
	if c.ShutdownGrace <= 0 || c.ShutdownGrace > 10*time.Minute {
		return fmt.Errorf("config: shutdown_grace: %v must be between 0 and 10m", c.ShutdownGrace)
	}
	if c.MaxCalls < 0 || c.MaxCalls > 1_000_000 {
		return fmt.Errorf("config: max_calls: %d must be between 0 and 1000000", c.MaxCalls)
	}
	if c.WebRTCPort < 0 || c.WebRTCPort > 65535 {
		return fmt.Errorf("config: webrtc_port: %d is not a port", c.WebRTCPort)
	}
	for i, ip := range c.WebRTCPublicIPs {
		if _, err := netip.ParseAddr(ip); err != nil {
			return fmt.Errorf("config: webrtc_public_ips[%d]: %q is not an IP address", i, ip)
		}
	}
	for i, n := range c.TrustedNetworks {
		cidr, fac, ok := strings.Cut(n, "=")
		if _, err := netip.ParsePrefix(cidr); err != nil || !ok || fac == "" {
			return fmt.Errorf("config: trusted_networks[%d]: %q is not CIDR=FACILITY", i, n)
		}
	}
	return nil
}

func (c Config) logLevel() slog.Level {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.LogLevel))
	return lvl
}
