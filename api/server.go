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

// NewMux returns an instrumented mux. Requests under /api/ that no route
// takes are answered in the API's JSON error format (unrouted), not by the
// mux's plain text or a catch-all "/" (the daemon's pages).
func NewMux(m *metrics.HTTP, clk clock.Clock, log *slog.Logger) *Mux {
	x := &Mux{ServeMux: http.NewServeMux(), m: m, clk: clk, log: log}
	x.ServeMux.HandleFunc(apiPrefix, x.unrouted)
	return x
}

const apiPrefix = "/api/"

// apiMethods are the methods unrouted asks the mux about for a 405.
var apiMethods = [...]string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// unrouted answers a request under /api/ that no route matches: 405 with
// Allow when a route takes the path with another method, else 404. (A
// route of another method loses to this catch-all in the mux's matching,
// so the mux's own 405 never happens here.)
func (x *Mux) unrouted(w http.ResponseWriter, r *http.Request) {
	var allow []string
	probe := *r
	for _, m := range apiMethods {
		probe.Method = m
		if _, pattern := x.ServeMux.Handler(&probe); pattern != apiPrefix && pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) == 0 {
		WriteError(w, r, x.log, ErrNotFound)
		return
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	WriteError(w, r, x.log, errMethodNotAllowed)
}

var errMethodNotAllowed = Errorf(http.StatusMethodNotAllowed, "method_not_allowed", "this route does not take that method")

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
