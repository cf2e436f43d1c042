package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"ipcs/internal/testutil"
	callswitch "ipcs/switch"
)

// TestDaemonDemoCalls places the README's calls against the real ipcsd
// binary with its built-in trunk: each demo answer, and the charge.
func TestDaemonDemoCalls(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	d := startDaemon(t)
	phone := callswitch.PhoneConfig{Switch: d.SIP, PhoneID: "phone-102", Password: "demo"}
	tests := []struct {
		name   string
		pin    string
		to     string
		status int // 0: answered
		reason string
	}{
		{"funded", "1001", "+13125550123", 0, ""},
		{"funded over TCP", "1001", "3125550124", 0, ""},
		{"no money", "1003", "+13125550123", 402, "insufficient balance"},
		{"blocked number", "1001", "+15555550100", 403, "number blocked"},
		{"bad PIN", "4321", "+13125550123", 403, "invalid PIN"},
		{"invalid destination", "1001", "123", 404, "invalid destination"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := phone
			if strings.Contains(tt.name, "TCP") {
				cfg.Transport = "tcp"
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			call, err := callswitch.Dial(ctx, cfg, tt.pin, tt.to)
			if tt.status != 0 {
				var ce *callswitch.CallError
				if !errors.As(err, &ce) || ce.Status != tt.status || !strings.Contains(ce.Reason, tt.reason) {
					t.Fatalf("got %v, want %d with reason %q", err, tt.status, tt.reason)
				}
				return
			}
			if err != nil {
				t.Fatalf("call not answered: %v", err)
			}
			if err := call.Close(ctx); err != nil {
				t.Fatalf("hang up: %v", err)
			}
		})
	}
	// Two answered calls wrote CDRs; the refused ones wrote none and
	// charged nothing.
	admin := login(t, d.HTTP, "admin", "admin", "admin")
	var out struct {
		CDRs []struct {
			AccountID string `json:"account_id"`
			Cause     string `json:"cause"`
		} `json:"cdrs"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		getJSON(t, d.HTTP+"/api/v1/cdrs?facility=demo", admin, &out)
		if len(out.CDRs) >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // CDRs land when the BYE is settled
	}
	if len(out.CDRs) != 2 {
		t.Fatalf("CDRs = %+v, want the two answered calls", out.CDRs)
	}
	var bal struct{ Available string }
	getJSON(t, d.HTTP+"/api/v1/accounts/r-1003/balance", admin, &bal)
	if bal.Available != "0.00" {
		t.Fatalf("r-1003 was charged for a refused call: %s", bal.Available)
	}
}

// TestDaemonSIPpInterop drives the real ipcsd binary with SIPp on both
// sides: SIPp's UAC is the housing phone (digest auth, PIN*number) and
// SIPp's UAS is the trunk given with -trunk. Every call must succeed.
func TestDaemonSIPpInterop(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	sipp := testutil.Binary(t, "sipp")
	scen, err := filepath.Abs("../../bench/sipp")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	csv := filepath.Join(dir, "calls.csv")
	var b strings.Builder
	b.WriteString("SEQUENTIAL\n")
	for i := 0; i < 10; i++ {
		fmt.Fprintf(&b, "1001*+1312555%04d;phone-101;\n", 100+i)
	}
	os.WriteFile(csv, []byte(b.String()), 0o600)

	const calls = 30
	trunkPort := testutil.FreeUDPPort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var uasOut bytes.Buffer
	uas := exec.CommandContext(ctx, sipp, "-sf", filepath.Join(scen, "uas_trunk.xml"),
		"-i", "127.0.0.1", "-p", strconv.Itoa(trunkPort), "-m", strconv.Itoa(calls),
		"-timeout", "80s", "-timeout_error", "-nostdin", "-trace_err", "-error_file", filepath.Join(dir, "uas_err.log"))
	uas.Stdout, uas.Stderr = &uasOut, &uasOut
	if err := uas.Start(); err != nil {
		t.Fatal(err)
	}
	uasDone := make(chan error, 1)
	go func() { uasDone <- uas.Wait() }()

	d := startDaemon(t, "-trunk", "sip:127.0.0.1:"+strconv.Itoa(trunkPort))
	uac := exec.CommandContext(ctx, sipp, d.SIP, "-sf", filepath.Join(scen, "uac_digest.xml"),
		"-inf", csv, "-au", "phone-101", "-ap", "demo",
		"-i", "127.0.0.1", "-m", strconv.Itoa(calls), "-r", "10", "-l", "10",
		"-timeout", "60s", "-timeout_error", "-nostdin", "-trace_err", "-error_file", filepath.Join(dir, "uac_err.log"))
	out, err := uac.CombinedOutput()
	if err != nil {
		errs, _ := os.ReadFile(filepath.Join(dir, "uac_err.log"))
		t.Fatalf("SIPp UAC against ipcsd: %v\n%s\n%s\n%s", err, testutil.Tail(out), testutil.Tail(errs), d.Logs())
	}
	select {
	case err := <-uasDone:
		if err != nil {
			t.Fatalf("SIPp UAS (trunk): %v\n%s", err, testutil.Tail(uasOut.Bytes()))
		}
	case <-ctx.Done():
		t.Fatal("SIPp UAS did not finish")
	}
	admin := login(t, d.HTTP, "admin", "admin", "admin")
	var res struct {
		CDRs []struct {
			Cause string `json:"cause"`
		} `json:"cdrs"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		getJSON(t, d.HTTP+"/api/v1/cdrs?account_id=r-1001&limit=1000", admin, &res)
		if len(res.CDRs) >= calls || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // the last CDRs land as the BYEs settle
	}
	if len(res.CDRs) != calls {
		t.Fatalf("CDRs = %d, want %d", len(res.CDRs), calls)
	}
}
