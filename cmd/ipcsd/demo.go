package main

import (
	"context"
	"fmt"

	"ipcs/internal/money"
	"ipcs/ledger"
)

// demoResident is one resident of the demo facility (README, issue 4).
type demoResident struct {
	ID      string
	PIN     string
	Balance money.Amount
}

// demoResidents: 1001 can talk for hours, 1002 is cut after about 20 s
// at $0.06 a minute, 1003 gets 402.
var demoResidents = []demoResident{
	{ID: "r-1001", PIN: "1001", Balance: 20 * money.Dollar},
	{ID: "r-1002", PIN: "1002", Balance: 2 * money.Cent},
	{ID: "r-1003", PIN: "1003", Balance: 0},
}

// seedLedger opens the demo accounts and funds them from trust once: the
// fixed keys make a restart a no-op.
func seedLedger(ctx context.Context, l *ledger.Ledger) error {
	for _, r := range demoResidents {
		if err := l.OpenAccount(ctx, ledger.Account{ID: r.ID, Facility: "demo"}); err != nil {
			return fmt.Errorf("demo: open %s: %w", r.ID, err)
		}
		if r.Balance == 0 {
			continue
		}
		if _, err := l.TransferFromTrust(ctx, ledger.TransferRequest{
			Key: "demo-seed:" + r.ID, AccountID: r.ID, Amount: r.Balance, StaffID: "demo", Memo: "demo opening balance",
		}); err != nil {
			return fmt.Errorf("demo: fund %s: %w", r.ID, err)
		}
	}
	return nil
}
