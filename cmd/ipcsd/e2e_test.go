package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// ipcsdBinary builds the daemon once per test run.
func ipcsdBinary(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ipcsd-e2e")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "ipcsd")
		out, err := exec.Command("go", "build", "-race", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = err
			binPath = string(out)
		}
	})
	if buildErr != nil {
		tb.Fatalf("build ipcsd: %v\n%s", buildErr, binPath)
	}
	return binPath
}

// daemonProc is a running ipcsd.
type daemonProc struct {
	cmd  *exec.Cmd
	HTTP string // base URL
	SIP  string // host:port
	Dir  string
	done chan error
	// mu guards logs.
	mu   sync.Mutex
	logs strings.Builder
}

var readyRE = regexp.MustCompile(`"ipcsd ready" http=(\S+) sip=(\S+)`)

// startDaemon runs ipcsd in a temp dir on ports chosen by the kernel and
// waits for its ready line.
func startDaemon(tb testing.TB, extra ...string) *daemonProc {
	tb.Helper()
	dir := tb.TempDir()
	args := append([]string{"-http", "127.0.0.1:0", "-sip", "127.0.0.1:0",
		"-db", filepath.Join(dir, "ipcs.db"), "-secret-file", filepath.Join(dir, "secret"),
		"-record-dir", filepath.Join(dir, "rec")}, extra...)
	cmd := exec.Command(ipcsdBinary(tb), args...)
	cmd.Dir = dir
	stderr, err := cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	p := &daemonProc{cmd: cmd, Dir: dir, done: make(chan error, 1)}
	ready := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.logs.WriteString(line + "\n")
			p.mu.Unlock()
			if m := readyRE.FindStringSubmatch(line); m != nil {
				select {
				case ready <- m:
				default:
				}
			}
		}
		io.Copy(io.Discard, stderr)
		p.done <- cmd.Wait()
	}()
	tb.Cleanup(func() { p.stop(tb) })
	select {
	case m := <-ready:
		p.HTTP, p.SIP = "http://"+m[1], m[2]
	case err := <-p.done:
		p.done <- err
		tb.Fatalf("ipcsd exited before ready: %v\n%s", err, p.Logs())
	case <-time.After(60 * time.Second):
		tb.Fatalf("ipcsd not ready in 60s\n%s", p.Logs())
	}
	return p
}

// Logs returns what the daemon has logged so far.
func (p *daemonProc) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// stop sends SIGTERM and checks a clean exit.
func (p *daemonProc) stop(tb testing.TB) {
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			tb.Errorf("ipcsd exit after SIGTERM: %v\n%s", err, p.Logs())
		}
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		tb.Errorf("ipcsd did not stop within 30s of SIGTERM\n%s", p.Logs())
	}
}

func getJSON(tb testing.TB, url, bearer string, out any) int {
	tb.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), "GET", url, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	} else {
		io.Copy(io.Discard, resp.Body)
	}
	return resp.StatusCode
}

func postJSON(tb testing.TB, url, bearer, body string, out any) int {
	tb.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), "POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	} else {
		io.Copy(io.Discard, resp.Body)
	}
	return resp.StatusCode
}

func login(tb testing.TB, base, role, user, secret string) string {
	tb.Helper()
	var out struct{ Token string }
	body, _ := json.Marshal(map[string]string{"role": role, "user": user, "secret": secret})
	if code := postJSON(tb, base+"/api/v1/login", "", string(body), &out); code != 200 || out.Token == "" {
		tb.Fatalf("login %s/%s: status %d", role, user, code)
	}
	return out.Token
}

func TestDaemonServesHealthMetricsAndStops(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	d := startDaemon(t)
	var health map[string]string
	if code := getJSON(t, d.HTTP+"/healthz", "", &health); code != 200 || health["status"] != "ok" {
		t.Fatalf("healthz: %d %v", code, health)
	}
	resp, err := http.Get(d.HTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "ipcs_meter_live_sessions") {
		t.Fatalf("/metrics lacks ipcs collectors:\n%.500s", body)
	}
	if code := getJSON(t, d.HTTP+"/debug/pprof/", "", nil); code != 401 {
		t.Fatalf("pprof without token: %d, want 401", code)
	}
	tok := login(t, d.HTTP, "admin", "admin", "admin")
	if code := getJSON(t, d.HTTP+"/debug/pprof/", tok, nil); code != 200 {
		t.Fatalf("pprof as admin: %d", code)
	}
	d.stop(t)
	if _, err := os.Stat(filepath.Join(d.Dir, "ipcs.db")); err != nil {
		t.Fatalf("database file not created: %v", err)
	}
}

func TestDaemonRefusesBadConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	out, err := exec.Command(ipcsdBinary(t), "-http", "nowhere").CombinedOutput()
	if err == nil {
		t.Fatal("ipcsd accepted -http nowhere")
	}
	if !strings.Contains(string(out), "config: http") {
		t.Fatalf("error does not name the field: %s", out)
	}
}

func TestDaemonDemoLedgerAndScheduler(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	d := startDaemon(t)
	admin := login(t, d.HTTP, "admin", "admin", "admin")
	var bal struct{ Available, Held string }
	if code := getJSON(t, d.HTTP+"/api/v1/accounts/r-1001/balance", admin, &bal); code != 200 || bal.Available != "20.00" {
		t.Fatalf("r-1001 balance: %d %+v, want 20.00", code, bal)
	}
	family := login(t, d.HTTP, "family", "visitor@demo.test", "demo")
	deposit := `{"account_id":"r-1003","amount":"5.00","idempotency_key":"e2e-1"}`
	for i := 0; i < 2; i++ { // the retry lands once
		var out map[string]any
		if code := postJSON(t, d.HTTP+"/api/v1/deposits", family, deposit, &out); code != 200 && code != 201 {
			t.Fatalf("deposit try %d: %d %v", i, code, out)
		}
		if _, leaked := out["available"]; leaked {
			t.Fatalf("deposit answer shows the family a balance: %v", out)
		}
	}
	if code := getJSON(t, d.HTTP+"/api/v1/accounts/r-1003/balance", admin, &bal); code != 200 || bal.Available != "5.00" {
		t.Fatalf("r-1003 after a retried $5 deposit: %d %+v, want 5.00", code, bal)
	}
	var errOut struct{ Error struct{ Code string } }
	if code := postJSON(t, d.HTTP+"/api/v1/deposits", family, `{"account_id":"r-1003","amount":"50.001","idempotency_key":"e2e-2"}`, &errOut); code != 400 || errOut.Error.Code != "invalid_amount" {
		t.Fatalf("deposit of 50.001: %d %+v", code, errOut)
	}
	if code := getJSON(t, d.HTTP+"/api/v1/accounts/r-1001/balance", family, nil); code != 403 {
		t.Fatalf("family reading a balance: %d, want 403", code)
	}
	var slots struct {
		Slots []map[string]any `json:"slots"`
	}
	if code := getJSON(t, d.HTTP+"/api/v1/facilities/demo/slots?days=1&tz=America/New_York", "", &slots); code != 200 || len(slots.Slots) == 0 {
		t.Fatalf("slots: %d, %d slots", code, len(slots.Slots))
	}

	// A restart re-seeds nothing: the demo balances stay as they are.
	d.stop(t)
	d2 := startDaemon(t, "-db", filepath.Join(d.Dir, "ipcs.db"), "-secret-file", filepath.Join(d.Dir, "secret"))
	admin = login(t, d2.HTTP, "admin", "admin", "admin")
	if code := getJSON(t, d2.HTTP+"/api/v1/accounts/r-1003/balance", admin, &bal); code != 200 || bal.Available != "5.00" {
		t.Fatalf("r-1003 after restart: %d %+v, want 5.00", code, bal)
	}
}
