package main

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"ipcs/api"
	"ipcs/rating"
	"ipcs/scheduler"
	"ipcs/web"
)

//go:embed demo_tariffs.yaml
var demoTariffs []byte

// wire builds the components and mounts their routes.
func (d *daemon) wire(ctx context.Context) error {
	creds := map[api.Role]api.Credentials{
		api.RoleAdmin:   api.StaticCredentials{"admin": {Secret: d.cfg.AdminPassword}},
		api.RoleOfficer: api.StaticCredentials{"officer": {Secret: d.cfg.AdminPassword, Facility: "demo"}},
	}
	book, err := d.loadBook()
	if err != nil {
		return err
	}
	d.book = book

	if d.ledger, err = d.openLedger(ctx); err != nil {
		return err
	}
	if d.cfg.Demo {
		if err := seedLedger(ctx, d.ledger); err != nil {
			return err
		}
	}
	if err := d.startMeter(); err != nil {
		return err
	}
	if err := d.startSwitch(ctx); err != nil {
		return err
	}
	creds[api.RoleKiosk] = kioskCredentials{d}
	lh := api.NewLedgerHandler(d.ledger, d.auth, d.log)
	lh.OnFunded(d.funded)
	lh.Register(d.mux)

	sched, err := scheduler.New(ctx, scheduler.Config{}, d.db, d.signer, d.clock, d.metrics.Scheduler,
		scheduler.WithLogger(d.log),
		scheduler.WithCrediter(visitCrediter{d.ledger}),
		scheduler.WithEnder(visitEnder{d}))
	if err != nil {
		return fmt.Errorf("scheduler: %w", err)
	}
	d.sched = sched
	if d.cfg.Demo {
		if _, err := sched.Seed(ctx, scheduler.DemoSpec{}); err != nil {
			return fmt.Errorf("demo: scheduler: %w", err)
		}
	}
	creds[api.RoleFamily] = api.FamilyCredentials(sched)
	api.NewSchedulerHandler(sched, d.auth, d.clock, d.log).Register(d.mux)

	if err := d.startSignaling(); err != nil {
		return err
	}
	d.routesBase(creds)
	d.mux.Handle("/", web.Handler())
	return nil
}

// loadBook reads the tariff files named in the config, or the embedded
// demo tariffs. Every tariff is checked against the FCC caps at load.
func (d *daemon) loadBook() (*rating.Book, error) {
	if len(d.cfg.Tariffs) == 0 {
		b, err := rating.ParseBook(demoTariffs, "demo_tariffs.yaml")
		if err != nil {
			return nil, fmt.Errorf("rating: %w", err)
		}
		return b, nil
	}
	paths := make([]string, len(d.cfg.Tariffs))
	for i, p := range d.cfg.Tariffs {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("config: tariffs[%d]: %w", i, err)
		}
		paths[i] = strings.TrimPrefix(abs, "/")
	}
	b, err := rating.LoadBook(os.DirFS("/"), paths...)
	if err != nil {
		return nil, fmt.Errorf("rating: %w", err)
	}
	return b, nil
}

// sipAddr is the SIP address actually bound.
func (d *daemon) sipAddr() string { return d.sw.Addr() }

// funded tells live calls and visits of an account that money landed, so
// their reservations extend at once.
func (d *daemon) funded(accountID string) {
	d.sw.TopUp(accountID)
	d.hub.TopUp(accountID)
}
