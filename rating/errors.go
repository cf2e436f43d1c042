package rating

import (
	"errors"
	"fmt"
)

var (
	// ErrInsufficientFunds means the balance cannot pay for one billing
	// increment; the switch answers 402 Payment Required.
	ErrInsufficientFunds = errors.New("insufficient funds for one billing increment")
	// ErrInvalidDestination means a dialed number is not E.164 or a
	// 10-digit North American number; the switch answers 404.
	ErrInvalidDestination = errors.New("invalid destination")
	// ErrUnknownFacility means the facility id is not in the Book.
	ErrUnknownFacility = errors.New("unknown facility")
	// ErrNoTariff means no tariff version or no class rate covers the session.
	ErrNoTariff = errors.New("no tariff")
	// ErrWindowClosed means the session's hard end is not after its start.
	ErrWindowClosed = errors.New("session window closed")
	// ErrMeterClosed means Start was called after Close.
	ErrMeterClosed = errors.New("meter closed")
	// ErrInvalidSession means a SessionSpec is incomplete or inconsistent.
	ErrInvalidSession = errors.New("invalid session spec")
	// ErrInvalidTariff means a tariff or facility file is malformed.
	ErrInvalidTariff = errors.New("invalid tariff")
	// ErrCapExceeded means a tariff rate is above its regulatory cap.
	ErrCapExceeded = errors.New("rate exceeds regulatory cap")
	// ErrFeeForbidden means a tariff declares a per-call, connect or other
	// ancillary fee, which FCC 24-75 bans (47 CFR § 64.6020 as amended).
	ErrFeeForbidden = errors.New("per-call and connect fees are forbidden")
)

// FileError is a refusal of a tariff or facility file. It names the file
// and the offending field; for cap refusals it also carries the rate, the
// cap and the order the cap comes from.
type FileError struct {
	File  string // file name as given to ParseBook/LoadBook
	Field string // dotted path, e.g. "tariffs[0].rates.local.rate"
	Rate  string // offending rate or fee, as written
	Cap   string // the cap it was checked against ("" when none)
	Order string // the cap's source, e.g. "FCC 24-75"
	Err   error  // ErrInvalidTariff, ErrCapExceeded, ErrFeeForbidden, or a parse error
}

func (e *FileError) Error() string {
	s := e.File
	if e.Field != "" {
		s += ": " + e.Field
	}
	switch {
	case e.Cap != "":
		return fmt.Sprintf("%s: rate %s exceeds cap %s (%s): %v", s, e.Rate, e.Cap, e.Order, e.Err)
	case e.Rate != "":
		return fmt.Sprintf("%s: %s: %v", s, e.Rate, e.Err)
	}
	return fmt.Sprintf("%s: %v", s, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }
