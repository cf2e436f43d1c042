// Package testutil holds helpers shared by the tests of ipcs: the
// goroutine-leak check, and the gates for tests that need PostgreSQL,
// SIPp or Chromium (skipped with a reason on a developer's machine, failed
// loudly when CI is set).
package testutil

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// InCI reports whether the CI environment variable is set.
func InCI() bool { return os.Getenv("CI") != "" }

// Unavailable skips tb with reason, or fails it when CI is set, because CI
// must run every test that needs an outside part.
func Unavailable(tb testing.TB, reason string) {
	tb.Helper()
	if InCI() {
		tb.Fatalf("required in CI: %s", reason)
	}
	tb.Skip(reason)
}

// PostgresDSN returns the PostgreSQL test database address: IPCS_TEST_PG,
// or postgres://postgres@127.0.0.1:5432/test. It checks the server answers
// and calls Unavailable otherwise.
func PostgresDSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv("IPCS_TEST_PG")
	if dsn == "" {
		dsn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	db, err := sql.Open("pgx", dsn)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = db.PingContext(ctx)
		cancel()
		db.Close()
	}
	if err != nil {
		Unavailable(tb, fmt.Sprintf("no PostgreSQL at %s: %v", dsn, err))
	}
	return dsn
}

// Binary returns the path of the named program, or calls Unavailable.
func Binary(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Unavailable(tb, fmt.Sprintf("%s is not installed (apt-get install %s)", name, debianPackage(name)))
	}
	return p
}

func debianPackage(bin string) string {
	switch bin {
	case "sipp":
		return "sip-tester"
	}
	return bin
}

// CheckGoroutines records the goroutines running now and, when tb ends,
// fails it if new ones are still running after a grace period. Call it
// first in a test that starts sessions.
func CheckGoroutines(tb testing.TB) {
	tb.Helper()
	before := map[string]bool{}
	for _, g := range goroutines() {
		before[g.id] = true
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			return
		}
		var leaked []goroutine
		deadline := time.Now().Add(5 * time.Second)
		for {
			leaked = leaked[:0]
			for _, g := range goroutines() {
				if !before[g.id] && !ignorable(g.stack) {
					leaked = append(leaked, g)
				}
			}
			if len(leaked) == 0 || time.Now().After(deadline) {
				break
			}
			runtime.Gosched()
			time.Sleep(20 * time.Millisecond) // polling the runtime; no state to wait on
		}
		for _, g := range leaked {
			tb.Errorf("leaked goroutine:\n%s", g.stack)
		}
	})
}

type goroutine struct{ id, stack string }

func goroutines() []goroutine {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []goroutine
	for _, g := range strings.Split(string(buf), "\n\n") {
		head, _, _ := strings.Cut(g, "\n")
		f := strings.Fields(head) // "goroutine 12 [running]:"
		if len(f) < 2 {
			continue
		}
		out = append(out, goroutine{id: f[1], stack: g})
	}
	return out
}

// ignorable names goroutines owned by the runtime, the test framework or
// process-wide pools that outlive any one test by design.
func ignorable(stack string) bool {
	for _, s := range []string{
		"testing.(*T).Run", "testing.tRunner", "testing.runTests", "testing.(*M).",
		"runtime.goexit0", "created by runtime.gc", "runtime.MHeap_Scavenger",
		"signal.signal_recv", "os/signal.loop", "CheckGoroutines",
		"database/sql.(*DB).connectionOpener", "net/http.(*persistConn)",
	} {
		if strings.Contains(stack, s) && !strings.Contains(stack, "ipcs/") {
			return true
		}
	}
	return strings.Contains(stack, "goroutine running on other thread")
}

// PostgresSchemaDSN creates a schema of its own (named prefix + random
// hex) on the test PostgreSQL and returns an address whose search_path
// selects it, so tests never see each other's rows; the schema is dropped
// when tb ends. Like PostgresDSN it skips locally and fails in CI when no
// server answers.
func PostgresSchemaDSN(tb testing.TB, prefix string) string {
	tb.Helper()
	base := PostgresDSN(tb)
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatal(err)
	}
	schema := prefix + hex.EncodeToString(b[:])
	exec := func(q string) error {
		db, err := sql.Open("pgx", base)
		if err != nil {
			return err
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err = db.ExecContext(ctx, q)
		return err
	}
	if err := exec("CREATE SCHEMA " + schema); err != nil {
		tb.Fatalf("create schema %s: %v", schema, err)
	}
	tb.Cleanup(func() {
		if err := exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// FreeUDPPort returns a UDP port on 127.0.0.1 that was free a moment ago,
// for peers (SIPp) that must be told their port before they start.
func FreeUDPPort(tb testing.TB) int {
	tb.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// Tail returns the last 3,000 bytes of a peer's output for a failure
// message.
func Tail(b []byte) []byte {
	if len(b) > 3000 {
		return b[len(b)-3000:]
	}
	return b
}

// WaitFor waits until cond holds, yielding the processor between tries,
// and fails tb if it does not within 10 s. For state other goroutines
// change without an event to wait on.
func WaitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
	}
}
