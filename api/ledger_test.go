package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ipcs/internal/clock"
	"ipcs/internal/money"
	"ipcs/internal/sqldb"
	"ipcs/internal/testutil"
	"ipcs/internal/token"
	"ipcs/ledger"
	"ipcs/ledger/postgres"
	"ipcs/ledger/sqlite"
	"ipcs/metrics"
)

type ledgerEnv struct {
	srv  *httptest.Server
	l    *ledger.Ledger
	auth *Auth
	clk  *clock.Fake
}

func newLedgerEnv(tb testing.TB) *ledgerEnv {
	tb.Helper()
	ctx := context.Background()
	db, err := sqldb.Open(ctx, filepath.Join(tb.TempDir(), "api.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	st, err := sqlite.Open(ctx, db, sqlite.Config{}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return ledgerEnvOn(tb, st)
}

// newPGLedgerEnv is newLedgerEnv on a schema of its own on the test
// PostgreSQL.
func newPGLedgerEnv(tb testing.TB) *ledgerEnv {
	tb.Helper()
	st, err := postgres.Open(context.Background(), testutil.PostgresSchemaDSN(tb, "api_ledger_"), postgres.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return ledgerEnvOn(tb, st)
}

// bothLedgers runs fn on a SQLite and on a PostgreSQL ledger.
func bothLedgers(t *testing.T, fn func(t *testing.T, e *ledgerEnv)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, newLedgerEnv(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, newPGLedgerEnv(t)) })
}

// ledgerEnvOn serves the ledger API of a Ledger on st, with accounts r1
// and r2 in facility f1, on a fake clock.
func ledgerEnvOn(tb testing.TB, st ledger.Store) *ledgerEnv {
	tb.Helper()
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 11, 18, 17, 0, 0, 0, time.UTC))
	m := metrics.New()
	l, err := ledger.New(st, ledger.Config{}, clk, m.Ledger)
	if err != nil {
		tb.Fatal(err)
	}
	signer, _ := token.NewSigner(bytes.Repeat([]byte("k"), 32))
	auth := NewAuth(signer, clk, time.Hour)
	mux := NewMux(m.HTTP, clk, nil)
	NewLedgerHandler(l, auth, nil).Register(mux)
	srv := httptest.NewServer(mux)
	tb.Cleanup(srv.Close)
	for _, id := range []string{"r1", "r2"} {
		if err := l.OpenAccount(ctx, ledger.Account{ID: id, Facility: "f1"}); err != nil {
			tb.Fatal(err)
		}
	}
	return &ledgerEnv{srv: srv, l: l, auth: auth, clk: clk}
}

func (e *ledgerEnv) token(tb testing.TB, role Role, subject, facility string) string {
	tb.Helper()
	tok, _, err := e.auth.Issue(Principal{Role: role, Subject: subject, Facility: facility})
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// do sends a request and returns the status and decoded JSON body.
func (e *ledgerEnv) do(tb testing.TB, method, path, tok, body string, hdr ...string) (int, map[string]any) {
	tb.Helper()
	status, raw := rawDo(tb, e, method, path, tok, body, hdr...)
	var out map[string]any
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		tb.Fatalf("%s %s: body is not JSON: %v", method, path, err)
	}
	return status, out
}

func errCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func TestLedgerAPIDeposits(t *testing.T) {
	testutil.CheckGoroutines(t)
	e := newLedgerEnv(t)
	fam := e.token(t, RoleFamily, "v1", "")
	tests := []struct {
		name   string
		body   string
		hdr    []string
		status int
		code   string
	}{
		{"ok", `{"account_id":"r1","amount":"20.00","idempotency_key":"d1"}`, nil, 201, ""},
		{"retry", `{"account_id":"r1","amount":"20.00","idempotency_key":"d1"}`, nil, 200, ""},
		{"key in header", `{"account_id":"r1","amount":"5"}`, []string{"Idempotency-Key", "d2"}, 201, ""},
		{"key conflict", `{"account_id":"r1","amount":"21.00","idempotency_key":"d1"}`, nil, 409, "idempotency_conflict"},
		{"header and body differ", `{"account_id":"r1","amount":"1","idempotency_key":"a"}`, []string{"Idempotency-Key", "b"}, 400, "invalid_idempotency_key"},
		{"no key", `{"account_id":"r1","amount":"1"}`, nil, 400, "invalid_idempotency_key"},
		{"three places", `{"account_id":"r1","amount":"1.005","idempotency_key":"x"}`, nil, 400, "invalid_amount"},
		{"zero", `{"account_id":"r1","amount":"0.00","idempotency_key":"x"}`, nil, 400, "invalid_amount"},
		{"negative", `{"account_id":"r1","amount":"-5.00","idempotency_key":"x"}`, nil, 400, "invalid_amount"},
		{"not a number", `{"account_id":"r1","amount":"ten","idempotency_key":"x"}`, nil, 400, "invalid_amount"},
		{"exponent", `{"account_id":"r1","amount":"1e2","idempotency_key":"x"}`, nil, 400, "invalid_amount"},
		{"absurd", `{"account_id":"r1","amount":"99999999999999","idempotency_key":"x"}`, nil, 400, "invalid_amount"},
		{"json number", `{"account_id":"r1","amount":20,"idempotency_key":"x"}`, nil, 400, "invalid_json"},
		{"per-transaction limit", `{"account_id":"r1","amount":"50.01","idempotency_key":"x"}`, nil, 422, "per_transaction_limit"},
		{"unknown account", `{"account_id":"nobody","amount":"5","idempotency_key":"y"}`, nil, 404, "not_found"},
		{"bad account id", `{"account_id":"r 1","amount":"5","idempotency_key":"y"}`, nil, 400, "invalid_account"},
		{"depositor spoofed", `{"account_id":"r1","amount":"5","idempotency_key":"z","depositor_id":"v2"}`, nil, 403, "forbidden"},
	}
	var firstID any
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := e.do(t, "POST", "/api/v1/deposits", fam, tt.body, tt.hdr...)
			if status != tt.status || errCode(body) != tt.code {
				t.Fatalf("got %d %v, want %d %s", status, body, tt.status, tt.code)
			}
			if status < 300 {
				for k := range body {
					if strings.Contains(k, "balance") || k == "available" || k == "held" {
						t.Fatalf("deposit answer reveals %q to family: %v", k, body)
					}
				}
				if tt.name == "ok" {
					firstID = body["id"]
				}
				if tt.name == "retry" && (body["id"] != firstID || body["replayed"] != true) {
					t.Fatalf("retry answered %v, first id %v", body, firstID)
				}
			}
		})
	}
	b, _ := e.l.Balance(context.Background(), "r1")
	if b.Available != 25*money.Dollar {
		t.Fatalf("balance %s, want 25.00", b.Available)
	}
	// The weekly limit: 25 so far; 5 × 50 more reach 275, then 30 is refused.
	for i := 0; i < 5; i++ {
		if s, body := e.do(t, "POST", "/api/v1/deposits", fam, `{"account_id":"r1","amount":"50"}`, "Idempotency-Key", "w"+string(rune('a'+i))); s != 201 {
			t.Fatalf("deposit %d: %d %v", i, s, body)
		}
	}
	if s, body := e.do(t, "POST", "/api/v1/deposits", fam, `{"account_id":"r1","amount":"30"}`, "Idempotency-Key", "over"); s != 409 || errCode(body) != "weekly_limit" {
		t.Fatalf("weekly: %d %v", s, body)
	}
}

func TestLedgerAPIAccess(t *testing.T) {
	testutil.CheckGoroutines(t)
	e := newLedgerEnv(t)
	admin := e.token(t, RoleAdmin, "root", "")
	kiosk1 := e.token(t, RoleKiosk, "r1", "f1")
	fam := e.token(t, RoleFamily, "v1", "")
	officer := e.token(t, RoleOfficer, "o1", "f1")
	otherAdmin := e.token(t, RoleAdmin, "a2", "f2")

	if s, b := e.do(t, "POST", "/api/v1/accounts/r1/trust-transfers", admin, `{"amount":"12.50","memo":"commissary"}`, "Idempotency-Key", "t1"); s != 201 {
		t.Fatalf("transfer: %d %v", s, b)
	}
	tests := []struct {
		name, method, path, tok, body string
		status                        int
		code                          string
	}{
		{"kiosk own balance", "GET", "/api/v1/accounts/r1/balance", kiosk1, "", 200, ""},
		{"kiosk other balance", "GET", "/api/v1/accounts/r2/balance", kiosk1, "", 403, "forbidden"},
		{"family balance", "GET", "/api/v1/accounts/r1/balance", fam, "", 403, "forbidden"},
		{"family statement", "GET", "/api/v1/accounts/r1/statement", fam, "", 403, "forbidden"},
		{"officer balance", "GET", "/api/v1/accounts/r1/balance", officer, "", 403, "forbidden"},
		{"no token", "GET", "/api/v1/accounts/r1/balance", "", "", 401, "unauthorized"},
		{"admin of another facility", "GET", "/api/v1/accounts/r1/balance", otherAdmin, "", 403, "forbidden"},
		{"admin statement", "GET", "/api/v1/accounts/r1/statement?limit=10", admin, "", 200, ""},
		{"bad statement query", "GET", "/api/v1/accounts/r1/statement?since=yesterday", admin, "", 400, "invalid_query"},
		{"unknown account", "GET", "/api/v1/accounts/zz/balance", admin, "", 404, "not_found"},
		{"family credit", "POST", "/api/v1/accounts/r1/credits", fam, `{"amount":"1","reason":"x","idempotency_key":"c"}`, 403, "forbidden"},
		{"credit", "POST", "/api/v1/accounts/r1/credits", admin, `{"amount":"0.42","reason":"re-rated","ref":"call-1","idempotency_key":"c1"}`, 201, ""},
		{"credit without reason", "POST", "/api/v1/accounts/r1/credits", admin, `{"amount":"0.42","idempotency_key":"c2"}`, 400, "invalid_reason"},
		{"refund while held", "POST", "/api/v1/accounts/r1/refunds", admin, `{"idempotency_key":"f1"}`, 409, "account_active"},
		{"cdrs", "GET", "/api/v1/cdrs?account_id=r1", admin, "", 200, ""},
		{"family cdrs", "GET", "/api/v1/cdrs", fam, "", 403, "forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, b := e.do(t, tt.method, tt.path, tt.tok, tt.body)
			if s != tt.status || errCode(b) != tt.code {
				t.Fatalf("got %d %v, want %d %s", s, b, tt.status, tt.code)
			}
		})
	}
	_, b := e.do(t, "GET", "/api/v1/accounts/r1/balance", kiosk1, "")
	if b["available"] != "12.92" || b["held"] != "0.00" {
		t.Fatalf("balance %v", b)
	}
	_, st := e.do(t, "GET", "/api/v1/accounts/r1/statement", kiosk1, "")
	if es, _ := st["entries"].([]any); len(es) != 2 {
		t.Fatalf("statement %v", st)
	}

	// Release refund: 30 days after release in the facility's zone.
	ctx := context.Background()
	if err := e.l.ReleaseAccount(ctx, "r1", time.Date(2026, 11, 18, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	if s, b := e.do(t, "POST", "/api/v1/accounts/r1/refunds", admin, `{"idempotency_key":"f2"}`); s != 409 || errCode(b) != "refund_window" {
		t.Fatalf("early refund: %d %v", s, b)
	}
	e.clk.Advance(31 * 24 * time.Hour)
	admin, fam = e.token(t, RoleAdmin, "root", ""), e.token(t, RoleFamily, "v1", "")
	if s, b := e.do(t, "POST", "/api/v1/accounts/r1/refunds", admin, `{"idempotency_key":"f3"}`); s != 201 || b["amount"] != "12.92" {
		t.Fatalf("refund: %d %v", s, b)
	}
	if s, b := e.do(t, "POST", "/api/v1/deposits", fam, `{"account_id":"r1","amount":"5"}`, "Idempotency-Key", "late"); s != 409 || errCode(b) != "account_released" {
		t.Fatalf("deposit after release: %d %v", s, b)
	}
}
