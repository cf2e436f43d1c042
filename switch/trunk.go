package callswitch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"ipcs/internal/clock"
)

// TrunkConfig configures the demo trunk.
type TrunkConfig struct {
	// Listen is the UDP and TCP address. Default "127.0.0.1:0".
	Listen string
	// RingDelay is how long it rings (180) before answering. Default 1s.
	RingDelay time.Duration
	// Answer decides per dialed destination (the Request-URI user):
	// 200 answers, 0 rings until cancelled, any other final code (480,
	// 486, 503…) refuses. Nil answers every call.
	Answer func(dest string) int
	// SDP is the answer's body. Default a minimal PCMU offer answer.
	SDP []byte
	// BeforeByeAnswer, when set, runs before the trunk answers a BYE
	// (on sipgo's goroutine for that request): a test blocks in it to
	// play a carrier that is slow to confirm a hang-up.
	BeforeByeAnswer func()
}

// DemoTrunk is a stand-in for the outside carrier (the one fake besides
// the clock that tests may use): a sipgo UAS that rings, answers and holds
// each call until BYE. The daemon's demo routes calls to it; tests script
// its answers.
type DemoTrunk struct {
	cfg   TrunkConfig
	clk   clock.Clock
	log   *slog.Logger
	ua    *sipgo.UserAgent
	srv   *sipgo.Server
	cache *sipgo.DialogServerCache
	addr  string

	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup // call handlers
	serving sync.WaitGroup // listeners
	sockets []interface{ Close() error }

	// mu guards calls and closed.
	mu     sync.Mutex
	calls  map[*sipgo.DialogServerSession]string // answered calls → destination
	closed bool
}

// DefaultSDP is the SDP the demo trunk and the test phone offer.
var DefaultSDP = []byte("v=0\r\no=ipcs 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")

// NewDemoTrunk starts a demo trunk listening on cfg.Listen.
func NewDemoTrunk(cfg TrunkConfig, opts ...Option) (*DemoTrunk, error) {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.RingDelay == 0 {
		cfg.RingDelay = time.Second
	}
	if cfg.SDP == nil {
		cfg.SDP = DefaultSDP
	}
	o := options{clk: clock.Real{}, log: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	t := &DemoTrunk{cfg: cfg, clk: o.clk, log: o.log.With("component", "demo-trunk"), calls: make(map[*sipgo.DialogServerSession]string)}
	quiet := slog.New(&sipgoLog{next: t.log.Handler(), guard: &inputGuard{met: nil}})
	var err error
	t.ua, err = sipgo.NewUA(sipgo.WithUserAgent("ipcs-demo-trunk"),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(quiet)),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(quiet),
			sip.WithTransactionLayerUnhandledResponseHandler(func(*sip.Response) {})))
	if err != nil {
		return nil, err
	}
	cli, err := sipgo.NewClient(t.ua, sipgo.WithClientLogger(quiet))
	if err != nil {
		t.ua.Close()
		return nil, err
	}
	if t.srv, err = sipgo.NewServer(t.ua, sipgo.WithServerLogger(quiet)); err != nil {
		t.ua.Close()
		return nil, err
	}
	udp, tcp, err := listenPair(cfg.Listen)
	if err != nil {
		t.ua.Close()
		return nil, fmt.Errorf("demo trunk: listen %s: %w", cfg.Listen, err)
	}
	ap := udp.LocalAddr().(*net.UDPAddr).AddrPort()
	t.addr = ap.String()
	t.cache = sipgo.NewDialogServerCache(cli, sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "trunk", Host: ap.Addr().String(), Port: int(ap.Port())}})
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.srv.OnInvite(t.onInvite)
	t.srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) { _ = t.cache.ReadAck(req, tx) })
	t.srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		if cfg.BeforeByeAnswer != nil {
			cfg.BeforeByeAnswer()
		}
		if err := t.cache.ReadBye(req, tx); err != nil {
			_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
		}
	})
	for _, serve := range []func() error{
		func() error { return t.srv.ServeUDP(udp) },
		func() error { return t.srv.ServeTCP(tcp) },
	} {
		t.serving.Add(1)
		go func() {
			defer t.serving.Done()
			_ = serve()
		}()
	}
	t.sockets = append(t.sockets, udp, tcp)
	return t, nil
}

// Addr returns the trunk's UDP and TCP address.
func (t *DemoTrunk) Addr() string { return t.addr }

// URI returns the trunk as a Config.Trunk value, "sip:HOST:PORT".
func (t *DemoTrunk) URI() string { return "sip:" + t.addr }

// Calls returns how many answered calls the trunk holds.
func (t *DemoTrunk) Calls() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.calls)
}

// Hangup sends BYE on every answered call to dest ("" for all), as if
// the called party hung up, and returns how many it ended.
func (t *DemoTrunk) Hangup(ctx context.Context, dest string) (int, error) {
	t.mu.Lock()
	var ds []*sipgo.DialogServerSession
	for d, to := range t.calls {
		if dest == "" || to == dest {
			ds = append(ds, d)
		}
	}
	t.mu.Unlock()
	var errs []error
	for _, d := range ds {
		if err := d.Bye(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return len(ds), errors.Join(errs...)
}

func (t *DemoTrunk) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusServiceUnavailable, "Service Unavailable", nil))
		return
	}
	t.wg.Add(1)
	t.mu.Unlock()
	defer t.wg.Done()
	dest := req.Recipient.User
	status := sip.StatusOK
	if t.cfg.Answer != nil {
		status = t.cfg.Answer(dest)
	}
	d, err := t.cache.ReadInvite(req, tx)
	if err != nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusBadRequest, "Bad Request", nil))
		return
	}
	defer d.Close()
	if status != sip.StatusOK && status != 0 {
		_ = d.Respond(status, statusText(status), nil)
		return
	}
	if err := d.Respond(sip.StatusRinging, "Ringing", nil); err != nil {
		return
	}
	ring := t.clk.NewTimer(t.cfg.RingDelay)
	defer ring.Stop()
	if status == 0 {
		ring.Stop()
	}
	select {
	case <-ring.C():
	case <-d.Context().Done(): // CANCEL: sipgo answered 487
		return
	case <-t.ctx.Done():
		_ = d.Respond(sip.StatusServiceUnavailable, "Service Unavailable", nil)
		return
	}
	t.mu.Lock()
	t.calls[d] = dest
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		delete(t.calls, d)
		t.mu.Unlock()
	}()
	if err := d.RespondSDP(t.cfg.SDP); err != nil {
		return
	}
	select {
	case <-d.Context().Done(): // BYE from either side
	case <-t.ctx.Done():
		ctx, cancel := context.WithCancel(context.Background())
		stop := t.clk.AfterFunc(2*time.Second, cancel)
		_ = d.Bye(ctx)
		stop.Stop()
		cancel()
	}
}

func statusText(code int) string {
	switch code {
	case 480:
		return "Temporarily Unavailable"
	case 486:
		return "Busy Here"
	case 503:
		return "Service Unavailable"
	case 404:
		return "Not Found"
	case 603:
		return "Decline"
	}
	return "Call Failed"
}

// Close hangs up every call and stops the trunk.
func (t *DemoTrunk) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	t.mu.Unlock()
	t.cancel() // handlers hang up their calls and return
	t.wg.Wait()
	for _, c := range t.sockets {
		c.Close()
	}
	t.serving.Wait()
	return t.ua.Close()
}
