package main

import (
	"context"
	"fmt"
	"time"

	"ipcs/internal/money"
	"ipcs/ledger"
	callswitch "ipcs/switch"
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

// demoDirectory is the demo facility's calling rules, phones and residents
// (issue 4): America/Chicago, calls all day, a 15-minute limit, one blocked
// and one privileged number, phones phone-101…104 with password "demo".
func demoDirectory() callswitch.DirectoryConfig {
	cfg := callswitch.DirectoryConfig{
		Facilities: []callswitch.FacilitySpec{{
			ID: "demo", Zone: "America/Chicago", CallLimit: 15 * time.Minute,
			Blocked: []string{"+15555550100"}, Privileged: []string{"+15555550199"},
		}},
	}
	for i := 101; i <= 104; i++ {
		cfg.Phones = append(cfg.Phones, callswitch.PhoneSpec{ID: fmt.Sprintf("phone-%d", i), Password: "demo", Facility: "demo"})
	}
	for _, r := range demoResidents {
		cfg.Residents = append(cfg.Residents, callswitch.ResidentSpec{ID: r.ID, Facility: "demo", PIN: r.PIN})
	}
	return cfg
}
