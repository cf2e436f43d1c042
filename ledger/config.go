package ledger

import (
	"fmt"
	"time"

	"ipcs/internal/money"
)

// Config holds the ledger's operator settings. Zero values mean the
// documented defaults (see Defaults).
type Config struct {
	// NodeID names this ipcsd node. Reservations record the node that made
	// them, so that Recover at start-up settles this node's open
	// reservations at once (its sessions died with it) and leaves other
	// nodes' live ones alone. Empty: Recover settles only expired ones.
	NodeID string
	// HoldTTL is how long a reservation lives without a checkpoint or an
	// extension when the caller gives no expiry; each Extend or Checkpoint
	// pushes the expiry out by the reservation's own TTL. Default 2m.
	HoldTTL time.Duration
	// SettleEvery is how often Run settles expired reservations.
	// Default 30s.
	SettleEvery time.Duration
	// DepositMax is the per-transaction deposit maximum of a facility
	// with no setting of its own. Default $50.00 (DESIGN.md).
	DepositMax money.Amount
	// WeeklyMax is the weekly deposit maximum per resident of a facility
	// with no setting of its own. Default $300.00 (DESIGN.md).
	WeeklyMax money.Amount
	// DefaultZone is the IANA zone of a facility with no setting of its
	// own; it bounds the calendar week and the refund window. Default
	// "UTC".
	DefaultZone string
}

// Defaults are the values used for zero Config fields.
var Defaults = Config{
	HoldTTL:     2 * time.Minute,
	SettleEvery: 30 * time.Second,
	DepositMax:  50 * money.Dollar,
	WeeklyMax:   300 * money.Dollar,
	DefaultZone: "UTC",
}

// MaxAmount is the largest amount any single ledger operation moves:
// $100,000.00. Larger values are refused as absurd (ErrInvalid) before
// anything is written.
const MaxAmount = 100_000 * money.Dollar

// Refund window after release (DESIGN.md "Domain rules from the field").
const (
	RefundAfterDays    = 30
	RefundWithinMonths = 12
)

func (c Config) withDefaults() Config {
	d := Defaults
	if c.HoldTTL == 0 {
		c.HoldTTL = d.HoldTTL
	}
	if c.SettleEvery == 0 {
		c.SettleEvery = d.SettleEvery
	}
	if c.DepositMax == 0 {
		c.DepositMax = d.DepositMax
	}
	if c.WeeklyMax == 0 {
		c.WeeklyMax = d.WeeklyMax
	}
	if c.DefaultZone == "" {
		c.DefaultZone = d.DefaultZone
	}
	return c
}

// Validate reports the first bad field, by name.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case len(c.NodeID) > 64:
		return fmt.Errorf("ledger: NodeID longer than 64 bytes")
	case c.HoldTTL < time.Second:
		return fmt.Errorf("ledger: HoldTTL %v is below 1s", c.HoldTTL)
	case c.SettleEvery < time.Second:
		return fmt.Errorf("ledger: SettleEvery %v is below 1s", c.SettleEvery)
	case c.DepositMax <= 0 || c.DepositMax > MaxAmount:
		return fmt.Errorf("ledger: DepositMax %s out of range", c.DepositMax)
	case c.WeeklyMax <= 0 || c.WeeklyMax > MaxAmount:
		return fmt.Errorf("ledger: WeeklyMax %s out of range", c.WeeklyMax)
	}
	if _, err := time.LoadLocation(c.DefaultZone); err != nil {
		return fmt.Errorf("ledger: DefaultZone: %w", err)
	}
	return nil
}
