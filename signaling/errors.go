package signaling

import (
	"errors"

	"github.com/gorilla/websocket"

	"ipcs/internal/token"
)

var (
	// ErrMalformed means a message is not the /ws protocol.
	ErrMalformed = errors.New("malformed message")
	// ErrTooLarge means a message is over Config.MaxMessageBytes.
	ErrTooLarge = errors.New("message too large")
	// ErrFlood means a client sent messages faster than allowed.
	ErrFlood = errors.New("too many messages")
	// ErrSlow means a client did not drain its send queue.
	ErrSlow = errors.New("client too slow")
	// ErrTimeout means a client did not join or answer pings in time.
	ErrTimeout = errors.New("client timed out")
	// ErrOverload means the hub is at Config.MaxSockets.
	ErrOverload = errors.New("too many connections")
	// ErrBadToken means the join token is missing, forged or for another use.
	ErrBadToken = errors.New("invalid join token")
	// ErrTokenExpired means the join token's window has closed or not opened.
	ErrTokenExpired = errors.New("join token outside its window")
	// ErrUnknownVisit means no visit is booked under the token's id.
	ErrUnknownVisit = errors.New("unknown visit")
	// ErrNotOpen means the visit's slot has not started yet.
	ErrNotOpen = errors.New("visit not open yet")
	// ErrVisitOver means the visit's slot has closed, or the visit ended
	// or was cancelled.
	ErrVisitOver = errors.New("visit is over")
	// ErrForbidden means the role may not do that (e.g. a visitor ending a
	// visit, any role but officer monitoring).
	ErrForbidden = errors.New("not allowed for this role")
	// ErrPrivileged means an attorney visit cannot be monitored.
	ErrPrivileged = errors.New("privileged visit cannot be monitored")
	// ErrVisitFull means the visit already has its share of that role.
	ErrVisitFull = errors.New("visit is full")
	// ErrInsufficientFunds means the resident's balance cannot pay one
	// billing increment of the video tariff.
	ErrInsufficientFunds = errors.New("insufficient funds for a video visit")
	// ErrHoldLost means the visit's reservation was closed (settled by the
	// ledger) while the visit was live: it can no longer be metered.
	ErrHoldLost = errors.New("visit reservation closed")
	// ErrClosed means the hub is shutting down.
	ErrClosed = errors.New("signaling hub closed")
)

// Close codes beyond RFC 6455's, in the 4000–4999 private range; they
// mirror HTTP statuses so clients can branch on them.
const (
	closeBadToken  = 4401
	closeFunds     = 4402
	closeForbidden = 4403
	closeNotFound  = 4404
	closeTimeout   = 4408
	closeWindow    = 4409
	closeFlood     = 4429
	closeInternal  = 4500
)

// wireError is how an error is told to a client: an error message's code
// and text, the WebSocket close code (0: keep the socket open) and the
// Refused{reason} label (reason == code).
type wireError struct {
	Code      string
	Message   string
	CloseCode int
}

// answer turns err into its wire answer. It is the one place errors become
// client-visible; internal text never leaves it (STYLE.md, Errors).
func answer(err error) wireError {
	switch {
	case errors.Is(err, ErrTooLarge):
		return wireError{"too_large", "message too large", websocket.CloseMessageTooBig}
	case errors.Is(err, ErrMalformed):
		return wireError{"malformed", "message is not the visit protocol", 0}
	case errors.Is(err, ErrFlood):
		return wireError{"flood", "too many messages", closeFlood}
	case errors.Is(err, ErrSlow):
		return wireError{"slow", "connection too slow", closeTimeout}
	case errors.Is(err, ErrTimeout):
		return wireError{"timeout", "timed out", closeTimeout}
	case errors.Is(err, ErrOverload):
		return wireError{"overload", "too busy, retry shortly", websocket.CloseTryAgainLater}
	case errors.Is(err, ErrClosed):
		return wireError{"shutdown", "service restarting, retry shortly", websocket.CloseTryAgainLater}
	case errors.Is(err, token.ErrExpired), errors.Is(err, token.ErrNotYetValid), errors.Is(err, ErrTokenExpired):
		return wireError{"expired", "this link is not valid at this time", closeBadToken}
	case errors.Is(err, ErrBadToken), errors.Is(err, token.ErrMalformed),
		errors.Is(err, token.ErrSignature), errors.Is(err, token.ErrPurpose):
		return wireError{"bad_token", "this link is not valid", closeBadToken}
	case errors.Is(err, ErrUnknownVisit):
		return wireError{"not_found", "no such visit", closeNotFound}
	case errors.Is(err, ErrNotOpen):
		return wireError{"not_open", "the visit has not started yet", closeWindow}
	case errors.Is(err, ErrVisitOver):
		return wireError{"window", "the visit is over", closeWindow}
	case errors.Is(err, ErrPrivileged):
		return wireError{"privileged", "attorney visits cannot be monitored", closeForbidden}
	case errors.Is(err, ErrForbidden):
		return wireError{"forbidden", "not allowed", 0}
	case errors.Is(err, ErrVisitFull):
		return wireError{"full", "the visit is full", closeForbidden}
	case errors.Is(err, ErrInsufficientFunds):
		return wireError{"funds", "the resident's account cannot pay for this visit", closeFunds}
	}
	return wireError{"internal", "internal error", closeInternal}
}
