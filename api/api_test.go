package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"ipcs/internal/clock"
	"ipcs/internal/token"
	"ipcs/metrics"
)

func newAuth(t *testing.T) (*Auth, *clock.Fake) {
	t.Helper()
	s, err := token.NewSigner(bytes.Repeat([]byte("s"), 32))
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
	return NewAuth(s, clk, time.Hour), clk
}

func decodeError(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var b errorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatalf("error body %q is not JSON: %v", rec.Body.String(), err)
	}
	return b.Error.Code
}

func TestLoginAndRequire(t *testing.T) {
	a, clk := newAuth(t)
	login := a.LoginHandler(map[Role]Credentials{
		RoleAdmin: StaticCredentials{"root": {Secret: "pw"}},
	})
	protected := a.Require(func(w http.ResponseWriter, r *http.Request) {
		p, _ := PrincipalFrom(r.Context())
		WriteJSON(w, 200, map[string]string{"subject": p.Subject})
	}, RoleAdmin)

	do := func(h http.HandlerFunc, body, bearer string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/", strings.NewReader(body))
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		rec := httptest.NewRecorder()
		h(rec, req)
		return rec
	}

	tests := []struct {
		name   string
		body   string
		status int
		code   string
	}{
		{"wrong secret", `{"role":"admin","user":"root","secret":"no"}`, 401, "bad_credentials"},
		{"unknown role", `{"role":"god","user":"root","secret":"pw"}`, 400, "invalid_login"},
		{"unknown field", `{"role":"admin","user":"root","secret":"pw","x":1}`, 400, "invalid_json"},
		{"not json", `role=admin`, 400, "invalid_json"},
		{"two objects", `{"role":"admin","user":"root","secret":"pw"}{}`, 400, "invalid_json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := do(login, tt.body, "")
			if rec.Code != tt.status || decodeError(t, rec) != tt.code {
				t.Fatalf("got %d %s, want %d %s", rec.Code, rec.Body.String(), tt.status, tt.code)
			}
		})
	}

	rec := do(login, `{"role":"admin","user":"root","secret":"pw"}`, "")
	if rec.Code != 200 {
		t.Fatalf("login: %d %s", rec.Code, rec.Body.String())
	}
	var out struct{ Token string }
	json.Unmarshal(rec.Body.Bytes(), &out)

	if rec := do(protected, "", out.Token); rec.Code != 200 || !strings.Contains(rec.Body.String(), "root") {
		t.Fatalf("protected with token: %d %s", rec.Code, rec.Body.String())
	}
	if rec := do(protected, "", ""); rec.Code != 401 {
		t.Fatalf("protected without token: %d", rec.Code)
	}
	fam, _, _ := a.Issue(Principal{Role: RoleFamily, Subject: "v1"})
	if rec := do(protected, "", fam); rec.Code != 403 {
		t.Fatalf("protected with family token: %d", rec.Code)
	}
	clk.Advance(2 * time.Hour)
	if rec := do(protected, "", out.Token); rec.Code != 401 {
		t.Fatalf("protected with expired token: %d", rec.Code)
	}

	// Guessing is throttled: five wrong secrets lock the user out, even
	// with the right secret, until the window ends.
	for i := 0; i < MaxLoginFailures; i++ {
		do(login, `{"role":"admin","user":"root","secret":"guess"}`, "")
	}
	if rec := do(login, `{"role":"admin","user":"root","secret":"pw"}`, ""); rec.Code != 429 || decodeError(t, rec) != "locked_out" {
		t.Fatalf("after %d failures: %d %s", MaxLoginFailures, rec.Code, rec.Body.String())
	}
	clk.Advance(LoginLockout)
	if rec := do(login, `{"role":"admin","user":"root","secret":"pw"}`, ""); rec.Code != 200 {
		t.Fatalf("after the lockout window: %d %s", rec.Code, rec.Body.String())
	}
}

func TestInstrumentRecoversPanics(t *testing.T) {
	m := metrics.New()
	clk := clock.NewFake(time.Unix(0, 0))
	mux := NewMux(m.HTTP, clk, nil)
	mux.Route("GET /boom", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for i := 0; i < 2; i++ {
		resp, err := http.Get(srv.URL + "/boom")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 500 {
			t.Fatalf("status %d, want 500", resp.StatusCode)
		}
	}
	if got := counterValue(t, m, "ipcs_http_panics_total"); got != 2 {
		t.Fatalf("panics counted %v, want 2", got)
	}
}

func counterValue(t *testing.T, m *metrics.Metrics, name string) float64 {
	t.Helper()
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name {
			var sum float64
			for _, mt := range f.GetMetric() {
				sum += mt.GetCounter().GetValue()
			}
			return sum
		}
	}
	return 0
}
