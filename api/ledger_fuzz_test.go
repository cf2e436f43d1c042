package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/shopspring/decimal"

	"ipcs/internal/money"
	"ipcs/ledger"
)

// FuzzLedgerAmount checks ParseAmount, the gate for every amount the API
// reads: what it accepts is exact, has at most 2 places, and is in range.
func FuzzLedgerAmount(f *testing.F) {
	for _, s := range []string{"20.00", "0.01", "50", "1.005", "0", "-1", "1e3", " 1", "99999999999", "100000.00", "100000.01", "", "."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAmount(s)
		if err != nil {
			if a != 0 {
				t.Fatalf("refused %q but returned %d", s, a)
			}
			return
		}
		if a <= 0 || a > ledger.MaxAmount || a%money.Cent != 0 {
			t.Fatalf("ParseAmount(%q) = %d", s, a)
		}
		d, err := decimal.NewFromString(s)
		if err != nil || !d.Equal(a.Decimal()) {
			t.Fatalf("ParseAmount(%q) = %s, decimal says %v %v", s, a, d, err)
		}
	})
}

// FuzzDepositJSON throws arbitrary bodies at POST /api/v1/deposits (as a
// family member) against a real SQLite ledger: every answer is JSON; no
// input causes a 500; only a body with a valid amount lands, and then
// the balance grows by exactly that amount.
func FuzzDepositJSON(f *testing.F) {
	for _, s := range []string{
		`{"account_id":"r1","amount":"20.00","idempotency_key":"k"}`,
		`{"account_id":"r1","amount":"50.01","idempotency_key":"k"}`,
		`{"account_id":"r1","amount":"1.001","idempotency_key":"k"}`,
		`{"account_id":"r1","amount":20,"idempotency_key":"k"}`,
		`{"account_id":"r1","amount":"-1","idempotency_key":"k"}`,
		`{"account_id":"r1","amount":"1","idempotency_key":"k","x":1}`,
		`{"account_id":"r1","amount":"1","depositor_id":"v1","idempotency_key":"k"}`,
		`[]`, `null`, ``, `{"account_id":"r1"}{}`,
	} {
		f.Add([]byte(s))
	}
	e := newLedgerEnv(f)
	fam := e.token(f, RoleFamily, "v1", "")
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, body []byte) {
		before, err := e.l.Balance(ctx, "r1")
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest("POST", "/api/v1/deposits", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+fam)
		rec := httptest.NewRecorder()
		h := NewLedgerHandler(e.l, e.auth, nil)
		e.auth.Require(h.deposit, RoleFamily, RoleAdmin)(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%q: status %d %s", body, rec.Code, rec.Body.String())
		}
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%q: answer is not JSON: %q", body, rec.Body.String())
		}
		after, err := e.l.Balance(ctx, "r1")
		if err != nil {
			t.Fatal(err)
		}
		delta := after.Available - before.Available
		switch rec.Code {
		case http.StatusCreated:
			var in DepositInput
			if err := json.Unmarshal(body, &in); err != nil {
				t.Fatalf("%q landed but is not JSON", body)
			}
			a, err := ParseAmount(in.Amount)
			if err != nil || (in.AccountID == "r1" && delta != a) || a > 50*money.Dollar {
				t.Fatalf("%q landed: amount %s, balance moved %s", body, a, delta)
			}
		default:
			if delta != 0 {
				t.Fatalf("%q: status %d but balance moved %s", body, rec.Code, delta)
			}
		}
	})
}
