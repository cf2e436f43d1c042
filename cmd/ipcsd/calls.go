package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"ipcs/api"
	"ipcs/rating"
	callswitch "ipcs/switch"
)

// startMeter builds the one Meter of the daemon, funded by the ledger.
func (d *daemon) startMeter() error {
	m, err := rating.NewMeter(rating.MeterConfig{}, d.ledger, d.clock, d.metrics.Meter,
		rating.WithLogger(d.log))
	if err != nil {
		return fmt.Errorf("meter: %w", err)
	}
	d.meter = m
	d.closers = append(d.closers, func(context.Context) error { return m.Close() })
	return nil
}

// startSwitch builds the call switch, its trunk (the built-in demo trunk
// unless -trunk names one) and binds its listeners.
func (d *daemon) startSwitch(ctx context.Context) error {
	dir, err := d.directory()
	if err != nil {
		return err
	}
	d.dir = dir
	trunk := d.cfg.Trunk
	if trunk == "" {
		t, err := callswitch.NewDemoTrunk(callswitch.TrunkConfig{Listen: "127.0.0.1:0", RingDelay: 500 * time.Millisecond})
		if err != nil {
			return fmt.Errorf("demo trunk: %w", err)
		}
		d.closers = append(d.closers, func(context.Context) error { return t.Close() })
		trunk = t.URI()
	}
	var trusted []callswitch.TrustedNetwork
	for _, n := range d.cfg.TrustedNetworks {
		cidr, fac, _ := strings.Cut(n, "=")
		trusted = append(trusted, callswitch.TrustedNetwork{CIDR: cidr, Facility: fac})
	}
	sw, err := callswitch.New(callswitch.Config{Listen: d.cfg.SIP, Trunk: trunk, TrustedNetworks: trusted, MaxCalls: d.cfg.MaxCalls},
		dir, d.book, d.ledger, d.meter, d.metrics.Calls,
		callswitch.WithClock(d.clock), callswitch.WithLogger(d.log))
	if err != nil {
		return err
	}
	if err := sw.Start(ctx); err != nil {
		return err
	}
	d.sw = sw
	d.closers = append(d.closers, func(context.Context) error { return sw.Close() })
	return nil
}

// directory is the demo's phones and residents, or the -directory file.
func (d *daemon) directory() (*callswitch.Directory, error) {
	var cfg callswitch.DirectoryConfig
	switch {
	case d.cfg.Directory != "":
		b, err := os.ReadFile(d.cfg.Directory)
		if err != nil {
			return nil, fmt.Errorf("config: directory: %w", err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil {
			return nil, fmt.Errorf("config: directory %s: %w", d.cfg.Directory, err)
		}
	case d.cfg.Demo:
		cfg = demoDirectory()
	}
	dir, err := callswitch.NewDirectory(cfg)
	if err != nil {
		return nil, fmt.Errorf("directory: %w", err)
	}
	return dir, nil
}

// kioskCredentials signs a resident kiosk in with the resident id and PIN.
type kioskCredentials struct{ d *daemon }

func (k kioskCredentials) Check(_ context.Context, user, secret string) (string, string, error) {
	fac, ok := k.d.dir.CheckPIN(user, secret)
	if !ok {
		return "", "", api.ErrBadCredentials
	}
	return user, fac, nil
}
