package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"ipcs/internal/money"
	"ipcs/ledger"
	"ipcs/metrics"
)

// rawDo sends a request and returns the status and the raw body.
func rawDo(tb testing.TB, e *ledgerEnv, method, path, tok, body string, hdr ...string) (int, string) {
	tb.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestAmbiguousBodiesAreRefused: encoding/json keeps the last of a field
// named twice and matches names without letter case, so a deposit whose
// "account_id" said r1 paid r2 when "Account_ID" followed; and data after
// the JSON object (a stray "}" or "]", or anything past the 64 KiB limit)
// was ignored. Such bodies are now refused, and nothing moves.
func TestAmbiguousBodiesAreRefused(t *testing.T) {
	e := newLedgerEnv(t)
	ctx := context.Background()
	fam := e.token(t, RoleFamily, "v1", "")
	for i, c := range []struct{ body, why string }{
		{`{"account_id":"r1","amount":"1.00","Account_ID":"r2"}`, "named twice"},
		{`{"account_id":"r1","amount":"1.00","account_id":"r2"}`, "named twice"},
		{`{"account_id":"r1","amount":"1.00","amount":"2.00"}`, "named twice"},
		{`{"account_id":"r1","amount":"1.00"}}`, "data after"},
		{`{"account_id":"r1","amount":"1.00"}]`, "data after"},
		{`{"account_id":"r1","amount":"1.00"}` + strings.Repeat(" ", MaxBody) + `garbage`, "too large"},
	} {
		b1, _ := e.l.Balance(ctx, "r1")
		b2, _ := e.l.Balance(ctx, "r2")
		s, out := rawDo(t, e, "POST", "/api/v1/deposits", fam, c.body, "Idempotency-Key", fmt.Sprint("amb", i))
		a1, _ := e.l.Balance(ctx, "r1")
		a2, _ := e.l.Balance(ctx, "r2")
		body := c.body
		if len(body) > 60 {
			body = body[:40] + "…"
		}
		if s < 400 || s >= 500 || !strings.Contains(out, c.why) || a1.Available != b1.Available || a2.Available != b2.Available {
			t.Errorf("body %s: %d %s (r1 %s -> %s, r2 %s -> %s), want a 4xx saying %q and no deposit",
				body, s, strings.TrimSpace(out), b1.Available, a1.Available, b2.Available, a2.Available, c.why)
		}
	}
	// Nested objects and arrays are scanned too, and a well-formed body
	// still lands.
	if err := uniqueNames([]byte(`{"a":[{"x":1,"y":{"k":1,"K":2}}]}`)); err == nil {
		t.Error(`a nested object naming "k" twice was accepted`)
	}
	if err := uniqueNames([]byte(`{"a":[{"x":1},{"x":2}],"b":{"x":{"x":[]}},"c":"x"}`)); err != nil {
		t.Errorf("the same name in different objects: %v", err)
	}
	if s, out := rawDo(t, e, "POST", "/api/v1/deposits", fam, `{"account_id":"r1","amount":"1.00"}`+"\n", "Idempotency-Key", "amb-ok"); s != http.StatusCreated {
		t.Errorf("a plain deposit: %d %s", s, out)
	}
}

// TestControlCharactersAreRefused: a NUL in a credit's reason or ref or
// a transfer's memo reached PostgreSQL, which answered an encoding error
// (500), while SQLite stored it in the audit trail. Text with control
// characters or invalid UTF-8 is now invalid input on both backends: 400,
// nothing moves.
func TestControlCharactersAreRefused(t *testing.T) {
	bothLedgers(t, func(t *testing.T, e *ledgerEnv) {
		ctx := context.Background()
		admin := e.token(t, RoleAdmin, "root", "")
		for i, c := range [][2]string{
			{"/api/v1/accounts/r1/credits", `{"amount":"1.00","reason":"re-rated\u0000"}`},
			{"/api/v1/accounts/r1/credits", `{"amount":"1.00","reason":"re-rated","ref":"call-1\u0000"}`},
			{"/api/v1/accounts/r1/credits", `{"amount":"1.00","reason":"line\nbreak"}`},
			{"/api/v1/accounts/r1/trust-transfers", `{"amount":"1.00","memo":"commissary\u0000"}`},
			{"/api/v1/accounts/r1/trust-transfers", "{\"amount\":\"1.00\",\"memo\":\"bad \xff utf-8\"}"},
		} {
			before, err := e.l.Balance(ctx, "r1")
			if err != nil {
				t.Fatal(err)
			}
			s, body := rawDo(t, e, "POST", c[0], admin, c[1], "Idempotency-Key", fmt.Sprint("ctl", i))
			after, err := e.l.Balance(ctx, "r1")
			if err != nil {
				t.Fatal(err)
			}
			if s != http.StatusBadRequest || after.Available != before.Available {
				t.Errorf("POST %s %q: %d %s (balance %s -> %s), want 400 and no movement",
					c[0], c[1], s, strings.TrimSpace(body), before.Available, after.Available)
			}
		}
	})
}

// TestReplayAnswersTheFirstInstant: a retry with the same key returns the
// first result. The first answer's "at" carried the clock's nanoseconds,
// the replay and the statement the stored microseconds: one deposit, two
// instants. The ledger now keeps microseconds throughout.
func TestReplayAnswersTheFirstInstant(t *testing.T) {
	e := newLedgerEnv(t)
	e.clk.Advance(123456789 * time.Nanosecond)
	fam := e.token(t, RoleFamily, "v1", "")
	body := `{"account_id":"r1","amount":"10.00"}`
	s1, first := e.do(t, "POST", "/api/v1/deposits", fam, body, "Idempotency-Key", "at-1")
	s2, again := e.do(t, "POST", "/api/v1/deposits", fam, body, "Idempotency-Key", "at-1")
	if s1 != http.StatusCreated || s2 != http.StatusOK || first["id"] != again["id"] {
		t.Fatalf("first %d %v, replay %d %v", s1, first, s2, again)
	}
	admin := e.token(t, RoleAdmin, "root", "")
	_, st := e.do(t, "GET", "/api/v1/accounts/r1/statement", admin, "")
	var stAt any
	if es, _ := st["entries"].([]any); len(es) == 1 {
		stAt = es[0].(map[string]any)["at"]
	}
	if first["at"] != again["at"] || first["at"] != stAt {
		t.Errorf("one deposit, three instants: first answer at %v, replay at %v, statement at %v", first["at"], again["at"], stAt)
	}
}

// TestReceiptIDsRevealNothing: a deposit's receipt id ended in a counter
// the node shared with every ledger operation, so a family member's two
// receipts told how many calls and visits the resident had between them.
// Receipt ids are now random: the same ledger work between two deposits
// gives unrelated ids.
func TestReceiptIDsRevealNothing(t *testing.T) {
	e := newLedgerEnv(t)
	ctx := context.Background()
	fam := e.token(t, RoleFamily, "v1", "")
	var ids []string
	for i := range 3 {
		_, d := e.do(t, "POST", "/api/v1/deposits", fam, `{"account_id":"r1","amount":"20.00"}`, "Idempotency-Key", fmt.Sprint("rid-", i))
		id, _ := d["id"].(string)
		ids = append(ids, id)
		// The resident places calls between the deposits.
		for j := range i + 1 {
			key := fmt.Sprint("call-", i, "-", j)
			r, err := e.l.Reserve(ctx, ledger.ReserveRequest{Key: key, AccountID: "r1", SessionID: key, Want: money.Dollar})
			if err != nil {
				t.Fatal(err)
			}
			if err := e.l.Release(ctx, r.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, id := range ids {
		rest, ok := strings.CutPrefix(id, "d-")
		if !ok || len(rest) < 24 || strings.ContainsAny(rest, "-") {
			t.Errorf("receipt %d id %q: want d- and at least 24 random characters", i, id)
		}
		for _, other := range ids[:i] {
			if common := commonPrefix(id, other); common > len("d-")+4 {
				t.Errorf("receipts %q and %q share %d leading characters", other, id, common)
			}
		}
	}
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// TestUnroutedAPIRequestsAnswerJSON: a path under /api/ that no route
// matches, or a method a route does not take, was answered in plain text,
// by the mux or, in the daemon, by the pages' catch-all "/" handler; API
// clients get the documented {"error":{…}} body instead, with the Allow
// header on a 405, whether or not a catch-all is registered.
func TestUnroutedAPIRequestsAnswerJSON(t *testing.T) {
	e := newLedgerEnv(t)
	for _, pages := range []bool{false, true} {
		mux := NewMux(metrics.New().HTTP, e.clk, nil)
		NewLedgerHandler(e.l, e.auth, nil).Register(mux)
		if pages {
			mux.Handle("/", http.NotFoundHandler()) // as cmd/ipcsd serves web pages
		}
		srv := httptest.NewServer(mux)
		for _, c := range []struct {
			method, path string
			status       int
			code, allow  string
		}{
			{"GET", "/api/v1/no-such-route", http.StatusNotFound, `"code":"not_found"`, ""},
			{"DELETE", "/api/v1/deposits", http.StatusMethodNotAllowed, `"code":"method_not_allowed"`, "POST"},
		} {
			req, err := http.NewRequest(c.method, srv.URL+c.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status || !strings.Contains(string(body), c.code) ||
				!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") ||
				resp.Header.Get("Allow") != c.allow {
				t.Errorf("pages %v: %s %s: %d %q (Content-Type %q, Allow %q), want %d with %s, Allow %q", pages,
					c.method, c.path, resp.StatusCode, body, resp.Header.Get("Content-Type"), resp.Header.Get("Allow"), c.status, c.code, c.allow)
			}
		}
		srv.Close()
	}
}
