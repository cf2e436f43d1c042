package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandlerServesPages(t *testing.T) {
	h := Handler()
	tests := []struct {
		path, ctype string
		contains    []string
	}{
		{"/", "text/html", []string{`id="signin-form"`, `src="/family.js"`, `id="visits"`}},
		{"/family.js", "javascript", []string{"/api/v1/bookings", "/api/v1/direct-dial", "resolvedOptions().timeZone", "v.join.url", `role: "family"`}},
		{"/style.css", "text/css", []string{":focus-visible"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", tt.path, nil))
			body, _ := io.ReadAll(rec.Body)
			if rec.Code != http.StatusOK || !strings.Contains(rec.Header().Get("Content-Type"), tt.ctype) {
				t.Fatalf("%d %q", rec.Code, rec.Header().Get("Content-Type"))
			}
			if rec.Header().Get("Content-Security-Policy") == "" {
				t.Fatal("no CSP")
			}
			for _, c := range tt.contains {
				if !strings.Contains(string(body), c) {
					t.Errorf("%s lacks %q", tt.path, c)
				}
			}
		})
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/nope.html", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("missing page: %d", rec.Code)
	}
}

// TestNoInlineScript keeps the pages within the CSP: no inline scripts
// or handlers, and data reaches the DOM as text, not as HTML.
func TestNoInlineScript(t *testing.T) {
	for _, name := range []string{"index.html", "family.js"} {
		b, err := static.ReadFile("static/" + name)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		for _, bad := range []string{"<script>", "onclick=", "innerHTML", "eval("} {
			if strings.Contains(s, bad) {
				t.Errorf("%s contains %q", name, bad)
			}
		}
	}
}
