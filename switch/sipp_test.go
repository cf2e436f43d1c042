package callswitch

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"ipcs/internal/testutil"
)

// TestSIPpInterop runs the shipped SIPp scenarios against an in-process
// switch: bench/sipp/uas_trunk.xml plays the trunk, uac_digest.xml the
// phones (digest auth, PIN*number from calls.csv). SIPp exits 0 only if
// every call succeeded. Bounded: -m calls, -timeout, loopback only.
func TestSIPpInterop(t *testing.T) {
	sipp := testutil.Binary(t, "sipp")
	testutil.CheckGoroutines(t)
	const calls = 12
	dir, err := filepath.Abs("../bench/sipp")
	if err != nil {
		t.Fatal(err)
	}
	trunkPort := testutil.FreeUDPPort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var uasOut bytes.Buffer
	uas := exec.CommandContext(ctx, sipp, "-sf", filepath.Join(dir, "uas_trunk.xml"),
		"-i", "127.0.0.1", "-p", strconv.Itoa(trunkPort), "-m", strconv.Itoa(calls),
		"-timeout", "50s", "-timeout_error", "-nostdin", "-trace_err", "-error_file", filepath.Join(t.TempDir(), "uas_err.log"))
	uas.Stdout, uas.Stderr = &uasOut, &uasOut
	if err := uas.Start(); err != nil {
		t.Fatal(err)
	}
	uasDone := make(chan error, 1)
	go func() { uasDone <- uas.Wait() }()
	e := newEnv(t, envOpts{trunkURI: "sip:127.0.0.1:" + strconv.Itoa(trunkPort), logLevel: 4})

	uac := exec.CommandContext(ctx, sipp, e.sw.Addr(), "-sf", filepath.Join(dir, "uac_digest.xml"),
		"-inf", filepath.Join(dir, "calls.csv"), "-au", "phone-101", "-ap", "demo",
		"-i", "127.0.0.1", "-m", strconv.Itoa(calls), "-r", "20", "-l", "6",
		"-timeout", "40s", "-timeout_error", "-nostdin", "-trace_err", "-error_file", filepath.Join(t.TempDir(), "uac_err.log"))
	out, err := uac.CombinedOutput()
	if err != nil {
		t.Errorf("SIPp UAC: %v\n%s", err, testutil.Tail(out))
	}
	select {
	case err := <-uasDone:
		if err != nil {
			t.Errorf("SIPp UAS: %v\n%s", err, testutil.Tail(uasOut.Bytes()))
		}
	case <-ctx.Done():
		t.Error("SIPp UAS did not finish")
		<-uasDone
	}
	if got := e.attempts("answered"); got != calls {
		t.Errorf("answered = %v, want %d", got, calls)
	}
	e.cdrs("r-1001", calls*2/3)
}
