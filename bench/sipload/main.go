package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/emiago/sipgo"

	"ipcs/internal/clock"
)

func main() {
	code, err := run(os.Args[1:])
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "sipload:", err)
			os.Exit(1)
		}
	}
	os.Exit(code)
}

// run returns the exit status: 0, or 2 when a step failed more than
// -max-fail-pct of its calls.
func run(args []string) (int, error) {
	cfg, err := parseFlags(args)
	if err != nil {
		return 1, err
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return 1, fmt.Errorf("-log-level: %q", cfg.LogLevel)
	}
	// sipgo logs through slog's default logger (a package global; set
	// once, here in main).
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	slog.SetDefault(log)
	sipgo.Init()

	clk := clock.Real{}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, cfg.Lifetime)
	defer cancel()
	// Hard bound: if winding down after -lifetime hangs, exit anyway.
	watchdog := clk.AfterFunc(cfg.Lifetime+45*time.Second, func() {
		fmt.Fprintln(os.Stderr, "sipload: lifetime exceeded; exiting")
		os.Exit(3)
	})
	defer watchdog.Stop()

	out, err := newOutput(os.Stdout, cfg.JSON)
	if err != nil {
		return 1, err
	}
	defer out.Close()

	var tr *trunk
	if cfg.UAS != "" {
		if tr, err = newTrunk(cfg, log); err != nil {
			return 1, err
		}
		defer tr.Close()
		fmt.Fprintf(os.Stderr, "sipload: trunk answering on %s (udp, tcp)\n", tr.lis.addr())
	}

	code := 0
	if cfg.Target != "" {
		c, err := newCaller(cfg, clk, log)
		if err != nil {
			return 1, err
		}
		defer c.Close()
		r := &runner{cfg: cfg, clk: clk, log: log, caller: c, probe: newProbe(cfg), progress: os.Stderr}
		if cfg.Concurrent > 0 {
			out.emit(r.memory(ctx))
		} else {
			for _, s := range r.sweep(ctx, out.emit) {
				if cfg.MaxFailPct >= 0 && s.FailPct > cfg.MaxFailPct {
					code = 2
				}
			}
		}
	} else {
		<-ctx.Done()
	}
	if tr != nil {
		out.emit(tr.report(cfg.Label))
	}
	out.table()
	return code, nil
}
