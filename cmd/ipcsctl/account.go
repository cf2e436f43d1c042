package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net/url"
)

func runDeposit(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("deposit", flag.ContinueOnError)
	apiBase := fs.String("api", "http://127.0.0.1:8080", "ipcsd HTTP address")
	visitor := fs.String("visitor", "visitor@demo.test", "family member's sign-in")
	visitorPW := fs.String("visitor-password", "demo", "family member's password")
	account := fs.String("account", "", "resident account id (required)")
	amount := fs.String("amount", "", `amount in dollars, e.g. "5.00" (required)`)
	key := fs.String("key", "", "idempotency key (default: random; reuse one to retry safely)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *account == "" || *amount == "" {
		return exitError{code: 1, msg: "deposit needs --account and --amount"}
	}
	if *key == "" {
		b := make([]byte, 12)
		rand.Read(b)
		*key = "ipcsctl-" + hex.EncodeToString(b)
	}
	c, err := newClient(*apiBase)
	if err != nil {
		return err
	}
	if err := c.login(ctx, "family", *visitor, *visitorPW); err != nil {
		return err
	}
	var out map[string]any
	err = c.do(ctx, "POST", "/api/v1/deposits", map[string]string{"account_id": *account, "amount": *amount, "idempotency_key": *key}, &out)
	var ae *apiError
	if errors.As(err, &ae) {
		return exitError{code: 2, msg: "deposit refused: " + ae.Error()}
	} else if err != nil {
		return err
	}
	fmt.Printf("deposited $%v into %s (receipt %v, key %s)\n", out["amount"], *account, out["id"], *key)
	return nil
}

func runBalance(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("balance", flag.ContinueOnError)
	apiBase := fs.String("api", "http://127.0.0.1:8080", "ipcsd HTTP address")
	adminPW := fs.String("admin-password", "admin", "admin password")
	account := fs.String("account", "", "resident account id (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *account == "" {
		return exitError{code: 1, msg: "balance needs --account"}
	}
	c, err := newClient(*apiBase)
	if err != nil {
		return err
	}
	if err := c.login(ctx, "admin", "admin", *adminPW); err != nil {
		return err
	}
	var b struct{ Available, Held string }
	if err := c.do(ctx, "GET", "/api/v1/accounts/"+url.PathEscape(*account)+"/balance", nil, &b); err != nil {
		return err
	}
	fmt.Printf("%s: available $%s, held $%s\n", *account, b.Available, b.Held)
	return nil
}
