// Command ipcsctl is the operator and test CLI of ipcs: it places a call
// as a housing phone, opens a video visit for the demo family and
// resident, deposits and reads balances through the HTTP API.
//
//	ipcsctl call --pin 1001 --to +13125550123 --hold 10s
//	ipcsctl visit --resident r-1001
//	ipcsctl deposit --account r-1001 --amount 5.00
//	ipcsctl balance --account r-1001
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	var ex exitError
	switch {
	case errors.As(err, &ex):
		fmt.Fprintln(os.Stderr, "ipcsctl:", ex.msg)
		os.Exit(ex.code)
	case err != nil:
		fmt.Fprintln(os.Stderr, "ipcsctl:", err)
		os.Exit(1)
	}
}

// exitError carries a specific exit status: 2 for a refused call or
// request, 1 for anything else.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

const usage = `usage: ipcsctl COMMAND [flags]

commands:
  call     place a call as a housing phone and print the outcome and charge
  visit    open an on-demand video visit and print the family and kiosk links
  deposit  deposit money into a resident's account as the demo family
  balance  print a resident's balance (admin)

Run "ipcsctl COMMAND -h" for a command's flags.`

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return exitError{code: 1, msg: usage}
	}
	switch args[0] {
	case "call":
		return runCall(ctx, args[1:])
	case "visit":
		return runVisit(ctx, args[1:])
	case "deposit":
		return runDeposit(ctx, args[1:])
	case "balance":
		return runBalance(ctx, args[1:])
	case "-h", "--help", "help":
		fmt.Println(usage)
		return nil
	}
	return exitError{code: 1, msg: fmt.Sprintf("unknown command %q\n%s", args[0], usage)}
}
