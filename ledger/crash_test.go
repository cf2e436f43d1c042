package ledger_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"ipcs/internal/clock"
	"ipcs/internal/money"
	"ipcs/internal/sqldb"
	"ipcs/ledger"
	"ipcs/ledger/postgres"
	"ipcs/ledger/sqlite"
)

// crashEnv, when set in the environment to "sqlite:PATH" or
// "postgres:DSN", turns the test binary into the crash child.
const crashEnv = "IPCS_LEDGER_CRASH_CHILD"

func TestMain(m *testing.M) {
	if spec := os.Getenv(crashEnv); spec != "" {
		if err := crashChild(spec); err != nil {
			fmt.Fprintln(os.Stderr, "crash child:", err)
			os.Exit(2)
		}
		// Live reservations, waiting for SIGKILL. Waiting on a signal
		// keeps the runtime's deadlock detector quiet.
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		<-sig
		os.Exit(3)
	}
	os.Exit(m.Run())
}

func openSpec(ctx context.Context, spec string) (ledger.Store, func(), error) {
	kind, addr, _ := strings.Cut(spec, ":")
	if kind == "postgres" {
		s, err := postgres.Open(ctx, addr, postgres.Config{})
		if err != nil {
			return nil, nil, err
		}
		return s, func() { s.Close() }, nil
	}
	db, err := sqldb.Open(ctx, addr)
	if err != nil {
		return nil, nil, err
	}
	s, err := sqlite.Open(ctx, db, sqlite.Config{}, nil)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return s, func() { s.Close(); db.Close() }, nil
}

// The crash child's work: two deposits of $20 into each of 3 accounts;
// 4 sessions per account reserve $5 and checkpoint $1.25 (60 s);
// sessions 0 and 1 commit $1.50; sessions 2 and 3 stay live.
const (
	crashAccounts = 3
	crashSessions = 4
)

func crashChild(spec string) error {
	ctx := context.Background()
	store, _, err := openSpec(ctx, spec)
	if err != nil {
		return err
	}
	l, err := ledger.New(store, ledger.Config{NodeID: "node-a", HoldTTL: time.Hour}, clock.Real{}, nil)
	if err != nil {
		return err
	}
	for a := 0; a < crashAccounts; a++ {
		id := fmt.Sprint("r", a)
		if err := l.OpenAccount(ctx, ledger.Account{ID: id, Facility: "f"}); err != nil {
			return err
		}
		for d := 0; d < 2; d++ {
			if _, err := l.Deposit(ctx, ledger.DepositRequest{Key: fmt.Sprintf("dep-%s-%d", id, d), AccountID: id, Amount: 20 * money.Dollar, DepositorID: "v"}); err != nil {
				return err
			}
		}
		for s := 0; s < crashSessions; s++ {
			r, err := l.Reserve(ctx, ledger.ReserveRequest{Key: fmt.Sprintf("res-%s-%d", id, s), AccountID: id, SessionID: fmt.Sprintf("call-%s-%d", id, s), Want: 5 * money.Dollar})
			if err != nil {
				return err
			}
			if err := l.Checkpoint(ctx, r.ID, 60, 125*money.Cent); err != nil {
				return err
			}
			if s < 2 {
				if _, err := l.Commit(ctx, ledger.CommitRequest{ReservationID: r.ID, Amount: 150 * money.Cent, UsedSeconds: 70}); err != nil {
					return err
				}
			}
		}
	}
	// Every write above has been acknowledged, hence committed.
	fmt.Println("ready")
	return nil
}

func TestCrashRecovery(t *testing.T) {
	for _, k := range []struct {
		name string
		spec func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "crash.db") }},
		{"postgres", func(t *testing.T) string { return "postgres:" + pgSchemaDSN(t) }},
	} {
		t.Run(k.name, func(t *testing.T) {
			spec := k.spec(t)
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), crashEnv+"="+spec)
			cmd.Stderr = os.Stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			line, err := bufio.NewReader(out).ReadString('\n')
			if err != nil || line != "ready\n" {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("child said %q: %v", line, err)
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("child ended with %v, not SIGKILL", cmd.ProcessState)
			}

			store, closeStore, err := openSpec(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			defer closeStore()
			clk := clock.NewFake(time.Now().UTC()) // the child used the wall clock
			l, err := ledger.New(store, ledger.Config{NodeID: "node-a"}, clk, nil)
			if err != nil {
				t.Fatal(err)
			}
			n, err := l.Recover(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if want := crashAccounts * (crashSessions - 2); n != want {
				t.Fatalf("recover settled %d, want %d", n, want)
			}
			if n, err := l.Recover(ctx); err != nil || n != 0 {
				t.Fatalf("second recover: %d %v", n, err)
			}
			// 40 deposited − 2 × 1.50 committed − 2 × 1.25 checkpointed
			want := 40*money.Dollar - 2*150*money.Cent - 2*125*money.Cent
			for a := 0; a < crashAccounts; a++ {
				b, err := l.Balance(ctx, fmt.Sprint("r", a))
				if err != nil {
					t.Fatal(err)
				}
				if b.Available != want || b.Held != 0 {
					t.Fatalf("account r%d: %+v, want available %s", a, b, want)
				}
			}
			rep, err := l.Check(ctx)
			if err != nil || !rep.Clean() {
				t.Fatalf("check: %+v %v", rep.Differences, err)
			}
			if got := rep.Totals["deposits"]; got != -crashAccounts*40*money.Dollar {
				t.Fatalf("deposits total %s", got)
			}
			if got := rep.Totals["revenue"]; got != crashAccounts*(2*150+2*125)*money.Cent {
				t.Fatalf("revenue %s", got)
			}
		})
	}
}
