package callswitch

import (
	"errors"
	"strconv"

	"github.com/emiago/sipgo/sip"

	"ipcs/rating"
)

// Outcomes label metrics.Calls.Attempts (bounded set).
const (
	outcomeAnswered       = "answered"
	outcomeRejectedAuth   = "rejected_auth"
	outcomeRejectedPIN    = "rejected_pin"
	outcomeRejectedPolicy = "rejected_policy"
	outcomePayment        = "payment_required"
	outcomeInvalidDest    = "invalid_destination"
	outcomeBusy           = "busy"
	outcomeNoAnswer       = "no_answer"
	outcomeCancelled      = "cancelled"
	outcomeTrunkFailure   = "trunk_failure"
	outcomeOverload       = "overload"
	outcomeBadRequest     = "bad_request"
	outcomeError          = "error"
)

// wireAnswer is how one error looks on the wire.
type wireAnswer struct {
	status  int
	phrase  string
	reason  string // Reason header value (RFC 3326), "" for none
	outcome string // metrics label; "" for a plain challenge (not an attempt yet)
}

// classify is the one place where errors become SIP answers (DESIGN.md
// "Answers"). Peers never see internal error text: the Reason header
// carries a fixed phrase per cause. Q.850 cause 21 is "call rejected".
func classify(err error) wireAnswer {
	var te *TrunkError
	var ce *challengeError
	switch {
	case errors.As(err, &ce):
		a := wireAnswer{status: sip.StatusUnauthorized, phrase: "Unauthorized"}
		if errors.Is(err, ErrBadCredentials) {
			a.outcome = outcomeRejectedAuth
		}
		return a
	case errors.Is(err, ErrDialString), errors.Is(err, ErrMalformed):
		return wireAnswer{status: sip.StatusBadRequest, phrase: "Bad Request", outcome: outcomeBadRequest}
	case errors.Is(err, ErrPINLocked):
		return wireAnswer{status: sip.StatusForbidden, phrase: "Forbidden", reason: q850(21, "phone locked out"), outcome: outcomeRejectedPIN}
	case errors.Is(err, ErrBadPIN):
		return wireAnswer{status: sip.StatusForbidden, phrase: "Forbidden", reason: q850(21, "invalid PIN"), outcome: outcomeRejectedPIN}
	case errors.Is(err, ErrUnknownPhone):
		return wireAnswer{status: sip.StatusForbidden, phrase: "Forbidden", reason: q850(21, "unknown phone"), outcome: outcomeRejectedAuth}
	case errors.Is(err, ErrResidentInactive):
		return wireAnswer{status: sip.StatusForbidden, phrase: "Forbidden", reason: q850(21, "account not active"), outcome: outcomeRejectedPolicy}
	case errors.Is(err, ErrBlocked):
		return wireAnswer{status: sip.StatusForbidden, phrase: "Forbidden", reason: q850(21, "number blocked"), outcome: outcomeRejectedPolicy}
	case errors.Is(err, ErrNotAllowed):
		return wireAnswer{status: sip.StatusForbidden, phrase: "Forbidden", reason: q850(21, "number not allowed"), outcome: outcomeRejectedPolicy}
	case errors.Is(err, ErrCallingHours):
		return wireAnswer{status: sip.StatusForbidden, phrase: "Forbidden", reason: q850(21, "outside calling hours"), outcome: outcomeRejectedPolicy}
	case errors.Is(err, ErrNoRoute), errors.Is(err, ErrInvalidDestination), errors.Is(err, rating.ErrInvalidDestination):
		return wireAnswer{status: sip.StatusNotFound, phrase: "Not Found", reason: q850(1, "invalid destination"), outcome: outcomeInvalidDest}
	case errors.Is(err, ErrPaymentRequired), errors.Is(err, rating.ErrInsufficientFunds):
		return wireAnswer{status: 402, phrase: "Payment Required", reason: sipReason(402, "insufficient balance"), outcome: outcomePayment}
	case errors.Is(err, ErrOverload), errors.Is(err, ErrShuttingDown):
		return wireAnswer{status: sip.StatusServiceUnavailable, phrase: "Service Unavailable", outcome: outcomeOverload}
	case errors.Is(err, ErrCancelled):
		return wireAnswer{status: sip.StatusRequestTerminated, phrase: "Request Terminated", outcome: outcomeCancelled}
	case errors.Is(err, errOfficer):
		return wireAnswer{status: sip.StatusTemporarilyUnavailable, phrase: "Temporarily Unavailable", reason: q850(16, "terminated by officer"), outcome: outcomeCancelled}
	case errors.Is(err, ErrNoAnswer):
		return wireAnswer{status: sip.StatusTemporarilyUnavailable, phrase: "Temporarily Unavailable", reason: q850(19, "no answer"), outcome: outcomeNoAnswer}
	case errors.As(err, &te):
		return trunkAnswer(te)
	case errors.Is(err, ErrTrunk):
		return wireAnswer{status: sip.StatusServiceUnavailable, phrase: "Service Unavailable", reason: q850(38, "network out of order"), outcome: outcomeTrunkFailure}
	}
	return wireAnswer{status: sip.StatusInternalServerError, phrase: "Server Internal Error", outcome: outcomeError}
}

// trunkAnswer passes a trunk's final answer through (480, 486, 487,
// 503…). Codes that would mean something else between switch and phone
// (401/407 challenges meant for us, 3xx redirects we do not follow) become
// 503.
func trunkAnswer(te *TrunkError) wireAnswer {
	a := wireAnswer{status: te.Status, phrase: te.Reason}
	switch {
	case te.Status == 486 || te.Status == 600:
		a.outcome = outcomeBusy
	case te.Status == 480 || te.Status == 408:
		a.outcome = outcomeNoAnswer
	case te.Status == 487:
		a.outcome = outcomeCancelled
	case te.Status == 401 || te.Status == 407 || te.Status < 400 || te.Status > 699:
		return wireAnswer{status: sip.StatusServiceUnavailable, phrase: "Service Unavailable", reason: q850(38, "network out of order"), outcome: outcomeTrunkFailure}
	default:
		a.outcome = outcomeTrunkFailure
	}
	if a.phrase == "" || !safePhrase(a.phrase) {
		a.phrase = "Call Failed"
	}
	return a
}

// response builds the answer to req for err.
func (s *Switch) response(req *sip.Request, err error) (*sip.Response, wireAnswer) {
	a := classify(err)
	res := sip.NewResponseFromRequest(req, a.status, a.phrase, nil)
	var ce *challengeError
	if errors.As(err, &ce) {
		for _, h := range ce.headers() {
			res.AppendHeader(h)
		}
	}
	if a.reason != "" {
		res.AppendHeader(sip.NewHeader("Reason", a.reason))
	}
	if errors.Is(err, ErrOverload) {
		// RFC 3261 §21.5.4: Retry-After with 503 tells the phone (or a
		// gateway) when to try again instead of retrying at once.
		res.AppendHeader(sip.NewHeader("Retry-After", strconv.Itoa(int(s.cfg.RetryAfter.Seconds()))))
	}
	res.AppendHeader(sip.NewHeader("Server", s.cfg.UserAgent))
	return res, a
}

// q850 formats a Reason header with an ITU-T Q.850 cause (RFC 3326).
func q850(cause int, text string) string {
	return "Q.850;cause=" + strconv.Itoa(cause) + `;text="` + text + `"`
}

func sipReason(cause int, text string) string {
	return "SIP;cause=" + strconv.Itoa(cause) + `;text="` + text + `"`
}

// safePhrase keeps a trunk's reason phrase only if it is plain text.
func safePhrase(s string) bool {
	if len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}
