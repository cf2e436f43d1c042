package callswitch

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"ipcs/internal/clock"
	"ipcs/metrics"
)

// Switch is the SIP call switch: a B2BUA between housing phones and the
// outbound trunk. See the package documentation for its life cycle.
type Switch struct {
	cfg      Config
	trunk    sip.Uri
	trunkTP  string // "UDP", "TCP", "TLS"
	log      *slog.Logger
	clk      clock.Clock
	met      *metrics.Calls
	ctr      *counters // met's labelled children, looked up once
	rater    Rater
	accounts Accounts
	meter    Meter
	dir      atomic.Pointer[Directory]
	auth     *authenticator
	locks    *lockout
	gwLocks  *lockout // per trusted gateway, gatewayLockoutFactor × the phones' limit
	guard    *inputGuard

	ua  *sipgo.UserAgent
	srv *sipgo.Server
	cli *sipgo.Client

	ctx      context.Context // the daemon's: parent of every call
	cancel   context.CancelCauseFunc
	inflight atomic.Int64 // INVITEs being handled: admission control

	calls sync.WaitGroup // INVITE handlers (each runs one call) and their helpers
	serve sync.WaitGroup // listener goroutines

	// mu guards state, listeners, the addresses, the dialog UAs, dialogs and live.
	mu        sync.Mutex
	state     int
	listeners []io.Closer
	udpAddr   netip.AddrPort
	tcpAddr   netip.AddrPort
	tlsAddr   netip.AddrPort
	phoneUA   *sipgo.DialogUA
	trunkUA   *sipgo.DialogUA
	dialogs   map[string]*call // both legs' dialog IDs
	live      map[string]*call // by call id
}

const (
	stateNew = iota
	stateStarted
	stateClosed
)

// errShutdown is the cause of the daemon context when Close runs.
var errShutdown = fmt.Errorf("%w: close", ErrShuttingDown)

// New builds a switch; it binds nothing until Start. dir is the initial
// directory (SetDirectory replaces it); rater, accounts and meter are the
// rating Book, the ledger and the rating Meter; m is the switch's
// metrics group.
func New(cfg Config, dir *Directory, rater Rater, accounts Accounts, meter Meter, m *metrics.Calls, opts ...Option) (*Switch, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if dir == nil || rater == nil || accounts == nil || meter == nil || m == nil {
		return nil, errors.New("callswitch: New needs a directory, rater, accounts, meter and metrics")
	}
	o := options{clk: clock.Real{}, log: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	trunk, _ := parseTrunk(cfg.Trunk)
	s := &Switch{
		cfg: cfg, trunk: trunk, trunkTP: trunkTransport(trunk),
		log: o.log.With("component", "callswitch"), clk: o.clk, met: m,
		ctr:   newCounters(m),
		rater: rater, accounts: accounts, meter: meter,
		locks:   newLockout(cfg.PINMaxFailures, cfg.PINWindow, cfg.PINLockout),
		gwLocks: newLockout(gatewayLockoutFactor*cfg.PINMaxFailures, cfg.PINWindow, cfg.PINLockout),
		dialogs: make(map[string]*call),
		live:    make(map[string]*call),
	}
	s.dir.Store(dir)
	var err error
	if s.auth, err = newAuthenticator(&s.cfg); err != nil {
		return nil, err
	}
	s.guard = &inputGuard{max: cfg.MaxMessageSize, met: s.ctr, log: s.log}
	sipLog := slog.New(&sipgoLog{next: s.log.Handler(), guard: s.guard})

	parser := sip.NewParser()
	parser.MaxMessageLength = cfg.MaxMessageSize
	s.ua, err = sipgo.NewUA(
		sipgo.WithUserAgent(cfg.UserAgent),
		sipgo.WithUserAgentParser(parser),
		sipgo.WithUserAgentTransportLayerOptions(
			sip.WithTransportLayerLogger(sipLog),
			sip.WithTransportLayerReadFilter(s.guard.filter),
		),
		sipgo.WithUserAgentTransactionLayerOptions(
			sip.WithTransactionLayerLogger(sipLog),
			sip.WithTransactionLayerUnhandledResponseHandler(s.onStrayResponse),
		),
	)
	if err != nil {
		return nil, fmt.Errorf("callswitch: user agent: %w", err)
	}
	host, _, _ := net.SplitHostPort(cfg.Listen)
	copts := []sipgo.ClientOption{sipgo.WithClientLogger(sipLog), sipgo.WithClientNAT()}
	if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
		copts = append(copts, sipgo.WithClientHostname(host))
	}
	if s.cli, err = sipgo.NewClient(s.ua, copts...); err != nil {
		s.ua.Close()
		return nil, fmt.Errorf("callswitch: client: %w", err)
	}
	if s.srv, err = sipgo.NewServer(s.ua, sipgo.WithServerLogger(sipLog)); err != nil {
		s.ua.Close()
		return nil, fmt.Errorf("callswitch: server: %w", err)
	}
	s.srv.OnInvite(s.guarded(s.onInvite))
	s.srv.OnAck(s.guarded(s.onAck))
	s.srv.OnBye(s.guarded(s.onBye))
	s.srv.OnCancel(s.guarded(s.onCancel))
	s.srv.OnOptions(s.guarded(s.onInDialog))
	s.srv.OnInfo(s.guarded(s.onInDialog))
	s.srv.OnUpdate(s.guarded(s.onInDialog))
	s.srv.OnNoRoute(s.guarded(s.onInDialog))
	s.ctx, s.cancel = context.WithCancelCause(context.Background())
	return s, nil
}

// SetDirectory replaces the directory; calls in progress keep the one
// they were authorized with.
func (s *Switch) SetDirectory(d *Directory) {
	if d != nil {
		s.dir.Store(d)
	}
}

// Start binds the UDP and TCP listeners (one port for both, so a peer
// may answer over either) and TLS if configured, and serves in the
// background until Close. ctx is the daemon's: when it is done, every call
// ends as on Close.
func (s *Switch) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateNew {
		return ErrClosed
	}
	udp, tcp, err := listenPair(s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("callswitch: listen %s: %w", s.cfg.Listen, err)
	}
	s.listeners = append(s.listeners, udp, tcp)
	s.udpAddr = udp.LocalAddr().(*net.UDPAddr).AddrPort()
	s.tcpAddr = tcp.Addr().(*net.TCPAddr).AddrPort()
	if s.cfg.TLSListen != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCertFile, s.cfg.TLSKeyFile)
		if err != nil {
			s.closeListenersLocked()
			return fmt.Errorf("callswitch: TLS certificate: %w", err)
		}
		tl, err := tls.Listen("tcp", s.cfg.TLSListen, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		if err != nil {
			s.closeListenersLocked()
			return fmt.Errorf("callswitch: listen TLS %s: %w", s.cfg.TLSListen, err)
		}
		s.listeners = append(s.listeners, tl)
		s.tlsAddr = tl.Addr().(*net.TCPAddr).AddrPort()
		s.goServe(func() error { return s.srv.ServeTLS(tl) })
	}
	contact := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "ipcs", Host: s.udpAddr.Addr().String(), Port: int(s.udpAddr.Port())}}
	// RewriteContact: in-dialog requests go where the dialog's messages
	// came from, over the same connection. This is the mitigation for
	// sipgo #361/#308 (a BYE over TCP opening a new connection to a
	// Contact port the peer does not listen on), and it reaches phones
	// behind NAT.
	s.phoneUA = &sipgo.DialogUA{Client: s.cli, ContactHDR: contact, RewriteContact: true}
	s.trunkUA = &sipgo.DialogUA{Client: s.cli, ContactHDR: contact, RewriteContact: true}
	poolListener(s.ua, udp)
	s.goServe(func() error { return s.srv.ServeUDP(udp) })
	s.goServe(func() error { return s.srv.ServeTCP(tcp) })
	s.state = stateStarted
	parent := context.AfterFunc(ctx, func() { s.cancel(context.Cause(ctx)) })
	s.serve.Add(1)
	go func() { // unhooks the daemon context once the switch is closed
		defer s.serve.Done()
		<-s.ctx.Done()
		parent()
	}()
	s.log.Info("listening", "udp", s.udpAddr.String(), "tcp", s.tcpAddr.String(), "tls", s.cfg.TLSListen, "trunk", s.cfg.Trunk)
	return nil
}

// ListenAndServe starts the switch and serves until ctx is done, then
// closes it: every call is ended (BYE to both legs, reason shutdown) and
// settled before it returns.
func (s *Switch) ListenAndServe(ctx context.Context) error {
	if err := s.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return s.Close()
}

func (s *Switch) goServe(f func() error) {
	s.serve.Add(1)
	go func() {
		defer s.serve.Done()
		// The label follows every goroutine sipgo starts from this
		// reader (one per request), so CPU profiles of the daemon can
		// tell the switch's work from the rest: -tagfocus component=callswitch.
		pprof.Do(context.Background(), pprof.Labels("component", "callswitch"), func(context.Context) {
			if err := f(); err != nil && !errors.Is(err, net.ErrClosed) {
				s.log.Error("listener stopped", "error", err)
			}
		})
	}()
}

// poolListener puts the UDP listener in sipgo's connection pool before
// its serve goroutine runs, so that a request sent right after Start from
// the listening socket (Request.Laddr) finds it instead of trying to bind
// the same port again.
func poolListener(ua *sipgo.UserAgent, conn net.PacketConn) {
	addr := conn.LocalAddr().String()
	ua.TransportLayer().Pool("udp").Add(addr, &sip.UDPConnection{PacketConn: conn, PacketAddr: addr, Listener: true})
}

// listenPair binds UDP and TCP on the same port. With port 0 the kernel
// picks the UDP port; TCP may find it taken, so a few ports are tried.
// udpBuffer is the socket buffer size asked for on the SIP UDP listener.
const udpBuffer = 4 << 20

func listenPair(addr string) (*net.UDPConn, *net.TCPListener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, err
	}
	var lastErr error
	for range 8 {
		ua, err := net.ResolveUDPAddr("udp", addr)
		if err != nil {
			return nil, nil, err
		}
		udp, err := net.ListenUDP("udp", ua)
		if err != nil {
			return nil, nil, err
		}
		// Both call legs share this socket: the kernel's default ~208 KiB
		// receive buffer overflows in the first burst past ~1,000 calls/s
		// (bench/sip-sweep.sh counted the drops), and every dropped
		// INVITE or BYE costs a retransmission timer. The kernel caps the
		// request at net.core.rmem_max; a smaller grant is not an error.
		_ = udp.SetReadBuffer(udpBuffer)
		_ = udp.SetWriteBuffer(udpBuffer)
		p := udp.LocalAddr().(*net.UDPAddr).Port
		tcp, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err == nil {
			return udp, tcp.(*net.TCPListener), nil
		}
		udp.Close()
		lastErr = err
		if port != "0" {
			break
		}
	}
	return nil, nil, lastErr
}

// Addr returns the UDP and TCP listen address ("host:port"); valid after Start.
func (s *Switch) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.udpAddr.String()
}

// TLSAddr returns the TLS listen address, "" without TLS.
func (s *Switch) TLSAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.tlsAddr.IsValid() {
		return ""
	}
	return s.tlsAddr.String()
}

// ActiveCalls returns how many calls are ringing or answered.
func (s *Switch) ActiveCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.live)
}

// Hangup ends a call (an officer's termination): BYE to both legs with
// reason "terminated by officer". It reports whether the call was live.
func (s *Switch) Hangup(callID string) bool {
	s.mu.Lock()
	c := s.live[callID]
	s.mu.Unlock()
	if c == nil {
		return false
	}
	// Billing stops now, as the officer acts; the call's ctx watcher would
	// stop it only when its goroutine runs.
	c.bill.stop(s.clk.Now())
	c.cancel(errOfficer)
	return true
}

// TopUp tells the live calls of an account that a deposit landed, so
// their Meter sessions extend at once instead of at the next retry.
func (s *Switch) TopUp(accountID string) {
	s.mu.Lock()
	var ms []*call
	for _, c := range s.live {
		if c.auth.resident.id == accountID {
			ms = append(ms, c)
		}
	}
	s.mu.Unlock()
	for _, c := range ms {
		c.topUp()
	}
}

// Close ends every call (BYE both legs, reason shutdown), settles each
// one, stops the listeners and waits for every goroutine the switch
// started. It is idempotent.
func (s *Switch) Close() error {
	s.mu.Lock()
	if s.state == stateClosed {
		s.mu.Unlock()
		return nil
	}
	started := s.state == stateStarted
	s.state = stateClosed
	s.mu.Unlock()

	s.cancel(errShutdown) // every call's ctx is a child: each ends itself
	s.calls.Wait()
	s.mu.Lock()
	s.closeListenersLocked()
	s.mu.Unlock()
	err := s.ua.Close()
	s.serve.Wait()
	// A datagram read just before the listener closed is handled on a
	// goroutine of its own (sipgo does not track them), and sipgo may
	// open a connection (and its reader) for it after the transport
	// layer closed its pool above: give those a moment of real time (a
	// transport grace, not business time), then close the layer once
	// more to close what they left.
	t := clock.Real{}.NewTimer(lateRequestGrace)
	<-t.C()
	_ = s.ua.TransportLayer().Close()
	if started {
		s.log.Info("closed")
	}
	return err
}

func (s *Switch) closeListenersLocked() {
	for _, l := range s.listeners {
		l.Close()
	}
	s.listeners = nil
}

// enter admits one INVITE: refused while closing (ErrShuttingDown) or
// over MaxCalls (ErrOverload). On success the caller must call leave.
func (s *Switch) enter() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateStarted {
		return ErrShuttingDown
	}
	if s.inflight.Add(1) > int64(s.cfg.MaxCalls) {
		s.inflight.Add(-1)
		return ErrOverload
	}
	s.calls.Add(1)
	return nil
}

func (s *Switch) leave() {
	s.inflight.Add(-1)
	s.calls.Done()
}

// lateRequestGrace is how long Close lets requests read just before the
// listeners closed finish with sipgo before it sweeps their connections.
const lateRequestGrace = 50 * time.Millisecond

// goCall runs f under the calls WaitGroup if the switch is not closing.
func (s *Switch) goCall(f func()) bool {
	s.mu.Lock()
	if s.state != stateStarted {
		s.mu.Unlock()
		return false
	}
	s.calls.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.calls.Done()
		f()
	}()
	return true
}

func (s *Switch) register(c *call, dialogID string) {
	s.mu.Lock()
	s.dialogs[dialogID] = c
	s.live[c.id] = c
	s.mu.Unlock()
}

// unregister forgets both legs' dialogs and the call, under one lock.
func (s *Switch) unregister(c *call) {
	s.mu.Lock()
	for _, id := range [2]string{c.phoneID, c.trunkID} {
		if id != "" && s.dialogs[id] == c {
			delete(s.dialogs, id)
		}
	}
	delete(s.live, c.id)
	s.mu.Unlock()
}

// lookup finds the call and leg an in-dialog request belongs to. The
// switch is UAS toward phones and UAC toward the trunk, so both dialog ID
// forms are tried; the legs have different Call-IDs, so they cannot clash.
func (s *Switch) lookup(req *sip.Request) (*call, leg) {
	// Phone leg first (ACK and most BYEs): the second ID is built only
	// when the first does not match.
	if id, err := sip.DialogIDFromRequestUAS(req); err == nil {
		if c := s.dialogCall(id, legPhone); c != nil {
			return c, legPhone
		}
	}
	if id, err := sip.DialogIDFromRequestUAC(req); err == nil {
		if c := s.dialogCall(id, legTrunk); c != nil {
			return c, legTrunk
		}
	}
	return nil, 0
}

// dialogCall returns the call whose leg l has dialog ID id, or nil.
func (s *Switch) dialogCall(id string, l leg) *call {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.dialogs[id]
	if c == nil || (l == legPhone && c.phoneID != id) || (l == legTrunk && c.trunkID != id) {
		return nil
	}
	return c
}

// guarded recovers a panic in a sipgo handler: it is counted, logged with
// the Call-ID, answered 500, and the switch keeps serving.
func (s *Switch) guarded(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		defer func() {
			if r := recover(); r != nil {
				s.met.Panics.Inc()
				s.log.Error("panic in SIP handler", "call_id", callIDOf(req), "method", string(req.Method), "panic", fmt.Sprint(r))
				if !req.IsAck() {
					res, _ := s.response(req, ErrPanic)
					_ = tx.Respond(res)
				}
			}
		}()
		h(req, tx)
	}
}

func callIDOf(req *sip.Request) string {
	if h := req.CallID(); h != nil {
		v := h.Value()
		if len(v) > 128 {
			v = v[:128]
		}
		return v
	}
	return ""
}

// respond answers req with err's answer, ignoring send failures (the
// peer retransmits, or is gone).
func (s *Switch) respond(req *sip.Request, tx sip.ServerTransaction, err error) wireAnswer {
	res, a := s.response(req, err)
	if rerr := tx.Respond(res); rerr != nil {
		s.log.Debug("respond failed", "call_id", callIDOf(req), "status", a.status, "error", rerr)
	}
	return a
}

// onAck confirms the phone leg of a call (ACK for our 2xx). ACKs for
// non-2xx answers are absorbed by sipgo's INVITE transaction; an ACK that
// matches nothing gets no answer (RFC 3261 §17.2.3).
func (s *Switch) onAck(req *sip.Request, tx sip.ServerTransaction) {
	c, l := s.lookup(req)
	if c == nil || l != legPhone {
		return
	}
	if err := c.phone.ReadAck(req, tx); err != nil {
		s.log.Debug("ACK refused", "call_id", c.id, "error", err)
	}
}

// onBye answers a BYE from either leg and hands it to the call. A BYE
// for an unknown dialog gets 481 (RFC 3261 §15.1.2), or the phone would
// retransmit and stay off-hook (NOTES.md sipgo pitfall 5).
func (s *Switch) onBye(req *sip.Request, tx sip.ServerTransaction) {
	c, l := s.lookup(req)
	if c == nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
		return
	}
	c.byeFrom(l, req, tx)
}

// onCancel answers a CANCEL that matched no INVITE transaction (sipgo
// handles the matching ones itself: 200, then 487 for the INVITE).
func (s *Switch) onCancel(req *sip.Request, tx sip.ServerTransaction) {
	_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
}

// onInDialog answers every other method. Inside a known dialog: INFO and
// OPTIONS 200, re-INVITE/UPDATE 488 (the switch does not renegotiate
// media yet; the call stays up); unknown dialog 481. Outside a dialog:
// OPTIONS 200 (keep-alive probes), anything else 405.
func (s *Switch) onInDialog(req *sip.Request, tx sip.ServerTransaction) {
	inDialog := false
	if to := req.To(); to != nil {
		_, inDialog = to.Params.Get("tag")
	}
	var status int
	var phrase string
	switch {
	case inDialog:
		c, _ := s.lookup(req)
		switch {
		case c == nil:
			status, phrase = sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist"
		case req.Method == sip.INFO || req.Method == sip.OPTIONS:
			status, phrase = sip.StatusOK, "OK"
		case req.Method == sip.INVITE || req.Method == sip.UPDATE:
			status, phrase = sip.StatusNotAcceptableHere, "Not Acceptable Here"
		default:
			status, phrase = sip.StatusMethodNotAllowed, "Method Not Allowed"
		}
	case req.Method == sip.OPTIONS:
		status, phrase = sip.StatusOK, "OK"
	default:
		status, phrase = sip.StatusMethodNotAllowed, "Method Not Allowed"
	}
	res := sip.NewResponseFromRequest(req, status, phrase, nil)
	if status == sip.StatusMethodNotAllowed || req.Method == sip.OPTIONS {
		res.AppendHeader(sip.NewHeader("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO"))
	}
	_ = tx.Respond(res)
}

// onStrayResponse sees responses that matched no client transaction. A
// 2xx to an INVITE retransmitted after the transaction ended must be
// ACKed again by the UAC core (RFC 3261 §13.2.2.4; sipgo #120), or the
// trunk keeps retransmitting and may drop the call.
func (s *Switch) onStrayResponse(res *sip.Response) {
	cseq := res.CSeq()
	if cseq == nil || cseq.MethodName != sip.INVITE || !res.IsSuccess() {
		return
	}
	id, err := sip.DialogIDFromResponse(res)
	if err != nil {
		return
	}
	if c := s.dialogCall(id, legTrunk); c != nil {
		c.reAck()
	}
}
