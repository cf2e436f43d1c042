package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"ipcs/internal/clock"
	"ipcs/internal/testutil"
)

func TestExpandList(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
		wantErr  bool
	}{
		{name: "plain", in: "phone-101,phone-102", want: []string{"phone-101", "phone-102"}},
		{name: "range", in: "phone-[101-103]", want: []string{"phone-101", "phone-102", "phone-103"}},
		{name: "padded range and suffix", in: "p[08-10]x", want: []string{"p08x", "p09x", "p10x"}},
		{name: "mixed with blanks", in: " a , b[1-2] ,", want: []string{"a", "b1", "b2"}},
		{name: "reversed range", in: "x[5-3]", wantErr: true},
		{name: "too large", in: "x[1-999999]", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := expandList(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && !slices.Equal(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLoopbackOnly(t *testing.T) {
	tests := []struct {
		name, addr string
		ok         bool
	}{
		{name: "ipv4 loopback", addr: "127.0.0.1:5060", ok: true},
		{name: "other 127/8", addr: "127.0.0.2:5060", ok: true},
		{name: "ipv6 loopback", addr: "[::1]:5060", ok: true},
		{name: "localhost", addr: "localhost:5060", ok: true},
		{name: "private address", addr: "10.0.0.1:5060"},
		{name: "unspecified", addr: "0.0.0.0:5060"},
		{name: "a name", addr: "sip.example.com:5060"},
		{name: "no port", addr: "127.0.0.1"},
		{name: "port zero target", addr: "127.0.0.1:0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(tt.addr)
			err := cfg.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate(%q) = %v, want ok %v", tt.addr, err, tt.ok)
			}
		})
	}
	t.Run("metrics URL", func(t *testing.T) {
		cfg := testConfig("127.0.0.1:5060")
		cfg.MetricsURL = "http://192.0.2.1:8080/metrics"
		if err := cfg.Validate(); err == nil {
			t.Fatal("a non-loopback metrics URL was accepted")
		}
	})
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, tt := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {1, time.Millisecond}} {
		if got := percentile(d, tt.p); got != tt.want {
			t.Errorf("p%v = %v, want %v", tt.p, got, tt.want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("p50 of nothing = %v", got)
	}
}

// TestSweepAgainstTrunk runs a short rate step and a small live-call
// memory run from the caller to the built-in trunk over loopback.
func TestSweepAgainstTrunk(t *testing.T) {
	testutil.CheckGoroutines(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tcfg := testConfig("")
	tcfg.UAS = "127.0.0.1:0"
	tr, err := newTrunk(tcfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)

	cfg := testConfig(tr.lis.addr().String())
	cfg.PID = os.Getpid()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	r := newTestRunner(t, cfg, log)
	rep := r.step(context.Background(), 100)
	if rep.Attempted != 50 || rep.Completed != 50 || rep.Failed != 0 {
		t.Fatalf("step: %+v", rep)
	}
	if rep.TargetCPUPct == nil || rep.TargetRSSKiB <= 0 {
		t.Fatalf("no target reading: %+v", rep)
	}

	r.cfg.Concurrent = 20
	mem := r.memory(context.Background())
	if mem.Live != 20 || mem.Answered != 20 || mem.Failed != 0 || mem.RSSBeforeKiB <= 0 {
		t.Fatalf("memory: %+v", mem)
	}
	if got := tr.byes.Load(); got != 70 {
		t.Fatalf("trunk saw %d BYEs, want 70", got)
	}
}

// TestDigest checks both challenges a switch offers (RFC 8760): the
// caller answers the one -digest names, and the server verifies it.
func TestDigest(t *testing.T) {
	testutil.CheckGoroutines(t)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srvAddr := startChallenger(t, log)
	for _, alg := range []string{"", "MD5", "SHA-256"} {
		t.Run("alg="+alg, func(t *testing.T) {
			cfg := testConfig(srvAddr)
			// Over TCP: this test is about the digest exchange, and TCP
			// takes UDP's retransmission timing out of it (a call failed
			// once in CI at the transport with no answer to classify).
			cfg.Transport = "tcp"
			cfg.Digest = alg
			cfg.Duration = 500 * time.Millisecond
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			r := newTestRunner(t, cfg, log)
			rep := r.step(context.Background(), 20)
			if rep.Completed != 10 || rep.Failed != 0 {
				t.Fatalf("%+v", rep)
			}
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		cfg := testConfig(srvAddr)
		cfg.Password = "nope"
		cfg.Duration = 500 * time.Millisecond
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		r := newTestRunner(t, cfg, log)
		rep := r.step(context.Background(), 20)
		if rep.Failures["403"] != 10 {
			t.Fatalf("%+v", rep)
		}
	})
}

func testConfig(target string) Config {
	return Config{
		Target: target, Transport: "udp", Local: "127.0.0.1:0",
		Rates: []float64{100}, Duration: 500 * time.Millisecond, Hold: 50 * time.Millisecond,
		SetupTimeout: 3 * time.Second, ByeTimeout: 2 * time.Second, MaxInflight: 1000, MaxFailPct: -1,
		Phones: []string{"phone-101", "phone-102"}, Password: "demo", PINs: []string{"1001"},
		Dests: []string{"+13125550123"}, Quiet: true,
	}
}

func newTestRunner(tb testing.TB, cfg Config, log *slog.Logger) *runner {
	tb.Helper()
	c, err := newCaller(cfg, clock.Real{}, log)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	return &runner{cfg: cfg, clk: clock.Real{}, log: log, caller: c, probe: newProbe(cfg), progress: io.Discard}
}

// startChallenger is a UAS that demands digest auth like ipcsd: 401 with
// an MD5 and a SHA-256 challenge (qop=auth), 200 for good credentials,
// 403 for bad ones.
func startChallenger(tb testing.TB, log *slog.Logger) string {
	tb.Helper()
	ua, err := sipgo.NewUA()
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		tb.Fatal(err)
	}
	const nonce = "bench-nonce"
	srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		h := req.GetHeader("Authorization")
		if h == nil {
			res := sip.NewResponseFromRequest(req, sip.StatusUnauthorized, "Unauthorized", nil)
			for _, alg := range []string{"MD5", "SHA-256"} {
				res.AppendHeader(sip.NewHeader("WWW-Authenticate",
					`Digest realm="ipcs", nonce="`+nonce+`", algorithm=`+alg+`, qop="auth"`))
			}
			_ = tx.Respond(res)
			return
		}
		cred, err := digest.ParseCredentials(h.Value())
		ok := err == nil && strings.HasPrefix(cred.Username, "phone-")
		if ok {
			want, err := digest.Digest(&digest.Challenge{Realm: "ipcs", Nonce: nonce, Algorithm: cred.Algorithm, QOP: []string{"auth"}},
				digest.Options{Method: "INVITE", URI: cred.URI, Username: cred.Username, Password: "demo", Cnonce: cred.Cnonce, Count: cred.Nc})
			ok = err == nil && want.Response == cred.Response
		}
		if !ok {
			_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusForbidden, "Forbidden", nil))
			return
		}
		res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
		res.To().Params.Add("tag", sip.GenerateTagN(8))
		res.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: req.Recipient.Port}})
		_ = tx.Respond(res)
	})
	srv.OnAck(func(*sip.Request, sip.ServerTransaction) {})
	srv.OnBye(respondOK)
	lis, err := listen(srv, "127.0.0.1:0", true, nil, log)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		lis.Close()
		ua.Close()
	})
	return lis.addr().String()
}
