package callswitch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"ipcs/ledger"
	"ipcs/rating"
)

// leg names a side of a call.
type leg uint8

const (
	legPhone leg = iota + 1
	legTrunk
)

func (l leg) String() string {
	if l == legPhone {
		return "phone"
	}
	return "trunk"
}

var errOfficer = errors.New("terminated by officer")

// cause is why a call ended: the CDR's cause, the log's, and for calls
// the switch cut, the Cutoffs reason and the BYE's Reason header.
type cause struct {
	name   string // CDR cause
	cutoff string // metrics Cutoffs reason; "" when a party ended the call
	reason string // Reason header for the BYEs the switch sends
}

var (
	causeCallerHangup = cause{name: "caller_hangup", reason: q850(16, "caller hung up")}
	causeCalledHangup = cause{name: "called_hangup", reason: q850(16, "called party hung up")}
	causeExhausted    = cause{name: "exhausted", cutoff: "exhausted", reason: q850(16, "balance exhausted")}
	causeLimit        = cause{name: "limit", cutoff: "limit", reason: q850(16, "call time limit reached")}
	causeOfficer      = cause{name: "officer", cutoff: "officer", reason: q850(16, "terminated by officer")}
	causeShutdown     = cause{name: "shutdown", cutoff: "shutdown", reason: sipReason(503, "shutdown")}
	causeNoAck        = cause{name: "no_ack", reason: q850(41, "no ACK from phone")}
	causeError        = cause{name: "error", reason: q850(41, "temporary failure")}
)

// call is one call session: it owns its ctx (a child of the switch's)
// and its helpers under wg, and ends exactly once in end, which settles
// the money and writes the CDR.
//
// Its state changes on one goroutine at a time. From the INVITE to the
// phone's ACK that is the INVITE handler's goroutine (sipgo terminates an
// INVITE transaction whose handler returns before the final answer).
// After the ACK the call holds no goroutine: the events that concern it
// (a BYE from either leg, the Meter's warnings and end, a 2xx to ACK
// again, its ctx ending) are merged into pend by post, and the first one
// starts a goroutine that handles them in order and exits when none is
// left. A parked call costs its struct and sipgo's dialog state, not a
// goroutine stack.
type call struct {
	s         *Switch
	id        string
	sipCallID string
	log       callLog
	ident     identity
	auth      authorization
	quote     rating.Quote
	res       ledger.Reservation // ID "" for free calls
	started   time.Time
	answered  time.Time

	ctx       context.Context
	cancel    context.CancelCauseFunc
	stopWatch func() bool // unhooks the ctx watcher (set at answer)

	phone   *sipgo.DialogServerSession
	trunk   *sipgo.DialogClientSession
	phoneID string // set before the call is registered
	trunkID string // guarded by s.mu (set at answer)
	bill    billing

	// qmu guards pend, running, closed and byes.
	qmu     sync.Mutex
	pend    pending
	running bool  // a goroutine owns the call (handler or drain)
	closed  bool  // end began: later events are dropped
	byes    uint8 // evPhoneBye, evTrunkBye: legs whose BYE byeFrom answers

	wg         sync.WaitGroup // INFO senders
	done       bool           // end ran; touched only by the goroutine that owns the call
	failStatus int            // the final answer reject sent the phone, for end's log line
}

// Events of an answered call, merged as bits in pending.flags.
const (
	evPhoneBye uint8 = 1 << iota // the phone's BYE was answered
	evTrunkBye                   // the trunk's BYE was answered
	evEnded                      // the Meter ended the session (reason in pending)
	evStop                       // the call's ctx ended: officer or shutdown
	evWarning                    // the Meter warns (remaining in pending)
	evReack                      // a stray 2xx needs a new ACK
)

// billing is an answered call's metering. The first event that ends the
// call stops it (stop): a BYE from either leg as byeFrom takes it, the
// call's ctx ending (officer, shutdown) as the watcher set at answer sees
// it, or end. Billing stops the moment the call ends (DESIGN.md), so
// what the call still waits for after that is never billed: the phone's
// ACK of the 200 (up to 64*T1, during which the INVITE handler holds the
// call and its events wait), the answers to the switch's BYEs, the
// ledger.
type billing struct {
	metered atomic.Pointer[rating.Metered] // set at answer

	// mu guards stopped (when billing stopped, zero while it runs) and
	// usage (what was used up to then).
	mu      sync.Mutex
	stopped time.Time
	usage   rating.Usage
}

// stop ends metering at now unless it ended already, and returns the
// moment it did and the usage up to it; zero values if the call was
// never metered.
func (b *billing) stop(now time.Time) (time.Time, rating.Usage) {
	m := b.metered.Load()
	if m == nil {
		return time.Time{}, rating.Usage{}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped.IsZero() {
		b.stopped = now
		b.usage = m.Stop() // no I/O: the session's lock and a gauge
	}
	return b.stopped, b.usage
}

// pending is the call's unhandled events: at most one of each kind (a
// later warning supersedes an earlier one), so a flood of stray 2xx or
// warnings cannot grow it.
type pending struct {
	flags     uint8
	ended     rating.EndReason
	remaining time.Duration
}

// run drives the call from the admitted INVITE to the phone's ACK (or
// to its end, if it fails before), on the INVITE handler's goroutine.
// The call holds a place in the switch's calls WaitGroup from enter until
// end finishes.
func (c *call) run(req *sip.Request, tx sip.ServerTransaction) {
	s := c.s
	c.ctx, c.cancel = context.WithCancelCause(s.ctx)
	c.log = callLog{c}
	c.running = true // this goroutine owns the call until it hands it off
	s.met.Active.Inc()
	defer c.recoverPanic()

	var err error
	c.phone, err = s.phoneUA.ReadInvite(req, tx)
	if err != nil {
		if errors.Is(err, sip.ErrTransactionCanceled) || errors.Is(tx.Err(), sip.ErrTransactionCanceled) {
			c.end(cause{name: "cancelled"}, outcomeCancelled)
			return
		}
		c.reject(fmt.Errorf("%w: %w", ErrMalformed, err))
		c.end(causeError, outcomeBadRequest)
		return
	}
	c.phoneID = c.phone.ID
	s.register(c, c.phoneID)
	if s.log.Enabled(context.Background(), slog.LevelDebug) { // MaskNumber allocates
		c.log.Debug("call placed", "phone", c.ident.phoneID, "to", MaskNumber(c.auth.dest),
			"privileged", c.auth.privileged, "max_seconds", c.quote.MaxSeconds)
	}

	if outcome, err := c.ring(req); err != nil {
		c.reject(err)
		c.end(cause{name: outcome}, outcome)
		return
	}
	c.talk()
}

// recoverPanic ends the call after a panic on the goroutine that owns it:
// counted, logged, answered 500 if the phone has no final answer yet.
func (c *call) recoverPanic() {
	r := recover()
	if r == nil {
		return
	}
	c.s.met.Panics.Inc()
	c.log.Error("panic in call", "panic", fmt.Sprint(r))
	switch {
	case c.done: // end itself panicked; its deferred cleanup still ran
	case c.answered.IsZero():
		c.reject(ErrPanic)
		c.end(causeError, outcomeError)
	default:
		c.end(causeError, "")
	}
}

// reject sends the phone the final answer for err. A cancelled call
// needs none: sipgo answered the CANCEL and the INVITE (487) itself.
func (c *call) reject(err error) {
	if c.phone == nil || errors.Is(err, ErrCancelled) {
		return
	}
	a := classify(err)
	var hs []sip.Header
	if a.reason != "" {
		hs = append(hs, sip.NewHeader("Reason", a.reason))
	}
	if rerr := c.phone.Respond(a.status, a.phrase, nil, hs...); rerr != nil {
		c.log.Debug("final answer to phone failed", "status", a.status, "error", rerr)
	}
	c.failStatus = a.status
	c.log.Debug("call failed", "status", a.status, "cause", err)
}

// ring places the trunk leg and relays its answers to the phone until
// the trunk answers (nil), or fails, or the phone cancels, or no one
// answers in time, or the switch closes. The outcome names the failure.
func (c *call) ring(phoneInvite *sip.Request) (string, error) {
	s := c.s
	ringCtx, stopRing := context.WithCancelCause(c.ctx)
	defer stopRing(nil)
	// sipgo does not call OnCancel handlers for a CANCEL of an INVITE
	// (#177); ReadInvite ends the dialog's context instead, so watch it.
	stopWatch := context.AfterFunc(c.phone.Context(), func() { stopRing(ErrCancelled) })
	defer stopWatch()
	noAnswer := s.clk.AfterFunc(s.cfg.NoAnswerTimeout, func() { stopRing(ErrNoAnswer) })
	defer noAnswer.Stop()

	inv := c.trunkInvite(phoneInvite)
	var err error
	c.trunk, err = s.trunkUA.WriteInvite(ringCtx, inv)
	if err != nil {
		return outcomeTrunkFailure, fmt.Errorf("%w: %w", ErrTrunk, err)
	}
	err = c.trunk.WaitAnswer(ringCtx, sipgo.AnswerOptions{OnResponse: c.relay})
	if err == nil {
		return "", c.answer()
	}
	// A 2xx can cross our CANCEL (RFC 3261 §9.1): then the trunk leg is
	// up and must be ACKed and hung up, or the carrier keeps it.
	if r := c.trunk.InviteResponse; r != nil && r.IsSuccess() {
		c.hangUpCrossed()
	}
	var de *sipgo.ErrDialogResponse
	switch {
	case errors.As(err, &de):
		te := &TrunkError{Status: de.Res.StatusCode, Reason: de.Res.Reason}
		return trunkAnswer(te).outcome, te
	case ringCtx.Err() != nil:
		cause := context.Cause(ringCtx)
		switch {
		case errors.Is(cause, ErrCancelled):
			return outcomeCancelled, ErrCancelled
		case errors.Is(cause, ErrNoAnswer):
			return outcomeNoAnswer, ErrNoAnswer
		case errors.Is(cause, ErrShuttingDown):
			return outcomeOverload, ErrShuttingDown
		case errors.Is(cause, errOfficer):
			return outcomeCancelled, errOfficer
		}
		return outcomeError, cause
	}
	return outcomeTrunkFailure, fmt.Errorf("%w: %w", ErrTrunk, err)
}

// trunkInvite builds the outbound leg's INVITE: a new dialog (own
// Call-ID and tags, B2BUA), the destination in E.164, the phone's SDP
// passed through.
func (c *call) trunkInvite(phoneInvite *sip.Request) *sip.Request {
	s := c.s
	ruri := sip.Uri{Scheme: "sip", User: c.auth.dest, Host: s.trunk.Host, Port: s.trunk.Port}
	if s.trunkTP != "UDP" {
		ruri.UriParams = sip.HeaderParams{{K: "transport", V: netLower(s.trunkTP)}}
	}
	inv := sip.NewRequest(sip.INVITE, ruri)
	inv.SetTransport(s.trunkTP)
	host, port := s.udpAddr.Addr().String(), int(s.udpAddr.Port())
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "ipcs", Host: host, Port: port}}
	from.Params.Add("tag", sip.GenerateTagN(16))
	inv.AppendHeader(from)
	inv.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: c.auth.dest, Host: s.trunk.Host}})
	if body := phoneInvite.Body(); len(body) > 0 {
		inv.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		inv.SetBody(body)
	}
	if s.trunkTP == "UDP" {
		// Send from the listening socket, so the trunk sees one address
		// for the switch and no socket (and reader goroutine) is made per
		// destination.
		inv.Laddr = sip.Addr{IP: net.IP(s.udpAddr.Addr().AsSlice()), Port: int(s.udpAddr.Port())}
	}
	return inv
}

func netLower(tp string) string {
	switch tp {
	case "TCP":
		return "tcp"
	case "TLS":
		return "tls"
	}
	return "udp"
}

// relay passes the trunk's provisional answers to the phone, in the
// order this goroutine reads them (sipgo hands responses over on separate
// goroutines, #306; a 180 after the 200 is never relayed, SIPp's uac
// aborts on it). 100 is hop-by-hop and not relayed.
func (c *call) relay(r *sip.Response) error {
	if !r.IsProvisional() || r.StatusCode == sip.StatusTrying {
		return nil
	}
	var hs []sip.Header
	body := r.Body()
	if len(body) > 0 {
		hs = append(hs, sip.NewHeader("Content-Type", "application/sdp"))
	} else {
		body = nil
	}
	phrase := r.Reason
	if !safePhrase(phrase) {
		phrase = "Ringing"
	}
	if err := c.phone.Respond(r.StatusCode, phrase, body, hs...); err != nil {
		c.log.Debug("relay provisional failed", "status", r.StatusCode, "error", err)
	}
	return nil
}

// answer handles the trunk's 2xx: billing starts now (DESIGN.md), the
// trunk is ACKed at once, the Meter takes the call, and the phone gets
// the 200 with the trunk's SDP.
func (c *call) answer() error {
	s := c.s
	now := s.clk.Now()
	c.answered = now
	s.mu.Lock()
	c.trunkID = c.trunk.ID
	s.dialogs[c.trunkID] = c
	s.mu.Unlock()
	// No timer for the ACK: it is sent without a transaction and
	// sipgo v1.7.2's Ack ignores its ctx (WriteAck writes straight to the
	// transport), so a bound would only cost a timer and a context per call.
	if err := c.trunk.Ack(context.WithoutCancel(c.ctx)); err != nil {
		c.log.Warn("ACK to trunk failed", "error", err)
	}
	m, err := s.meter.Start(rating.SessionSpec{
		ID:            c.id,
		ReservationID: c.res.ID,
		Price:         c.quote.Price,
		Granted:       c.res.Granted,
		MaxSeconds:    c.maxSeconds(),
		OnEvent:       c.onMeter,
	})
	if err != nil {
		c.answered = time.Time{} // not billed: the phone never heard it
		c.byeLeg(legTrunk, causeError)
		return fmt.Errorf("meter: %w", err)
	}
	c.bill.metered.Store(m)
	// An officer or shutdown ends the call now even while the INVITE
	// handler still waits for the phone's ACK (which may take 64*T1):
	// billing stops at once, and the event is handled after the ACK.
	c.stopWatch = context.AfterFunc(c.ctx, func() {
		c.bill.stop(s.clk.Now())
		c.post(pending{flags: evStop})
	})
	return nil
}

// maxSeconds is the call's time limit regardless of money, for the
// Meter (which bounds by money itself, from the grant and its
// extensions, so that it can tell exhaustion from the limit and extend a
// call a deposit tops up). The quote's MaxSeconds is that limit unless
// the balance bound it; then the policy's limit applies, or rating's
// default per-call limit.
func (c *call) maxSeconds() int64 {
	if c.quote.Limit != rating.LimitBalance {
		return c.quote.MaxSeconds
	}
	lim := c.auth.limit
	if lim == 0 {
		lim = rating.DefaultCallLimit
	}
	return int64(lim / time.Second)
}

// onMeter is the Meter's callback: it must not block, so it only posts
// the event to the call. A warning supersedes an unhandled earlier one;
// Ended is never lost.
func (c *call) onMeter(ev rating.Event) {
	switch ev.Kind {
	case rating.Ended:
		c.post(pending{flags: evEnded, ended: ev.Reason})
	case rating.Warning:
		c.post(pending{flags: evWarning, remaining: ev.Remaining})
	}
}

// post merges ev into the call's pending events. If no goroutine owns the
// call, it starts one to handle them (drain); otherwise the owner sees
// them before it lets go. Events after end began are dropped. It never
// blocks: sipgo handlers and the Meter call it.
func (c *call) post(ev pending) {
	c.qmu.Lock()
	if c.closed {
		c.qmu.Unlock()
		return
	}
	c.pend.flags |= ev.flags
	if ev.flags&evEnded != 0 {
		c.pend.ended = ev.ended
	}
	if ev.flags&evWarning != 0 {
		c.pend.remaining = ev.remaining
	}
	if c.running {
		c.qmu.Unlock()
		return
	}
	c.running = true
	c.qmu.Unlock()
	// The call's own place in s.calls is held until end finishes, and end
	// cannot run while no goroutine owns the call, so the count is above
	// zero here and Close's Wait also waits for this goroutine.
	c.s.calls.Add(1)
	go func() {
		defer c.s.calls.Done()
		c.drain()
	}()
}

// drain handles the call's pending events, one set at a time, until none
// is left or the call ended; then the goroutine lets go of the call.
func (c *call) drain() {
	defer c.recoverPanic()
	for {
		c.qmu.Lock()
		p := c.pend
		c.pend = pending{}
		if p.flags == 0 || c.closed {
			c.running = false
			c.qmu.Unlock()
			return
		}
		c.qmu.Unlock()
		c.handle(p)
	}
}

// handle acts on one set of events: any that ends the call wins (the
// phone's BYE first), otherwise warnings and re-ACKs are served.
func (c *call) handle(p pending) {
	switch {
	case p.flags&evPhoneBye != 0:
		c.end(causeCallerHangup, "")
	case p.flags&evTrunkBye != 0:
		c.end(causeCalledHangup, "")
	case p.flags&evEnded != 0:
		if p.ended == rating.Limited {
			c.end(causeLimit, "")
		} else {
			c.end(causeExhausted, "")
		}
	case p.flags&evStop != 0:
		if errors.Is(context.Cause(c.ctx), errOfficer) {
			c.end(causeOfficer, "")
		} else {
			c.end(causeShutdown, "")
		}
	default:
		if p.flags&evWarning != 0 {
			c.warn(p.remaining)
		}
		if p.flags&evReack != 0 {
			_ = c.trunk.Ack(c.ctx) // no transaction: see answer
		}
	}
}

func (c *call) topUp() {
	if m := c.bill.metered.Load(); m != nil {
		m.TopUp()
	}
}

// reAck asks for a retransmitted 2xx from the trunk to be ACKed again.
func (c *call) reAck() { c.post(pending{flags: evReack}) }

// talk answers the phone; once its ACK arrives the call is handed off
// to its events (drain): one side hanging up, the Meter ending it, an
// officer or the switch closing it.
func (c *call) talk() {
	s := c.s
	s.ctr.attempt(outcomeAnswered).Inc()
	s.met.SetupSeconds.Observe(c.answered.Sub(c.started).Seconds())
	res := sip.NewResponseFromRequest(c.phone.InviteRequest, sip.StatusOK, "OK", nil)
	if body := c.trunk.InviteResponse.Body(); len(body) > 0 {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		res.SetBody(body)
	}
	res.AppendHeader(sip.NewHeader("Server", s.cfg.UserAgent))
	// WriteResponse retransmits the 2xx until the phone's ACK (RFC 3261
	// §13.3.1.4) and returns when it arrives or 64*T1 passes. A call that
	// ends meanwhile (the trunk's BYE, an officer, shutdown) stops its
	// billing at once (byeFrom, the ctx watcher) but still waits here:
	// the switch must not BYE the phone before its ACK (RFC 3261 §15), so
	// the ending event is handled after it.
	if err := c.phone.WriteResponse(res); err != nil {
		// A BYE handled before the ACK ends the dialog and so this wait;
		// byeFrom noted it before answering, its event may come later.
		if c.byeAnswered(legPhone) {
			c.end(causeCallerHangup, "")
		} else {
			c.log.Warn("phone did not confirm the answer", "error", err)
			c.end(causeNoAck, "")
		}
		return
	}
	c.log.Debug("call answered")
	c.drain() // what arrived meanwhile; then this goroutine returns to sipgo
}

// warn tells the phone in-dialog (SIP INFO, text/plain) how long the call
// has left. The INFO is sent from a helper goroutine so that a slow phone
// cannot hold up the call's teardown; end waits for it.
func (c *call) warn(remaining time.Duration) {
	s := c.s
	s.met.Warnings.Inc()
	text := remainingText(remaining)
	c.log.Debug("call warning", "remaining_seconds", int64(remaining.Seconds()))
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		info := sip.NewRequest(sip.INFO, c.phone.InviteRequest.Contact().Address)
		info.AppendHeader(sip.NewHeader("Content-Type", "text/plain"))
		info.SetBody([]byte(text))
		ctx, cancel := s.timeoutCtx(c.ctx, s.cfg.ByeTimeout)
		defer cancel()
		res, err := c.phone.Do(ctx, info)
		if err != nil || res.StatusCode >= 300 {
			c.log.Debug("warning INFO not confirmed", "error", err)
		}
	}()
}

func remainingText(d time.Duration) string {
	sec := int64((d + time.Second/2) / time.Second)
	switch {
	case sec >= 60 && sec%60 == 0 && sec/60 == 1:
		return "1 minute remaining"
	case sec >= 60 && sec%60 == 0:
		return strconv.FormatInt(sec/60, 10) + " minutes remaining"
	}
	return strconv.FormatInt(sec, 10) + " seconds remaining"
}

// byeFrom handles a BYE from one leg: answer it 200 (the dialog checks
// its CSeq) and post it to the call. Runs on a sipgo goroutine.
//
// The BYE is noted in c.byes before it is answered. sipgo's phone-leg
// ReadBye sends the 200 before it marks the dialog ended, and the event
// is posted after it returns: in between, the phone has its answer and
// may be gone, and an end that began meanwhile (shutdown, officer, the
// Meter) would still see a live dialog and send the phone a BYE that no
// one answers until Timer B.
func (c *call) byeFrom(l leg, req *sip.Request, tx sip.ServerTransaction) {
	ev := evPhoneBye
	if l == legTrunk {
		ev = evTrunkBye
	}
	// The check ReadBye makes on the phone leg, made first so that only
	// a BYE that will be answered 200 is noted.
	if l == legPhone && req.CSeq().SeqNo < c.phone.InviteRequest.CSeq().SeqNo {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusBadRequest, "Bad Request", nil))
		return
	}
	// Billing stops as the BYE arrives, not when its event is handled:
	// before the phone's ACK that is only after the ACK (see talk).
	c.bill.stop(c.s.clk.Now())
	c.qmu.Lock()
	c.byes |= ev
	c.qmu.Unlock()
	var err error
	if l == legPhone {
		err = c.phone.ReadBye(req, tx)
	} else {
		err = c.trunk.ReadBye(req, tx)
	}
	if err != nil {
		// Only sending the 200 failed: the leg did hang up, and will
		// send its BYE again.
		c.log.Debug("BYE answer failed", "leg", l.String(), "error", err)
	}
	c.post(pending{flags: ev})
}

// byeAnswered reports whether leg l's BYE was answered, or is being
// answered, by byeFrom.
func (c *call) byeAnswered(l leg) bool {
	ev := evPhoneBye
	if l == legTrunk {
		ev = evTrunkBye
	}
	c.qmu.Lock()
	defer c.qmu.Unlock()
	return c.byes&ev != 0
}

// byeLeg sends BYE with the cause's Reason to one leg and confirms the
// answer (NOTES.md sipgo pitfall 4: a BYE that silently fails leaves the
// far leg up). Failures are logged and counted.
func (c *call) byeLeg(l leg, why cause) {
	s := c.s
	ctx, cancel := s.timeoutCtx(context.WithoutCancel(c.ctx), s.cfg.ByeTimeout)
	defer cancel()
	var err error
	if l == legPhone {
		bye := sip.NewRequest(sip.BYE, c.phone.InviteRequest.Contact().Address)
		bye.AppendHeader(sip.NewHeader("Reason", why.reason))
		err = c.phone.WriteBye(ctx, bye)
	} else {
		target := c.trunk.InviteRequest.Recipient
		if r := c.trunk.InviteResponse; r != nil && r.Contact() != nil {
			target = r.Contact().Address
		}
		bye := sip.NewRequest(sip.BYE, *target.Clone())
		bye.AppendHeader(sip.NewHeader("Reason", why.reason))
		err = c.trunk.WriteBye(ctx, bye)
	}
	if err != nil {
		s.ctr.byeFail[l].Inc()
		c.log.Warn("BYE not confirmed", "leg", l.String(), "error", err)
	}
}

// hangUpCrossed ACKs and hangs up a trunk leg whose 2xx crossed our CANCEL.
func (c *call) hangUpCrossed() {
	s := c.s
	ctx, cancel := s.timeoutCtx(context.WithoutCancel(c.ctx), s.cfg.ByeTimeout)
	defer cancel()
	if id, err := sip.DialogIDFromResponse(c.trunk.InviteResponse); err == nil {
		c.trunk.ID = id
	}
	_ = c.trunk.Ack(ctx)
	c.byeLeg(legTrunk, causeCallerHangup)
}

// end is the one way a call ends (STYLE.md: BYE, CANCEL, no answer,
// exhaustion, officer and shutdown all come here). It hangs up the legs
// that are still up, stops metering, settles the reservation (Commit with
// the CDR for answered calls; Release and a zero CDR otherwise: unanswered
// calls cost nothing) and updates metrics. outcome is the Attempts label
// for calls that never answered ("" once answered: counted at answer).
func (c *call) end(why cause, outcome string) {
	if c.done {
		return
	}
	c.done = true
	c.qmu.Lock()
	c.closed = true
	byes := c.byes
	c.qmu.Unlock()
	s := c.s
	defer c.finish()
	// The call ends now, unless the event that ended it stopped billing
	// earlier (billing.stop): metering stops before the hang-ups below, so
	// the time a leg takes to answer its BYE (up to ByeTimeout when it
	// does not) is never billed. The CDR's Ended is that moment.
	now := s.clk.Now()
	ended := now
	var usage rating.Usage
	if at, u := c.bill.stop(now); !at.IsZero() {
		ended, usage = at, u
	}
	if why == causeNoAck {
		// The phone never confirmed the answer: the call did not connect,
		// and DESIGN.md never bills such a call. Its reservation is
		// committed at zero with a zero CDR; the trunk still gets its BYE.
		usage = rating.Usage{Price: usage.Price}
	}
	if !c.answered.IsZero() {
		// A leg's BYE may have been answered before its event was posted
		// (see byeFrom): then that side hung up first, and it must not be
		// sent a BYE of its own (it would go unanswered until Timer B).
		phoneGone := byes&evPhoneBye != 0 || c.phone.LoadState() == sip.DialogStateEnded
		trunkGone := byes&evTrunkBye != 0 || c.trunk.LoadState() == sip.DialogStateEnded
		if why.cutoff != "" {
			switch {
			case phoneGone:
				why = causeCallerHangup
			case trunkGone:
				why = causeCalledHangup
			}
		}
		var wg sync.WaitGroup
		if why != causeCallerHangup && why != causeNoAck && !phoneGone {
			wg.Add(1)
			go func() { // both legs at once: teardown waits for the slower
				defer wg.Done()
				c.byeLeg(legPhone, why)
			}()
		}
		if why != causeCalledHangup && !trunkGone {
			c.byeLeg(legTrunk, why)
		}
		wg.Wait()
	}
	c.wg.Wait()
	if outcome != "" {
		s.ctr.attempt(outcome).Inc()
		s.met.SetupSeconds.Observe(now.Sub(c.started).Seconds())
	}
	if why.cutoff != "" && !c.answered.IsZero() {
		s.ctr.cutoff(why.cutoff).Inc()
	}
	billed := int64(0)
	if !c.answered.IsZero() {
		billed = c.quote.Price.Billed(usage.Seconds)
		if usage.Seconds == 0 {
			billed = 0
		}
		s.met.BilledSeconds.Add(float64(billed))
	}
	cdr := ledger.CDR{
		SessionID:      c.id,
		Service:        string(rating.Audio),
		Facility:       c.auth.facility.id,
		AccountID:      c.auth.resident.id,
		Destination:    c.auth.dest,
		Class:          c.quote.Price.Class,
		Started:        c.started,
		Answered:       c.answered,
		Ended:          ended,
		BilledSeconds:  billed,
		Amount:         usage.Amount,
		TariffID:       c.quote.Price.TariffID,
		TariffVersion:  int64(c.quote.Price.Version),
		Rate:           c.quote.Price.Rate,
		IncrementFirst: c.quote.Price.First,
		IncrementNext:  c.quote.Price.Every,
		Cause:          why.name,
		Privileged:     c.auth.privileged,
	}
	c.settle(cdr, usage)
	s.unregister(c)
	// The one Info line per call (others are Debug: at 1,000 calls/s a
	// line per call event costs more than the rest of the call's logic).
	if s.log.Enabled(context.Background(), slog.LevelInfo) {
		args := []any{"cause", why.name, "answered", !c.answered.IsZero(),
			"billed_seconds", billed, "amount", usage.Amount.String(), "to", MaskNumber(c.auth.dest)}
		if c.failStatus != 0 {
			args = append(args, "status", c.failStatus)
		}
		c.log.Info("call ended", args...)
	}
}

// finish releases what the call holds in the switch once it ended: its
// ctx, the active gauge, its place under MaxCalls and in Close's wait.
func (c *call) finish() {
	if c.stopWatch != nil {
		c.stopWatch()
	}
	c.cancel(nil)
	c.s.met.Active.Dec()
	c.s.leave()
}
