package callswitch

import (
	"errors"
	"fmt"
)

// Sentinel errors. Each maps to one SIP answer in answer.go; peers never
// see their text.
var (
	// ErrMalformed means a request lacks a header the switch needs or has
	// one it cannot read; the answer is 400.
	ErrMalformed = errors.New("malformed request")
	// ErrDialString means the Request-URI user part is not a dial string
	// at all (characters outside digits, '*' and a leading '+', or
	// oversized); the answer is 400.
	ErrDialString = errors.New("malformed dial string")
	// ErrNoRoute means the user part is well formed but is not PIN*NUMBER;
	// the answer is 404.
	ErrNoRoute = errors.New("dial string does not match the dial plan")
	// ErrUnauthenticated means the request carries no valid credentials;
	// the answer is a 401 digest challenge.
	ErrUnauthenticated = errors.New("authentication required")
	// ErrBadCredentials means digest credentials were present but wrong.
	ErrBadCredentials = errors.New("bad credentials")
	// ErrUnknownPhone means an authenticated phone or gateway has no
	// facility in the directory.
	ErrUnknownPhone = errors.New("unknown phone")
	// ErrBadPIN means no active resident of the phone's facility has the PIN.
	ErrBadPIN = errors.New("invalid pin")
	// ErrPINLocked means the phone is locked out after repeated bad PINs.
	ErrPINLocked = errors.New("phone locked out for pin guessing")
	// ErrResidentInactive means the resident may not place calls (suspended, released).
	ErrResidentInactive = errors.New("resident not active")
	// ErrBlocked means the number is blocked for the facility or the resident.
	ErrBlocked = errors.New("number blocked")
	// ErrNotAllowed means the facility requires an allowed-number list and
	// the number is not on the resident's.
	ErrNotAllowed = errors.New("number not on allowed list")
	// ErrCallingHours means the facility's calling hours are closed.
	ErrCallingHours = errors.New("outside calling hours")
	// ErrInvalidDestination means the number is not E.164 or 10-digit NANP; 404.
	ErrInvalidDestination = errors.New("invalid destination")
	// ErrPaymentRequired means the balance cannot pay one billing increment
	// or the ledger refused the reservation; 402.
	ErrPaymentRequired = errors.New("payment required")
	// ErrOverload means the switch is at its concurrent-call limit; 503
	// with Retry-After.
	ErrOverload = errors.New("too many concurrent calls")
	// ErrShuttingDown means the switch is closing; 503.
	ErrShuttingDown = errors.New("switch shutting down")
	// ErrNoAnswer means the trunk did not answer within the no-answer
	// timeout; 480 to the phone.
	ErrNoAnswer = errors.New("no answer")
	// ErrCancelled means the phone cancelled the call before answer.
	ErrCancelled = errors.New("cancelled by caller")
	// ErrTrunk means the trunk leg failed without a SIP answer (timeout,
	// transport error); 503 to the phone.
	ErrTrunk = errors.New("trunk unreachable")
	// ErrPanic marks a recovered panic; 500.
	ErrPanic = errors.New("internal error")
	// ErrClosed means Start was called after Close, or twice.
	ErrClosed = errors.New("switch closed")
	// ErrInvalidConfig means a Config or DirectoryConfig field is wrong.
	ErrInvalidConfig = errors.New("invalid config")
)

// TrunkError is a final non-2xx answer from the trunk. The switch passes
// its status through to the phone (480, 486, 487, 503, …).
type TrunkError struct {
	Status int
	Reason string
}

func (e *TrunkError) Error() string { return fmt.Sprintf("trunk answered %d %s", e.Status, e.Reason) }

// ConfigError names the field of a Config or DirectoryConfig that is wrong.
type ConfigError struct {
	Field string
	Err   error
}

func (e *ConfigError) Error() string { return fmt.Sprintf("%s: %v", e.Field, e.Err) }

func (e *ConfigError) Unwrap() []error { return []error{ErrInvalidConfig, e.Err} }

func configErr(field, format string, args ...any) error {
	return &ConfigError{Field: field, Err: fmt.Errorf(format, args...)}
}

// CallError is a final non-2xx answer a phone got from the switch (Dial).
type CallError struct {
	Status int
	Phrase string
	// Reason is the answer's Reason header, e.g. `Q.850;cause=21;text="invalid PIN"`.
	Reason string
}

func (e *CallError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("call refused: %d %s (%s)", e.Status, e.Phrase, e.Reason)
	}
	return fmt.Sprintf("call refused: %d %s", e.Status, e.Phrase)
}
