package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"time"

	"ipcs/internal/clock"
	"ipcs/rating"
	callswitch "ipcs/switch"
)

func runCall(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("call", flag.ContinueOnError)
	sw := fs.String("switch", "127.0.0.1:5060", "the switch's SIP address")
	transport := fs.String("transport", "udp", "udp or tcp")
	phone := fs.String("phone", "phone-101", "housing phone id (digest user)")
	password := fs.String("password", "demo", "the phone's digest password")
	pin := fs.String("pin", "", "resident PIN (required)")
	to := fs.String("to", "", "destination: E.164 or 10-digit North American number (required)")
	hold := fs.Duration("hold", 10*time.Second, "how long to stay on the call before hanging up")
	apiBase := fs.String("api", "http://127.0.0.1:8080", "ipcsd HTTP address, to read the call's charge")
	adminPW := fs.String("admin-password", "admin", "admin password, to read the call's charge")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *pin == "" || *to == "" {
		return exitError{code: 1, msg: "call needs --pin and --to"}
	}
	if *hold <= 0 || *hold > 24*time.Hour {
		return exitError{code: 1, msg: "--hold must be between 0 and 24h"}
	}
	clk := clock.Real{}
	start := clk.Now()
	fmt.Printf("calling %s with PIN %s from %s via %s/%s\n", *to, *pin, *phone, *sw, *transport)
	dctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	call, err := callswitch.Dial(dctx, callswitch.PhoneConfig{Switch: *sw, Transport: *transport, PhoneID: *phone, Password: *password}, *pin, *to)
	cancel()
	var ce *callswitch.CallError
	if errors.As(err, &ce) {
		msg := fmt.Sprintf("refused: %d %s", ce.Status, ce.Phrase)
		if ce.Reason != "" {
			msg += " (" + ce.Reason + ")"
		}
		return exitError{code: 2, msg: msg}
	} else if err != nil {
		return fmt.Errorf("call: %w", err)
	}
	answered := clk.Now()
	fmt.Printf("answered after %s\n", answered.Sub(start).Round(time.Millisecond))

	timer := clk.NewTimer(*hold)
	defer timer.Stop()
	ended := ""
wait:
	for {
		select {
		case w := <-call.Warnings():
			fmt.Printf("warning from the switch: %s\n", w)
		case <-call.Done():
			ended = "the switch ended the call: " + call.EndReason()
			break wait
		case <-timer.C():
			ended = "hung up after " + hold.String()
			break wait
		case <-ctx.Done():
			ended = "interrupted"
			break wait
		}
	}
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := call.Close(cctx); err != nil {
		fmt.Printf("hang-up: %v\n", err)
	}
	fmt.Printf("%s (%s connected)\n", ended, clk.Now().Sub(answered).Round(time.Second))
	return printCharge(cctx, clk, *apiBase, *adminPW, *to, start)
}

// printCharge finds the call's CDR (the newest for this destination that
// ended after the call began) and prints what it billed.
func printCharge(ctx context.Context, clk clock.Clock, base, adminPW, to string, since time.Time) error {
	dst, err := rating.NormalizeDestination(to)
	if err != nil {
		return err
	}
	c, err := newClient(base)
	if err != nil {
		return err
	}
	if err := c.login(ctx, "admin", "admin", adminPW); err != nil {
		fmt.Printf("charge: not shown (%v)\n", err)
		return nil
	}
	q := "/api/v1/cdrs?limit=1000&since=" + url.QueryEscape(since.Add(-time.Second).UTC().Format(time.RFC3339))
	retry := clk.NewTimer(0)
	defer retry.Stop()
	for attempt := 0; attempt < 20; attempt++ {
		select {
		case <-retry.C():
		case <-ctx.Done():
			return ctx.Err()
		}
		var out struct {
			CDRs []struct {
				Destination   string `json:"destination"`
				BilledSeconds int64  `json:"billed_seconds"`
				Amount        string `json:"amount"`
				Rate          string `json:"rate_per_minute"`
				TariffID      string `json:"tariff_id"`
				TariffVersion int64  `json:"tariff_version"`
				Cause         string `json:"cause"`
				First         int64  `json:"increment_first"`
				Next          int64  `json:"increment_next"`
			} `json:"cdrs"`
		}
		if err := c.do(ctx, "GET", q, nil, &out); err != nil {
			return fmt.Errorf("read CDRs: %w", err)
		}
		for i := len(out.CDRs) - 1; i >= 0; i-- {
			r := out.CDRs[i]
			if r.Destination != dst {
				continue
			}
			fmt.Printf("charged $%s for %d billed seconds at $%s/min (tariff %s v%d, increment %d/%d), cause %s\n",
				r.Amount, r.BilledSeconds, r.Rate, r.TariffID, r.TariffVersion, r.First, r.Next, r.Cause)
			return nil
		}
		retry.Reset(250 * time.Millisecond)
	}
	fmt.Println("charge: no CDR found yet")
	return nil
}
