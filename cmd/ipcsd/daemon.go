package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"sync"
	"time"

	"ipcs/api"
	"ipcs/internal/clock"
	"ipcs/internal/sqldb"
	"ipcs/internal/token"
	"ipcs/ledger"
	"ipcs/metrics"
	"ipcs/rating"
	"ipcs/scheduler"
	"ipcs/signaling"
	callswitch "ipcs/switch"
)

// daemon holds what ipcsd built, in the order it closes them.
type daemon struct {
	cfg     Config
	log     *slog.Logger
	clock   clock.Clock
	metrics *metrics.Metrics
	db      *sqldb.DB
	signer  *token.Signer
	auth    *api.Auth
	mux     *api.Mux
	httpLn  net.Listener
	book    *rating.Book
	ledger  *ledger.Ledger
	meter   *rating.Meter
	dir     *callswitch.Directory
	sw      *callswitch.Switch
	hub     *signaling.Hub
	sched   *scheduler.Scheduler
	// closers run in reverse order at shutdown.
	closers []func(context.Context) error
	// servers run until ctx ends; each returns when it has stopped.
	servers []func(context.Context) error
}

func newDaemon(ctx context.Context, cfg Config, log *slog.Logger) (d *daemon, err error) {
	d = &daemon{cfg: cfg, log: log, clock: clock.Real{}, metrics: metrics.New()}
	defer func() {
		if err != nil {
			d.close(context.Background())
		}
	}()
	if d.db, err = sqldb.Open(ctx, cfg.DB); err != nil {
		return nil, err
	}
	d.closers = append(d.closers, func(context.Context) error { return d.db.Close() })
	key, err := loadOrCreateKey(cfg.SecretFile)
	if err != nil {
		return nil, err
	}
	if d.signer, err = token.NewSigner(key); err != nil {
		return nil, err
	}
	d.auth = api.NewAuth(d.signer, d.clock, 12*time.Hour)
	d.mux = api.NewMux(d.metrics.HTTP, d.clock, log.With("component", "api"))
	if err := d.wire(ctx); err != nil {
		return nil, err
	}
	d.httpLn, err = net.Listen("tcp", cfg.HTTP)
	if err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	return d, nil
}

// routesBase mounts the routes every daemon has.
func (d *daemon) routesBase(creds map[api.Role]api.Credentials) {
	d.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := d.db.PingContext(r.Context()); err != nil {
			api.WriteError(w, r, d.log, api.Errorf(http.StatusServiceUnavailable, "unhealthy", "database unreachable"))
			return
		}
		api.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	d.mux.Handle("GET /metrics", d.metrics.Handler())
	d.mux.Route("POST /api/v1/login", d.auth.LoginHandler(creds))
	d.mux.Handle("/debug/pprof/", d.auth.Require(pprof.Index, api.RoleAdmin))
	for name, h := range map[string]http.HandlerFunc{
		"cmdline": pprof.Cmdline, "profile": pprof.Profile, "symbol": pprof.Symbol, "trace": pprof.Trace,
	} {
		d.mux.Handle("/debug/pprof/"+name, d.auth.Require(h, api.RoleAdmin))
	}
}

func (d *daemon) run(ctx context.Context) error {
	srv := &http.Server{
		Handler:           d.mux,
		ReadHeaderTimeout: api.Timeouts.ReadHeader,
		IdleTimeout:       api.Timeouts.Idle,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	var wg sync.WaitGroup
	errc := make(chan error, len(d.servers)+1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(d.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http: %w", err)
		}
	}()
	for _, s := range d.servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s(ctx); err != nil && !errors.Is(err, context.Canceled) {
				errc <- err
			}
		}()
	}
	d.log.Info("ipcsd ready", "http", d.httpLn.Addr().String(), "sip", d.sipAddr(), "db", d.db.Dialect.String(), "demo", d.cfg.Demo)

	var runErr error
	select {
	case <-ctx.Done():
		d.log.Info("ipcsd shutting down")
	case runErr = <-errc:
		d.log.Error("ipcsd component failed", "err", runErr)
	}
	sctx, cancel := context.WithTimeout(context.Background(), d.cfg.ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		d.log.Warn("http shutdown", "err", err)
	}
	closeErr := d.close(sctx)
	wg.Wait()
	return errors.Join(runErr, closeErr)
}

func (d *daemon) close(ctx context.Context) error {
	var errs []error
	for i := len(d.closers) - 1; i >= 0; i-- {
		if err := d.closers[i](ctx); err != nil {
			errs = append(errs, err)
		}
	}
	d.closers = nil
	return errors.Join(errs...)
}

// loadOrCreateKey reads the signing key, creating a random one with 0600
// permissions on first run so tokens survive restarts.
func loadOrCreateKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) < 32 {
			return nil, fmt.Errorf("config: secret_file: %s holds %d bytes, need at least 32", path, len(b))
		}
		return b, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("config: secret_file: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, key, 0o600); err != nil {
		return nil, fmt.Errorf("config: secret_file: %w", err)
	}
	return key, nil
}
