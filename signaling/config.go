package signaling

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Config holds the operator settings of the signaling hub. The zero value
// of every field is a documented default.
type Config struct {
	// AllowedOrigins lists the browser origins ("https://visits.example.org")
	// allowed to open /ws. Empty: only the page's own host (same-origin).
	// Requests without an Origin header (kiosks, native clients) are allowed:
	// the join token is the credential.
	AllowedOrigins []string
	// UDPPort, when set, makes every peer connection share one UDP port
	// (ICE UDP mux) so a firewall needs one rule. 0: ephemeral ports.
	UDPPort int
	// NAT1To1IPs are public addresses announced instead of the host's own
	// (a 1:1 NAT such as a cloud elastic IP). Empty: announce host addresses.
	NAT1To1IPs []string
	// IncludeLoopback gathers 127.0.0.1 candidates (tests, single-host demos).
	IncludeLoopback bool
	// RecordDir is the folder recordings are written under, one folder per
	// visit. Empty: nothing is recorded.
	RecordDir string
	// MaxSockets bounds concurrent /ws connections; over it a socket is
	// closed with 1013 (try again later). Default 1000.
	MaxSockets int
	// MaxVisitors bounds visitor participants in one visit. Default 3.
	MaxVisitors int
	// MaxMonitors bounds officer monitors in one visit. Default 2.
	MaxMonitors int
	// MaxMessageBytes bounds one inbound WebSocket message. Default 64 KiB
	// (a browser SDP answer is 3–10 KiB).
	MaxMessageBytes int64
	// SendQueue is the per-socket outbound queue length; a client that lets
	// it fill up is disconnected. Default 64.
	SendQueue int
	// MessagesPerSecond is the sustained inbound message rate allowed per
	// socket (burst twice that); above it the socket is dropped. Default 50.
	MessagesPerSecond int
	// JoinTimeout is how long a new socket may take to send its join.
	// Default 10 s.
	JoinTimeout time.Duration
	// PingInterval is the WebSocket ping period; a peer silent for twice
	// that is dropped. Default 15 s.
	PingInterval time.Duration
	// WriteTimeout bounds one WebSocket write. Default 5 s.
	WriteTimeout time.Duration
	// EmptyGrace ends a visit that has had no connected participant for
	// this long (reason "abandoned"). Default 2 min.
	EmptyGrace time.Duration
	// Warnings are the times before a visit's end at which both sides are
	// warned. Default 2 min and 1 min (DESIGN.md; ncic.com practice).
	Warnings []time.Duration
}

func (c *Config) setDefaults() {
	if c.MaxSockets == 0 {
		c.MaxSockets = 1000
	}
	if c.MaxVisitors == 0 {
		c.MaxVisitors = 3
	}
	if c.MaxMonitors == 0 {
		c.MaxMonitors = 2
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = 64 << 10
	}
	if c.SendQueue == 0 {
		c.SendQueue = 64
	}
	if c.MessagesPerSecond == 0 {
		c.MessagesPerSecond = 50
	}
	if c.JoinTimeout == 0 {
		c.JoinTimeout = 10 * time.Second
	}
	if c.PingInterval == 0 {
		c.PingInterval = 15 * time.Second
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 5 * time.Second
	}
	if c.EmptyGrace == 0 {
		c.EmptyGrace = 2 * time.Minute
	}
	if c.Warnings == nil {
		c.Warnings = []time.Duration{2 * time.Minute, time.Minute}
	}
}

// Validate reports the first bad field by name.
func (c Config) Validate() error {
	for _, o := range c.AllowedOrigins {
		u, err := url.Parse(o)
		if err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return fmt.Errorf("signaling: AllowedOrigins: %q is not scheme://host[:port]", o)
		}
	}
	if c.UDPPort < 0 || c.UDPPort > 65535 {
		return fmt.Errorf("signaling: UDPPort: %d out of range", c.UDPPort)
	}
	for _, ip := range c.NAT1To1IPs {
		if net.ParseIP(ip) == nil {
			return fmt.Errorf("signaling: NAT1To1IPs: %q is not an IP address", ip)
		}
	}
	for name, v := range map[string]int{
		"MaxSockets": c.MaxSockets, "MaxVisitors": c.MaxVisitors, "MaxMonitors": c.MaxMonitors,
		"SendQueue": c.SendQueue, "MessagesPerSecond": c.MessagesPerSecond,
	} {
		if v < 0 {
			return fmt.Errorf("signaling: %s: negative", name)
		}
	}
	if c.MaxMessageBytes < 0 {
		return fmt.Errorf("signaling: MaxMessageBytes: negative")
	}
	for name, d := range map[string]time.Duration{
		"JoinTimeout": c.JoinTimeout, "PingInterval": c.PingInterval,
		"WriteTimeout": c.WriteTimeout, "EmptyGrace": c.EmptyGrace,
	} {
		if d < 0 {
			return fmt.Errorf("signaling: %s: negative", name)
		}
	}
	for _, w := range c.Warnings {
		if w <= 0 {
			return fmt.Errorf("signaling: Warnings: %v is not positive", w)
		}
	}
	return nil
}

// originAllowed reports whether a browser Origin may open /ws on host.
func (c *Config) originAllowed(origin, host string) bool {
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if len(c.AllowedOrigins) == 0 {
		return strings.EqualFold(u.Host, host)
	}
	for _, o := range c.AllowedOrigins {
		if strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return true
		}
	}
	return false
}
