package signaling

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"

	"ipcs/internal/clock"
	"ipcs/internal/token"
	"ipcs/metrics"
)

// joinPurpose is the internal/token purpose of visit join tokens.
const joinPurpose = "join"

// Hub is the /ws endpoint and the owner of every live visit session. It
// is an http.Handler; mount it at /ws.
type Hub struct {
	cfg    Config
	signer *token.Signer
	visits Visits
	biller Biller
	m      *metrics.Visits
	clk    clock.Clock // business time: token windows, slots, metering
	wall   clock.Clock // socket deadlines, pings, rate limits (always real)
	log    *slog.Logger
	api    *webrtc.API
	mux    io.Closer // the single-port UDP mux, if any
	up     websocket.Upgrader

	ctx    context.Context // the hub's lifetime; sessions derive from it
	cancel context.CancelFunc
	wg     sync.WaitGroup // socket handlers, writers, session goroutines

	// mu guards closed, sockets, conns, sessions, settling and ended.
	mu       sync.Mutex
	closed   bool
	sockets  int
	conns    map[*conn]struct{}
	sessions map[string]*session
	settling map[string]*session  // visit id → its ending session, until it settled
	ended    map[string]time.Time // visit id → its End, until End passes
}

// Option configures optional seams of a Hub.
type Option func(*options)

type options struct {
	clk   clock.Clock
	log   *slog.Logger
	setup []func(*webrtc.SettingEngine)
}

// WithClock sets the business clock (token windows, slots, metering);
// default the wall clock. Socket deadlines always use the wall clock.
func WithClock(c clock.Clock) Option { return func(o *options) { o.clk = c } }

// WithLogger sets the logger; default slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithSettingEngine lets a caller adjust pion's SettingEngine after the
// Config has been applied (e.g. an IP filter in tests). Non-standard knobs
// stay off Config (STYLE.md, Naming).
func WithSettingEngine(f func(*webrtc.SettingEngine)) Option {
	return func(o *options) { o.setup = append(o.setup, f) }
}

// New returns a Hub. signer verifies join tokens; visits looks visits up;
// biller meters and settles them; m is metrics.New().Visits.
func New(cfg Config, signer *token.Signer, visits Visits, biller Biller, m *metrics.Visits, opts ...Option) (*Hub, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if signer == nil || visits == nil || biller == nil || m == nil {
		return nil, errors.New("signaling: New: signer, visits, biller and metrics are required")
	}
	cfg.setDefaults()
	o := options{clk: clock.Real{}, log: slog.Default()}
	for _, f := range opts {
		f(&o)
	}
	api, mux, err := newAPI(&cfg, o.setup)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Hub{
		cfg: cfg, signer: signer, visits: visits, biller: biller, m: m,
		clk: o.clk, wall: clock.Real{}, log: o.log.With("component", "signaling"),
		api: api, mux: mux, ctx: ctx, cancel: cancel,
		conns: map[*conn]struct{}{}, sessions: map[string]*session{}, settling: map[string]*session{}, ended: map[string]time.Time{},
	}
	h.up = websocket.Upgrader{
		ReadBufferSize:  4096,
		WriteBufferSize: 4096,
		// The Origin is checked before upgrading, in ServeHTTP, so that a
		// refusal is counted; the upgrader only repeats the verdict.
		CheckOrigin: func(r *http.Request) bool { return h.cfg.originAllowed(r.Header.Get("Origin"), r.Host) },
	}
	return h, nil
}

// ServeHTTP upgrades r to a WebSocket and serves one participant on it.
// The handler's goroutine is the socket's reader; a second goroutine
// writes.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.cfg.originAllowed(r.Header.Get("Origin"), r.Host) {
		h.refused("origin")
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, `{"error":{"code":"origin","message":"origin not allowed"}}`+"\n")
		return
	}
	admitted := h.acquire()
	ws, err := h.up.Upgrade(w, r, nil) // on error it has answered 400
	if err != nil {
		h.refused("malformed")
		if admitted == nil {
			h.release(nil)
		}
		return
	}
	if admitted != nil {
		// Over capacity or closing: refuse at once with 1013 (STYLE.md,
		// bound concurrency where work enters).
		h.refused(answer(admitted).Code)
		a := answer(admitted)
		deadline := h.wall.Now().Add(h.cfg.WriteTimeout)
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(a.CloseCode, a.Code), deadline)
		_ = ws.Close()
		return
	}
	c := newConn(h, ws)
	h.track(c)
	defer func() {
		close(c.readerDone)
		if p := recover(); p != nil {
			h.refused("internal")
			h.log.Error("signaling: panic serving socket", "panic", p, "remote", r.RemoteAddr)
			c.closeWith(closeInternal, "internal")
		}
		c.closeWith(websocket.CloseNormalClosure, "")
		<-c.writerDone
		h.release(c)
	}()
	h.wg.Add(1)
	go c.writer()
	c.serve()
}

// acquire admits one more socket, or says why not.
func (h *Hub) acquire() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.closed:
		return ErrClosed
	case h.sockets >= h.cfg.MaxSockets:
		return ErrOverload
	}
	h.sockets++
	h.wg.Add(1)
	return nil
}

func (h *Hub) track(c *conn) {
	h.mu.Lock()
	h.conns[c] = struct{}{}
	h.mu.Unlock()
}

func (h *Hub) release(c *conn) {
	h.mu.Lock()
	h.sockets--
	if c != nil {
		delete(h.conns, c)
	}
	h.mu.Unlock()
	h.wg.Done()
}

// refused counts one refusal.
func (h *Hub) refused(reason string) { h.m.Refused.WithLabelValues(reason).Inc() }

// admit checks a join token and the visit's window, and hands the join to
// the visit's session. It runs on the socket's reader goroutine.
func (h *Hub) admit(ctx context.Context, c *conn, tok string) (*participant, *session, error) {
	now := h.clk.Now()
	claims, err := h.signer.Verify(tok, joinPurpose, now)
	if err != nil {
		return nil, nil, err
	}
	role := Role(claims.Role)
	switch role {
	case RoleVisitor, RoleResident, RoleOfficer:
	default:
		return nil, nil, fmt.Errorf("%w: role %q", ErrBadToken, claims.Role)
	}
	if claims.Resource == "" {
		return nil, nil, fmt.Errorf("%w: no visit", ErrBadToken)
	}
	v, err := h.visits.Visit(ctx, claims.Resource)
	if err != nil {
		return nil, nil, err
	}
	if claims.Facility != "" && claims.Facility != v.Facility {
		return nil, nil, fmt.Errorf("%w: facility", ErrBadToken)
	}
	switch {
	case v.Cancelled || !now.Before(v.End):
		return nil, nil, ErrVisitOver
	case now.Before(v.Start):
		return nil, nil, ErrNotOpen
	case role == RoleOfficer && v.Privileged:
		// Attorney visits are never monitored (DESIGN.md; W. Va. Code §31-20-5e).
		return nil, nil, ErrPrivileged
	}
	s, err := h.session(v, now)
	if err != nil {
		return nil, nil, err
	}
	reply := make(chan joinResult, 1)
	req := joinRequest{conn: c, role: role, subject: claims.Subject, at: h.wall.Now(), reply: reply}
	if !s.post(func() { s.onJoin(req) }) {
		return nil, nil, ErrVisitOver
	}
	select {
	case r := <-reply:
		return r.p, s, r.err
	case <-s.ctx.Done():
		return nil, nil, ErrVisitOver
	case <-ctx.Done():
		return nil, nil, ErrClosed
	}
}

// session returns the live session of v, starting one if needed.
func (h *Hub) session(v Visit, now time.Time) (*session, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	for id, end := range h.ended {
		if !now.Before(end) {
			delete(h.ended, id) // its tokens have expired too
		}
	}
	if _, ok := h.ended[v.ID]; ok {
		return nil, ErrVisitOver
	}
	if s := h.sessions[v.ID]; s != nil {
		return s, nil
	}
	s := newSession(h, v, now)
	h.sessions[v.ID] = s
	h.wg.Add(1)
	go s.run()
	return s, nil
}

// forget removes an ending session; over is false when the visit may be
// tried again (its bill could not be opened).
func (h *Hub) forget(s *session, over bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sessions[s.v.ID] == s {
		delete(h.sessions, s.v.ID)
		h.settling[s.v.ID] = s
	}
	if over {
		h.ended[s.v.ID] = s.v.End
	}
}

// End ends a live visit for reason (an officer's or an API's hang-up;
// "" means ReasonOfficer). It returns ErrUnknownVisit when the visit has
// no live session. The visit ends asynchronously; its CDR is written once.
func (h *Hub) End(visitID, reason string) error {
	if reason == "" {
		reason = ReasonOfficer
	}
	h.mu.Lock()
	s := h.sessions[visitID]
	h.mu.Unlock()
	if s == nil || !s.post(func() { s.end(reason) }) {
		return ErrUnknownVisit
	}
	return nil
}

// EndAndWait ends a live visit for reason like End, and returns once it
// has ended and settled: its charge committed and its CDR written (or
// ctx ends). A visit already ending is waited for. It returns
// ErrUnknownVisit when the visit has no live session, and the Bill's
// error when the visit ended but its charge could not be settled (its
// reservation may still be open; the ledger settles it later). A
// facility's cancellation uses it, so the credit it gives sees the
// visit's CDR, and is retried when the visit did not settle.
func (h *Hub) EndAndWait(ctx context.Context, visitID, reason string) error {
	if reason == "" {
		reason = ReasonOfficer
	}
	h.mu.Lock()
	s := h.sessions[visitID]
	ending := h.settling[visitID]
	h.mu.Unlock()
	switch {
	case s != nil:
		s.post(func() { s.end(reason) }) // false: it is ending already
	case ending != nil:
		s = ending
	default:
		return ErrUnknownVisit
	}
	select {
	case <-s.settled:
		if s.closeErr != nil {
			return fmt.Errorf("signaling: visit %s not settled: %w", visitID, s.closeErr)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("signaling: visit %s did not settle: %w", visitID, ctx.Err())
	}
}

// settledSession forgets a settled session's channel.
func (h *Hub) settledSession(s *session) {
	h.mu.Lock()
	if h.settling[s.v.ID] == s {
		delete(h.settling, s.v.ID)
	}
	h.mu.Unlock()
	close(s.settled)
}

// TopUp tells the live visits billed to accountID that a deposit landed,
// so a metered visit's reservation extends at once rather than at the
// Meter's next extension retry (rating.Metered.TopUp), as
// callswitch.Switch.TopUp does for calls. The daemon calls it from the
// deposit hook; it never blocks and ignores accounts with no live visit.
func (h *Hub) TopUp(accountID string) {
	h.mu.Lock()
	var ss []*session
	for _, s := range h.sessions {
		if s.v.ResidentID == accountID {
			ss = append(ss, s)
		}
	}
	h.mu.Unlock()
	for _, s := range ss {
		s.post(s.topUp)
	}
}

// Live returns the number of visits in progress.
func (h *Hub) Live() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.sessions)
}

// Close ends every visit with ReasonShutdown (settling their bills and
// writing their CDRs), closes every socket and waits for all goroutines.
func (h *Hub) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	sessions := make([]*session, 0, len(h.sessions))
	for _, s := range h.sessions {
		sessions = append(sessions, s)
	}
	conns := make([]*conn, 0, len(h.conns))
	for c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.Unlock()
	for _, s := range sessions {
		s.post(func() { s.end(ReasonShutdown) })
	}
	for _, c := range conns {
		c.closeWith(websocket.CloseGoingAway, "shutdown")
	}
	h.wg.Wait()
	h.cancel()
	if h.mux != nil {
		return h.mux.Close()
	}
	return nil
}
