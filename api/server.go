package api

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"ipcs/internal/clock"
	"ipcs/metrics"
)

func constantTimeEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// Instrument wraps a handler registered under pattern (a bounded route
// label, e.g. "POST /api/v1/deposits") with latency and status metrics and
// a panic guard that answers 500 and keeps serving.
func Instrument(pattern string, h http.Handler, m *metrics.HTTP, clk clock.Clock, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := clk.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				m.Panics.Inc()
				if log != nil {
					log.Error("api: panic", "route", pattern, "panic", fmt.Sprint(v))
				}
				if sw.status == 0 {
					WriteError(sw, r, nil, ErrInternal)
				}
			}
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			m.Requests.WithLabelValues(pattern, strconv.Itoa(status/100)+"xx").Inc()
			m.Seconds.WithLabelValues(pattern).Observe(clk.Now().Sub(start).Seconds())
		}()
		h.ServeHTTP(sw, r)
	})
}

// Mux is an http.ServeMux whose every route is instrumented.
type Mux struct {
	*http.ServeMux
	m   *metrics.HTTP
	clk clock.Clock
	log *slog.Logger
}

// NewMux returns an instrumented mux.
func NewMux(m *metrics.HTTP, clk clock.Clock, log *slog.Logger) *Mux {
	return &Mux{ServeMux: http.NewServeMux(), m: m, clk: clk, log: log}
}

// ServeHTTP serves r. A request under /api/ that no route takes, for
// its path (404) or its method (405, with the mux's Allow header), is
// answered in the API's JSON error format; other paths (pages) get the
// mux's own answers.
func (x *Mux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		if h, pattern := x.ServeMux.Handler(r); pattern == "" {
			cw := &captureWriter{header: http.Header{}}
			h.ServeHTTP(cw, r)
			switch cw.status {
			case http.StatusNotFound:
				WriteError(w, r, x.log, ErrNotFound)
				return
			case http.StatusMethodNotAllowed:
				w.Header().Set("Allow", cw.header.Get("Allow"))
				WriteError(w, r, x.log, errMethodNotAllowed)
				return
			}
		}
	}
	x.ServeMux.ServeHTTP(w, r)
}

var errMethodNotAllowed = Errorf(http.StatusMethodNotAllowed, "method_not_allowed", "this route does not take that method")

// captureWriter keeps the status and headers the mux's own 404 or 405
// handler writes, and drops its plain-text body.
type captureWriter struct {
	header http.Header
	status int
}

func (c *captureWriter) Header() http.Header { return c.header }

func (c *captureWriter) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
}

func (c *captureWriter) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	return len(b), nil
}

// Route registers h under pattern (Go 1.22 pattern syntax) with metrics.
func (x *Mux) Route(pattern string, h http.Handler) {
	x.ServeMux.Handle(pattern, Instrument(pattern, h, x.m, x.clk, x.log))
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer (the
// WebSocket upgrade needs its Hijacker).
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Timeouts are the server-side limits every listener uses.
var Timeouts = struct{ ReadHeader, Idle time.Duration }{ReadHeader: 10 * time.Second, Idle: 120 * time.Second}
