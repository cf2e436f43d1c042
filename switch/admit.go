package callswitch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/emiago/sipgo/sip"

	"ipcs/internal/money"
	"ipcs/ledger"
	"ipcs/rating"
)

// onInvite handles a new INVITE. The handler goroutine runs the call's
// set-up: sipgo terminates an INVITE transaction whose handler returns
// before a final answer, so the handler stays until the phone's ACK (or
// the call's end) and then returns; an answered call holds no goroutine
// (see call). The call keeps its place in the calls WaitGroup until its
// end, so Close waits for it.
func (s *Switch) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to != nil {
		if _, ok := to.Params.Get("tag"); ok {
			s.onInDialog(req, tx) // re-INVITE
			return
		}
	}
	start := s.clk.Now()
	if err := s.enter(); err != nil {
		res, a := s.response(req, err)
		s.ctr.attempt(a.outcome).Inc()
		s.answerRefusal(tx, res, a)
		return
	}
	handedOff := false
	defer func() {
		if !handedOff { // admit panicked (guarded answers that)
			s.leave()
		}
	}()
	c, err := s.admit(req, tx, start)
	if err != nil {
		// Give the place back before answering: a phone answers a
		// challenge at once, and its next INVITE must find it free.
		handedOff = true
		s.leave()
		res, a := s.response(req, err)
		s.rejected(req, c, err, a, start)
		s.answerRefusal(tx, res, a)
		return
	}
	handedOff = true
	c.run(req, tx) // the call calls leave when it ends
}

// answerRefusal sends an INVITE's final refusal. The digest challenge
// (every call's first INVITE), 400 and 503 are answered statelessly, as
// a proxy's sl module does: the transaction is dropped at once instead of
// being kept for 64*T1 (or T4 after the ACK) with the INVITE and the
// answer, so a burst of new calls or garbage costs no state. A lost
// answer is sent again when the phone retransmits the INVITE; the ACK
// that follows matches nothing and is absorbed by onAck. The policy
// refusals (402, 403, 404) keep their transaction: a retransmitted INVITE
// must get the same answer, not be counted as a second PIN failure.
func (s *Switch) answerRefusal(tx sip.ServerTransaction, res *sip.Response, a wireAnswer) {
	switch a.status {
	case sip.StatusUnauthorized, sip.StatusProxyAuthRequired, sip.StatusBadRequest, sip.StatusServiceUnavailable:
		// Over UDP the transaction goes first: once the phone has the
		// answer, its next INVITE (a retransmission, or the challenged
		// one) must not meet it any more. The answer then leaves through
		// the transaction's connection, the listening socket (the
		// transport's own WriteMsg would open a socket, and a reader, per
		// phone address). TCP and TLS have no retransmissions: answer,
		// then drop.
		if c, ok := tx.(interface{ Connection() sip.Connection }); ok && !sip.IsReliable(res.Transport()) {
			conn := c.Connection()
			tx.Terminate()
			_ = conn.WriteMsg(res)
			return
		}
		_ = tx.Respond(res)
		tx.Terminate()
	default:
		_ = tx.Respond(res)
	}
}

// rejected counts and logs an INVITE refused before a call existed.
func (s *Switch) rejected(req *sip.Request, c *call, err error, a wireAnswer, start time.Time) {
	if a.outcome == "" { // a plain challenge: the phone will answer it
		return
	}
	s.ctr.attempt(a.outcome).Inc()
	s.met.SetupSeconds.Observe(s.clk.Now().Sub(start).Seconds())
	lvl := slog.LevelInfo
	if a.outcome == outcomeError {
		lvl = slog.LevelError
	}
	if !s.log.Enabled(context.Background(), lvl) {
		return
	}
	attrs := []any{"sip_call_id", callIDOf(req), "status", a.status, "cause", err.Error()}
	if c != nil {
		attrs = append(attrs, "phone", c.ident.phoneID, "facility", c.ident.facility)
		if c.auth.resident != nil {
			attrs = append(attrs, "account_id", c.auth.resident.id)
		}
		if c.auth.dest != "" {
			attrs = append(attrs, "to", MaskNumber(c.auth.dest))
		}
	}
	s.log.Log(context.Background(), lvl, "call refused", attrs...)
}

// admit decides whether an INVITE may become a call, in the order of the
// answers' severity: malformed (400), digest (401), lockout and PIN (403),
// destination (404), policy (403), funds (402). On success it returns the
// call with its reservation held; on failure the partial call (for logs)
// and the error for classify. No path here holds money on failure.
func (s *Switch) admit(req *sip.Request, tx sip.ServerTransaction, now time.Time) (*call, error) {
	if err := checkHeaders(req); err != nil {
		return nil, err
	}
	pin, dialed, perr := ParseDialString(req.Recipient.User)
	if errors.Is(perr, ErrDialString) {
		return nil, perr // hostile or garbage: no challenge for it
	}
	dir := s.dir.Load()
	id, err := s.auth.authenticate(req, dir, now)
	if err != nil {
		return nil, err
	}
	// RFC 3261 §17.2.1: 100 Trying before any ledger I/O, so UDP
	// retransmissions of the INVITE stop (and sipgo's own delayed 100
	// never races a later provisional). Not before the challenge: a 401
	// needs no 100.
	_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusTrying, "Trying", nil))
	c := &call{s: s, ident: id, started: now, sipCallID: callIDOf(req)}
	f := dir.facility(id.facility)
	if f == nil {
		return c, fmt.Errorf("%w: facility %q", ErrUnknownPhone, id.facility)
	}
	if s.locks.locked(id.phoneID, now) || (id.gatewayKey != "" && s.gwLocks.locked(id.gatewayKey, now)) {
		return c, ErrPINLocked
	}
	if perr != nil {
		return c, perr
	}
	r := dir.resident(f.id, pin)
	if r == nil {
		if s.locks.fail(id.phoneID, now) {
			s.met.Lockouts.Inc()
			// Never log the PIN (DESIGN.md): the phone and facility suffice.
			s.log.Warn("phone locked out for PIN guessing", "phone", id.phoneID, "facility", f.id, "sip_call_id", c.sipCallID)
		}
		if id.gatewayKey != "" && s.gwLocks.fail(id.gatewayKey, now) {
			s.met.Lockouts.Inc()
			s.log.Warn("gateway locked out for PIN guessing", "gateway", id.gatewayKey, "facility", f.id, "sip_call_id", c.sipCallID)
		}
		return c, ErrBadPIN
	}
	c.auth.resident = r
	dest, err := rating.NormalizeDestination(dialed)
	if err != nil {
		return c, fmt.Errorf("%w: %w", ErrInvalidDestination, err)
	}
	c.auth.dest = dest
	if c.auth, err = checkPolicy(f, r, dest, now); err != nil {
		return c, err
	}
	c.id = newCallID(now)
	if err := s.fund(c, now); err != nil {
		return c, err
	}
	return c, nil
}

// checkHeaders refuses requests sipgo parsed but a dialog cannot be built
// from (RFC 3261 §8.1.1 mandatory headers, a Contact for the dialog's
// remote target) with ErrMalformed, counted as bad_request.
func checkHeaders(req *sip.Request) error {
	var missing string
	switch {
	case req.From() == nil:
		missing = "From"
	case req.To() == nil:
		missing = "To"
	case req.CallID() == nil:
		missing = "Call-ID"
	case req.CSeq() == nil:
		missing = "CSeq"
	case req.Contact() == nil:
		missing = "Contact"
	}
	if missing != "" {
		return fmt.Errorf("%w: no %s", ErrMalformed, missing)
	}
	if _, ok := req.From().Params.Get("tag"); !ok {
		return fmt.Errorf("%w: From without tag", ErrMalformed)
	}
	if mf := req.MaxForwards(); mf != nil && mf.Val() == 0 {
		return fmt.Errorf("%w: Max-Forwards 0", ErrMalformed)
	}
	if len(req.Body()) > 0 {
		if ct := req.ContentType(); ct == nil || ct.Value() != "application/sdp" {
			return fmt.Errorf("%w: body is not application/sdp", ErrMalformed)
		}
	}
	return nil
}

// fund quotes the call and reserves the first slice (DESIGN.md: reserve
// before the session starts). A paid call learns the balance from the
// reservation itself, one ledger round trip: Reserve holds min(slice,
// available), refuses less than one billing increment (402) and a
// released account (403), and the Meter bounds the call by what was
// granted and what extensions add. Free calls (privileged numbers, zero
// tariffs) reserve nothing but are still metered for their time limit;
// for them the account is read to refuse a released resident.
func (s *Switch) fund(c *call, now time.Time) error {
	ctx, cancel := s.timeoutCtx(s.ctx, s.cfg.ByeTimeout)
	defer cancel()
	q, err := s.rater.Quote(&rating.QuoteRequest{
		Facility:    c.auth.facility.id,
		Service:     rating.Audio,
		Destination: c.auth.dest,
		Privileged:  c.auth.privileged,
		Start:       now,
		Balance:     money.Limit, // the reservation bounds it (above)
		MaxDuration: c.auth.limit,
	})
	if err != nil {
		if errors.Is(err, rating.ErrInvalidDestination) {
			return fmt.Errorf("%w: %w", ErrInvalidDestination, err)
		}
		return fmt.Errorf("quote: %w", err)
	}
	c.quote = q
	if q.Free || q.Price.Free() {
		bal, err := s.accounts.Balance(ctx, c.auth.resident.id)
		switch {
		case errors.Is(err, ledger.ErrNotFound):
			return fmt.Errorf("%w: %w", ErrPaymentRequired, err)
		case err != nil:
			return fmt.Errorf("balance: %w", err)
		case bal.Status == ledger.StatusReleased:
			return ErrResidentInactive
		}
		return nil
	}
	res, err := s.accounts.Reserve(ctx, ledger.ReserveRequest{
		Key:       "reserve:" + c.id,
		AccountID: c.auth.resident.id,
		SessionID: c.id,
		Want:      q.Reserve,
		Min:       q.Price.Charge(q.Price.First), // one billing increment
	})
	switch {
	case errors.Is(err, ledger.ErrInsufficientFunds), errors.Is(err, ledger.ErrNotFound):
		return fmt.Errorf("%w: %w", ErrPaymentRequired, err)
	case errors.Is(err, ledger.ErrAccountReleased):
		return fmt.Errorf("%w: %w", ErrResidentInactive, err)
	case errors.Is(err, ledger.ErrOverload):
		return fmt.Errorf("%w: %w", ErrOverload, err)
	case err != nil:
		return fmt.Errorf("reserve: %w", err)
	}
	c.res = res
	return nil
}

// timeoutCtx bounds an operation with the switch's clock (STYLE.md: no
// timers outside internal/clock).
func (s *Switch) timeoutCtx(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	t := s.clk.AfterFunc(d, func() { cancel(context.DeadlineExceeded) })
	return ctx, func() {
		t.Stop()
		cancel(context.Canceled)
	}
}

// newCallID names a call admitted at now: "call-", the time in
// milliseconds as 9 base-36 digits (lexical order is time order until
// the year 5188), then 12 random characters. The ledger keys the call's
// reservation and CDR by it; ids that sort by time land at the right
// edge of those b-trees, where random ones would dirty a leaf each, for
// a third of the SQLite ledger's throughput (docs/PERFORMANCE.md,
// "Ledger").
func newCallID(now time.Time) string {
	ms := max(now.UnixMilli(), 0)
	var b [5 + 9 + 12]byte
	copy(b[:], "call-")
	for i := 5 + 8; i >= 5; i-- {
		b[i] = digits36[ms%36]
		ms /= 36
	}
	copy(b[14:], sip.GenerateTagN(12))
	return string(b[:])
}

const digits36 = "0123456789abcdefghijklmnopqrstuvwxyz"
