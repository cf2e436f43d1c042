package ledger

import (
	"time"

	"ipcs/internal/money"
)

// CDR is the call (or visit) detail record the ledger stores with a
// session's commit, or alone for a free session (RecordCDR). Service and
// Class are rating's values as strings, so that the ledger does not
// depend on rating's types.
type CDR struct {
	SessionID      string
	ReservationID  string // set by Commit
	Service        string // "audio", "video"
	Facility       string
	AccountID      string
	Destination    string // E.164 for calls, visit id or kind for visits
	Class          string
	Started        time.Time
	Answered       time.Time
	Ended          time.Time
	BilledSeconds  int64
	Amount         money.Amount
	TariffID       string
	TariffVersion  int64
	Rate           money.Amount // per minute
	IncrementFirst int64
	IncrementNext  int64
	Cause          string
	RecordingPath  string
	Privileged     bool
}

// CDRQuery selects CDRs: by account and/or facility, Since ≤ ended <
// Until, oldest first, at most Limit (default 100, max 1000); Ledger.CDRs
// pages with a cursor.
type CDRQuery struct {
	AccountID string
	Facility  string
	Since     time.Time
	Until     time.Time
	Limit     int
}
