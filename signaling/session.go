package signaling

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"

	"ipcs/internal/clock"
)

// maxQueue bounds a session's event queue. Sockets are rate limited and
// pion raises a handful of events per peer, so a full queue means
// something is wrong; the event is refused (and the socket dropped).
const maxQueue = 1024

// session is one live visit: its ctx, its goroutines (under wg), its
// timers, and one end(reason). Its state changes only on the run
// goroutine; everyone else posts closures to it (STYLE.md, Concurrency).
type session struct {
	h      *Hub
	v      Visit
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // forwarders and RTCP readers

	// qmu guards queue and stopped.
	qmu     sync.Mutex
	queue   []func()
	stopped bool
	wake    chan struct{}

	// Run-goroutine state.
	opened    time.Time
	bill      Bill
	openErr   error
	parts     map[uint64]*participant
	nextID    uint64
	fwds      map[*forwarder]struct{}
	timers    []clock.Timer
	grace     clock.Timer
	keep      clock.Timer // the hold's keep-alive (HoldKeeper)
	metering  bool
	segStart  time.Time
	connected time.Duration // total both-sides-connected time
	firstBoth time.Time
	recDir    string
	done      bool
	closeErr  error         // why the bill did not settle; set before settled closes
	settled   chan struct{} // closed when end has settled the bill and written the CDR
}

func newSession(h *Hub, v Visit, now time.Time) *session {
	ctx, cancel := context.WithCancel(h.ctx)
	return &session{
		h: h, v: v, ctx: ctx, cancel: cancel,
		log:     h.log.With("visit_id", v.ID, "facility", v.Facility),
		wake:    make(chan struct{}, 1),
		settled: make(chan struct{}),
		opened:  now,
		parts:   map[uint64]*participant{},
		fwds:    map[*forwarder]struct{}{},
	}
}

// Context returns the visit's lifetime; it is done once the visit ended.
func (s *session) Context() context.Context { return s.ctx }

// Done is closed when the visit has ended.
func (s *session) Done() <-chan struct{} { return s.ctx.Done() }

// Err is non-nil once the visit has ended.
func (s *session) Err() error { return s.ctx.Err() }

// post queues fn for the run goroutine. It never blocks and reports false
// when the visit has ended or the queue is full.
func (s *session) post(fn func()) bool {
	s.qmu.Lock()
	if s.stopped || len(s.queue) >= maxQueue {
		s.qmu.Unlock()
		return false
	}
	s.queue = append(s.queue, fn)
	s.qmu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return true
}

// run opens the bill, arms the slot's timers and serves events until the
// visit ends.
func (s *session) run() {
	defer s.h.wg.Done()
	defer func() {
		if p := recover(); p != nil {
			s.h.refused("internal")
			s.log.Error("signaling: panic in visit", "panic", p)
			s.end(ReasonError)
		}
	}()
	s.start()
	for !s.done {
		<-s.wake
		for !s.done {
			s.qmu.Lock()
			q := s.queue
			s.queue = nil
			s.qmu.Unlock()
			if len(q) == 0 {
				break
			}
			for _, fn := range q {
				if s.done {
					break
				}
				fn()
			}
		}
	}
}

func (s *session) start() {
	now := s.h.clk.Now()
	bill, err := s.h.biller.Open(s.ctx, s.v, now)
	if err != nil {
		// Joins queued behind us are refused with this error; the visit may
		// be tried again (e.g. after a deposit), so it is not marked over.
		s.openErr = err
		s.log.Info("visit not opened", "err", err)
		s.post(func() { s.end(ReasonFunds) })
		return
	}
	s.bill = bill
	s.h.m.Active.WithLabelValues(kindLabel(s.v.Kind)).Inc()
	if s.h.cfg.RecordDir != "" && !s.v.Privileged {
		// Attorney visits are never recorded (DESIGN.md).
		s.recDir = recordDir(s.h.cfg.RecordDir, s.v.ID)
	}
	for _, w := range s.h.cfg.Warnings {
		if d := s.v.End.Add(-w).Sub(now); d > 0 {
			w := w
			s.timers = append(s.timers, s.h.clk.AfterFunc(d, func() { s.post(func() { s.warn(w, "window") }) }))
		}
	}
	s.timers = append(s.timers, s.h.clk.AfterFunc(s.v.End.Sub(now), func() { s.post(func() { s.end(ReasonWindow) }) }))
	s.armGrace()
	s.armKeepAlive()
}

// armKeepAlive schedules the next keep-alive of the bill's hold.
func (s *session) armKeepAlive() {
	k, ok := s.bill.(HoldKeeper)
	if !ok || k.KeepAliveEvery() <= 0 || s.done {
		return
	}
	s.keep = s.h.clk.AfterFunc(k.KeepAliveEvery(), func() {
		s.post(func() {
			if s.keepHold() {
				s.armKeepAlive()
			}
		})
	})
}

// keepHold keeps the bill's reservation alive while nobody is metered
// (the Meter does it while a segment runs): without it the ledger settles
// the hold HoldTTL after the last checkpoint, and a visit metered later
// would run against a closed reservation. It reports false when the visit
// ended because the hold was lost.
func (s *session) keepHold() bool {
	k, ok := s.bill.(HoldKeeper)
	if !ok || s.done {
		return !s.done
	}
	err := k.KeepAlive(s.ctx)
	switch {
	case errors.Is(err, ErrHoldLost):
		// Never meter a grant the ledger no longer holds.
		s.log.Error("visit reservation closed while live", "err", err)
		s.end(ReasonError)
		return false
	case err != nil && s.ctx.Err() == nil:
		s.log.Warn("visit reservation not kept alive", "err", err) // retried at the next keep-alive
	}
	return true
}

// warn tells every participant that the visit ends in remaining.
func (s *session) warn(remaining time.Duration, why string) {
	s.h.m.Warnings.Inc()
	s.broadcast(&outMessage{Type: TypeWarning, Remaining: int64(remaining / time.Second), Reason: why}, nil)
}

// broadcast sends m to every participant but skip.
func (s *session) broadcast(m *outMessage, skip *participant) {
	for _, p := range s.parts {
		if p != skip {
			p.conn.sendMsg(m)
		}
	}
}

// onBill handles a Meter event relayed by the Bill.
func (s *session) onBill(e BillEvent) {
	switch e.Kind {
	case BillWarning:
		s.warn(e.Remaining, "funds")
	case BillExhausted:
		s.end(ReasonExhausted)
	}
}

// meter starts or pauses metering: it runs only while the resident and at
// least one visitor are connected (ICE and DTLS up), so the resident is
// never billed for time the visit was not connected on both sides.
func (s *session) meter() {
	if s.bill == nil || s.done {
		return
	}
	var resident, visitor bool
	for _, p := range s.parts {
		if p.state != webrtc.PeerConnectionStateConnected {
			continue
		}
		switch p.role {
		case RoleResident:
			resident = true
		case RoleVisitor:
			visitor = true
		}
	}
	both := resident && visitor
	now := s.h.clk.Now()
	switch {
	case both && !s.metering:
		left := int64(s.v.End.Sub(now) / time.Second)
		if left <= 0 {
			return
		}
		if !s.keepHold() {
			return // the hold is gone: the visit ended
		}
		if err := s.bill.Resume(left, func(e BillEvent) { s.post(func() { s.onBill(e) }) }); err != nil {
			s.log.Error("metering did not start", "err", err)
			s.end(ReasonError)
			return
		}
		s.metering, s.segStart = true, now
		if s.firstBoth.IsZero() {
			s.firstBoth = now
			if t, ok := s.h.visits.(VisitTracker); ok {
				if err := t.Started(s.ctx, s.v.ID); err != nil {
					s.log.Warn("visit status not set", "err", err)
				}
			}
		}
	case !both && s.metering:
		s.bill.Pause()
		s.metering = false
		s.connected += now.Sub(s.segStart)
		// Checkpoint every segment's usage now: the Meter's last
		// checkpoint counted this segment only.
		s.keepHold()
	}
}

// topUp passes a deposit on to the bill while the visit is metered; a
// paused bill picks the new balance up when it resumes.
func (s *session) topUp() {
	if t, ok := s.bill.(TopUpper); ok && s.metering && !s.done {
		t.TopUp()
	}
}

// armGrace ends the visit when no participant has been connected for
// Config.EmptyGrace.
func (s *session) armGrace() {
	if s.done {
		return
	}
	for _, p := range s.parts {
		if p.role != RoleOfficer {
			if s.grace != nil {
				s.grace.Stop()
				s.grace = nil
			}
			return
		}
	}
	if s.grace == nil {
		s.grace = s.h.clk.AfterFunc(s.h.cfg.EmptyGrace, func() { s.post(func() { s.end(ReasonAbandoned) }) })
	}
}

// end ends the visit once: tell everyone why, close every peer and socket,
// wait for the media goroutines, settle the bill and write the CDR.
func (s *session) end(reason string) {
	if s.done {
		return
	}
	s.done = true
	defer s.h.settledSession(s)
	s.qmu.Lock()
	s.stopped = true
	s.queue = nil
	s.qmu.Unlock()
	s.h.forget(s, s.openErr == nil)
	for _, t := range s.timers {
		t.Stop()
	}
	if s.grace != nil {
		s.grace.Stop()
	}
	if s.keep != nil {
		s.keep.Stop()
	}
	now := s.h.clk.Now()
	if s.metering {
		s.bill.Pause()
		s.metering = false
		s.connected += now.Sub(s.segStart)
	}
	msg := &outMessage{Type: TypeEnded, Reason: reason}
	for _, p := range s.parts {
		p.conn.sendMsg(msg)
		p.conn.closeWith(websocket.CloseNormalClosure, "ended")
	}
	// Close peers in order before waiting: a closed receiver ends its
	// forwarder, a stopped sender ends its RTCP reader (pion #2098).
	for _, p := range s.parts {
		_ = p.pc.GracefulClose()
	}
	s.wg.Wait()
	s.cancel()
	if s.openErr != nil {
		return
	}
	if isCutoff(reason) {
		s.h.m.Cutoffs.WithLabelValues(reason).Inc()
	}
	s.h.m.Active.WithLabelValues(kindLabel(s.v.Kind)).Dec()
	cdr := CDR{
		VisitID: s.v.ID, Facility: s.v.Facility, ResidentID: s.v.ResidentID, Kind: s.v.Kind,
		Privileged: s.v.Privileged, Opened: s.opened, Connected: s.firstBoth, Ended: now,
		Seconds: int64(s.connected / time.Second), Reason: reason, RecordingPath: s.recordingPath(),
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 30*time.Second)
	defer cancel()
	if t, ok := s.h.visits.(VisitTracker); ok {
		if err := t.Ended(ctx, s.v.ID, !s.firstBoth.IsZero()); err != nil {
			s.log.Warn("visit status not set", "err", err)
		}
	}
	ch, err := s.bill.Close(ctx, cdr)
	if err != nil {
		// EndAndWait returns it: a cancellation must not credit a visit
		// whose charge is not settled yet.
		s.closeErr = err
		s.log.Error("visit not settled", "err", err, "seconds", cdr.Seconds)
		return
	}
	s.log.Info("visit ended", "reason", reason, "seconds", ch.Seconds, "amount", ch.Amount, "free", ch.Free)
}

// recordingPath is the visit's recording folder if anything was recorded.
func (s *session) recordingPath() string {
	if s.recDir == "" {
		return ""
	}
	for f := range s.fwds {
		if f.rec != nil {
			return s.recDir
		}
	}
	return ""
}

// isCutoff reports whether ipcs (not the participants) ended the visit.
func isCutoff(reason string) bool {
	switch reason {
	case ReasonWindow, ReasonExhausted, ReasonOfficer, ReasonCancelled, ReasonShutdown, ReasonAbandoned, ReasonError:
		return true
	}
	return false
}

func kindLabel(k string) string {
	switch k {
	case KindRemote, KindInFacility, KindDirectDial:
		return k
	}
	return "other"
}

// joinRequest is a socket's admitted join, handed to the session.
type joinRequest struct {
	conn    *conn
	role    Role
	subject string
	at      time.Time // wall time the join arrived, for JoinSeconds
	reply   chan joinResult
}

type joinResult struct {
	p   *participant
	err error
}

// onJoin adds a participant: refuse if the visit is full, replace an
// earlier socket of the same person, build its peer, and offer.
func (s *session) onJoin(req joinRequest) {
	if s.openErr != nil {
		req.reply <- joinResult{err: s.openErr}
		return
	}
	var visitors, monitors int
	for _, q := range s.parts {
		if q.role == req.role && q.subject == req.subject || q.role == RoleResident && req.role == RoleResident {
			// A reconnect: the newer socket wins.
			q.conn.sendMsg(&outMessage{Type: TypeEnded, Reason: "replaced"})
			q.conn.closeWith(websocket.CloseNormalClosure, "replaced")
			s.remove(q, false)
			continue
		}
		switch q.role {
		case RoleVisitor:
			visitors++
		case RoleOfficer:
			monitors++
		}
	}
	if req.role == RoleVisitor && visitors >= s.h.cfg.MaxVisitors ||
		req.role == RoleOfficer && monitors >= s.h.cfg.MaxMonitors {
		req.reply <- joinResult{err: ErrVisitFull}
		return
	}
	s.nextID++
	p := &participant{
		s: s, id: s.nextID, pid: fmt.Sprintf("p%d", s.nextID), role: req.role, subject: req.subject,
		conn: req.conn, joinedAt: req.at, senders: map[*forwarder]*webrtc.RTPSender{},
	}
	if err := p.newPeer(); err != nil {
		s.log.Error("peer connection", "err", err)
		req.reply <- joinResult{err: err}
		return
	}
	s.parts[p.id] = p
	for f := range s.fwds {
		if f.owner != p {
			s.subscribe(p, f)
		}
	}
	req.reply <- joinResult{p: p}
	var peers []Peer
	for _, q := range s.parts {
		if q != p && q.role != RoleOfficer {
			peers = append(peers, q.peer())
		}
	}
	now := s.h.clk.Now()
	p.conn.sendMsg(&outMessage{
		Type: TypeJoined, Role: p.role, You: p.pid, Now: now.UTC().Format(time.RFC3339), Participants: peers,
		Visit: &VisitInfo{
			ID: s.v.ID, Kind: s.v.Kind, Start: s.v.Start.UTC().Format(time.RFC3339), End: s.v.End.UTC().Format(time.RFC3339),
			Privileged: s.v.Privileged, Recorded: s.recDir != "", Metered: s.v.Kind != KindInFacility && !s.v.Privileged,
		},
	})
	if p.role != RoleOfficer {
		// Monitors are invisible to the others.
		pe := p.peer()
		s.broadcast(&outMessage{Type: TypeParticipant, Event: "joined", Participant: &pe}, p)
	}
	s.negotiate(p)
	s.armGrace()
}

// onMessage handles a joined participant's message.
func (s *session) onMessage(p *participant, m Message) {
	if p.gone {
		return
	}
	switch m.Type {
	case TypeAnswer:
		p.onAnswer(m.SDP)
	case TypeCandidate:
		p.onCandidate(m.Candidate)
	case TypeLeave:
		s.remove(p, true)
		s.afterLeave()
	case TypeEnd:
		if p.role != RoleOfficer {
			a := answer(ErrForbidden)
			s.h.refused(a.Code)
			p.conn.sendMsg(&outMessage{Type: TypeError, Code: a.Code, Message: a.Message})
			return
		}
		s.log.Info("ended by officer", "officer", p.subject)
		s.end(ReasonOfficer)
	case TypeJoin:
		a := answer(ErrMalformed)
		p.conn.sendMsg(&outMessage{Type: TypeError, Code: a.Code, Message: "already joined"})
	}
}

// onGone handles a socket that went away without a leave.
func (s *session) onGone(p *participant, _ bool) {
	if p.gone {
		return
	}
	s.remove(p, false)
}

// afterLeave ends the visit when every visible participant has left.
func (s *session) afterLeave() {
	for _, q := range s.parts {
		if q.role != RoleOfficer {
			return
		}
	}
	s.end(ReasonCompleted)
}

// remove takes p out of the visit: its published tracks leave every
// subscriber, its peer closes, and the others are told.
func (s *session) remove(p *participant, left bool) {
	if p.gone {
		return
	}
	p.gone = true
	delete(s.parts, p.id)
	for f, sender := range p.senders {
		f.removeSubscriber(sender)
	}
	for f := range s.fwds {
		if f.owner == p {
			delete(s.fwds, f)
			for _, q := range s.parts {
				if sender, ok := q.senders[f]; ok {
					delete(q.senders, f)
					f.removeSubscriber(sender)
					_ = q.pc.RemoveTrack(sender)
					s.negotiate(q)
				}
			}
		}
	}
	_ = p.pc.GracefulClose()
	if p.role != RoleOfficer {
		pe := p.peer()
		s.broadcast(&outMessage{Type: TypeParticipant, Event: "left", Participant: &pe}, nil)
	}
	if !left {
		p.conn.closeWith(websocket.CloseNormalClosure, "")
	}
	s.meter()
	s.armGrace()
}

// negotiate sends p a new offer, or marks that one is needed once the
// outstanding offer is answered (the server is the only offerer).
func (s *session) negotiate(p *participant) {
	if p.gone {
		return
	}
	if p.pc.SignalingState() != webrtc.SignalingStateStable {
		p.needOffer = true
		return
	}
	if len(p.pc.GetTransceivers()) == 0 {
		return // a monitor with nothing to watch yet
	}
	p.needOffer = false
	offer, err := p.pc.CreateOffer(nil)
	if err == nil {
		err = p.pc.SetLocalDescription(offer)
	}
	if err != nil {
		s.log.Error("offer", "err", err, "role", p.role)
		p.conn.fail(err)
		s.remove(p, false)
		return
	}
	p.conn.sendMsg(&outMessage{Type: TypeOffer, SDP: offer.SDP})
}

// subscribe adds f's track to p's peer connection.
func (s *session) subscribe(p *participant, f *forwarder) {
	sender, err := p.pc.AddTrack(f.local)
	if err != nil {
		s.log.Error("add track", "err", err)
		return
	}
	p.senders[f] = sender
	f.addSubscriber(sender, p.pc)
	s.wg.Add(1)
	go f.readRTCP(sender)
	f.keyframe()
}
