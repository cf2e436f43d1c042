package callswitch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// PhoneConfig configures a housing-phone user agent (tests, ipcsctl).
type PhoneConfig struct {
	// Switch is the switch's address, "host:port".
	Switch string
	// Transport is "udp" (default) or "tcp".
	Transport string
	// PhoneID and Password are the digest credentials.
	PhoneID  string
	Password string
	// SDP is the offer. Default DefaultSDP.
	SDP []byte
}

// Phone is a SIP user agent that places calls like a housing phone: it
// registers nothing, INVITEs with digest auth, and answers the switch's
// in-dialog BYE and INFO. One Phone can hold many calls.
type Phone struct {
	cfg  PhoneConfig
	ua   *sipgo.UserAgent
	cli  *sipgo.Client
	dua  *sipgo.DialogUA
	conn net.PacketConn
	wg   sync.WaitGroup

	// mu guards calls.
	mu    sync.Mutex
	calls map[string]*PhoneCall
}

// PhoneCall is one answered call of a Phone.
type PhoneCall struct {
	phone *Phone
	owned bool // Dial made the phone; Close closes it
	dlg   *sipgo.DialogClientSession

	// Provisional lists the provisional statuses received, in order.
	Provisional []int

	warnings chan string
	done     chan struct{}
	once     sync.Once
	// mu guards endReason.
	mu        sync.Mutex
	endReason string
}

// NewPhone starts a phone user agent on an ephemeral local port.
func NewPhone(cfg PhoneConfig) (*Phone, error) {
	if cfg.Transport == "" {
		cfg.Transport = "udp"
	}
	cfg.Transport = strings.ToLower(cfg.Transport)
	if cfg.Transport != "udp" && cfg.Transport != "tcp" {
		return nil, fmt.Errorf("phone: unsupported transport %q", cfg.Transport)
	}
	if cfg.SDP == nil {
		cfg.SDP = DefaultSDP
	}
	host, _, err := net.SplitHostPort(cfg.Switch)
	if err != nil {
		return nil, fmt.Errorf("phone: switch address: %w", err)
	}
	quiet := slog.New(&sipgoLog{next: slog.DiscardHandler, guard: &inputGuard{}})
	p := &Phone{cfg: cfg, calls: make(map[string]*PhoneCall)}
	p.ua, err = sipgo.NewUA(sipgo.WithUserAgent("ipcs-phone"), sipgo.WithUserAgentHostname(host),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(quiet)),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(quiet),
			sip.WithTransactionLayerUnhandledResponseHandler(func(*sip.Response) {})))
	if err != nil {
		return nil, err
	}
	srv, err := sipgo.NewServer(p.ua, sipgo.WithServerLogger(quiet))
	if err != nil {
		p.ua.Close()
		return nil, err
	}
	srv.OnBye(p.onBye)
	srv.OnInfo(p.onInfo)
	copts := []sipgo.ClientOption{sipgo.WithClientLogger(quiet)}
	localIP := "127.0.0.1"
	if ip := net.ParseIP(host); ip != nil && !ip.IsLoopback() {
		localIP = "0.0.0.0"
	}
	if cfg.Transport == "udp" {
		// Send from the socket we listen on, so the switch's BYE and INFO
		// (sent to where our INVITE came from) reach us.
		p.conn, err = net.ListenPacket("udp", net.JoinHostPort(localIP, "0"))
		if err != nil {
			p.ua.Close()
			return nil, err
		}
		copts = append(copts, sipgo.WithClientConnectionAddr(p.conn.LocalAddr().String()))
		poolListener(p.ua, p.conn)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			_ = srv.ServeUDP(p.conn)
		}()
	}
	if p.cli, err = sipgo.NewClient(p.ua, copts...); err != nil {
		p.Close()
		return nil, err
	}
	contact := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: cfg.PhoneID, Host: localIP}}
	if p.conn != nil {
		contact.Address.Port = p.conn.LocalAddr().(*net.UDPAddr).Port
	}
	p.dua = &sipgo.DialogUA{Client: p.cli, ContactHDR: contact}
	return p, nil
}

// Call dials PIN*to and waits for the answer. A refusal is a *CallError
// (status, phrase and Reason header); cancelling ctx before the answer
// sends CANCEL.
func (p *Phone) Call(ctx context.Context, pin, to string) (*PhoneCall, error) {
	host, port, _ := sip.ParseAddr(p.cfg.Switch)
	ruri := sip.Uri{Scheme: "sip", User: pin + "*" + to, Host: host, Port: port}
	req := sip.NewRequest(sip.INVITE, ruri)
	req.SetTransport(strings.ToUpper(p.cfg.Transport))
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: p.cfg.PhoneID, Host: host}}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(p.cfg.SDP)
	pc := &PhoneCall{phone: p, warnings: make(chan string, 8), done: make(chan struct{})}
	dlg, err := p.dua.WriteInvite(ctx, req)
	if err != nil {
		return nil, err
	}
	pc.dlg = dlg
	err = dlg.WaitAnswer(ctx, sipgo.AnswerOptions{
		Username: p.cfg.PhoneID,
		Password: p.cfg.Password,
		OnResponse: func(r *sip.Response) error {
			if r.IsProvisional() && r.StatusCode != sip.StatusTrying {
				pc.Provisional = append(pc.Provisional, r.StatusCode)
			}
			return nil
		},
	})
	var de *sipgo.ErrDialogResponse
	if errors.As(err, &de) {
		ce := &CallError{Status: de.Res.StatusCode, Phrase: de.Res.Reason}
		if h := de.Res.GetHeader("Reason"); h != nil {
			ce.Reason = h.Value()
		}
		return nil, ce
	}
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.calls[dlg.ID] = pc
	p.mu.Unlock()
	if err := dlg.Ack(ctx); err != nil {
		pc.finish("")
		return nil, fmt.Errorf("phone: ACK: %w", err)
	}
	return pc, nil
}

// Dial places one call from a fresh Phone; the call's Close closes it.
func Dial(ctx context.Context, cfg PhoneConfig, pin, to string) (*PhoneCall, error) {
	p, err := NewPhone(cfg)
	if err != nil {
		return nil, err
	}
	pc, err := p.Call(ctx, pin, to)
	if err != nil {
		p.Close()
		return nil, err
	}
	pc.owned = true
	return pc, nil
}

func (p *Phone) lookup(req *sip.Request) *PhoneCall {
	id, err := sip.DialogIDFromRequestUAC(req)
	if err != nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[id]
}

func (p *Phone) onBye(req *sip.Request, tx sip.ServerTransaction) {
	pc := p.lookup(req)
	if pc == nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
		return
	}
	reason := ""
	if h := req.GetHeader("Reason"); h != nil {
		reason = h.Value()
	}
	_ = pc.dlg.ReadBye(req, tx)
	pc.finish(reason)
}

func (p *Phone) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	pc := p.lookup(req)
	if pc == nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
		return
	}
	_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
	select {
	case pc.warnings <- string(req.Body()):
	default:
	}
}

// Close ends the phone's user agent (calls still up are abandoned).
func (p *Phone) Close() error {
	// Transactions first: a client transaction still re-sending an ACK
	// after the socket was closed would find no connection and open a
	// new socket (and its reader) that nothing closes.
	err := p.ua.Close()
	if p.conn != nil {
		p.conn.Close()
	}
	p.wg.Wait()
	return err
}

func (pc *PhoneCall) finish(reason string) {
	pc.once.Do(func() {
		pc.mu.Lock()
		pc.endReason = reason
		pc.mu.Unlock()
		pc.phone.mu.Lock()
		delete(pc.phone.calls, pc.dlg.ID)
		pc.phone.mu.Unlock()
		close(pc.done)
	})
}

// Hangup sends BYE and waits for its 200.
func (pc *PhoneCall) Hangup(ctx context.Context) error {
	var err error
	select {
	case <-pc.done: // the switch hung up first
	default:
		if pc.dlg.LoadState() == sip.DialogStateEnded {
			// sipgo ended the dialog by itself (it does when re-sending
			// the ACK for a retransmitted 200 fails) and its Bye would
			// return nil without sending anything, leaving the call up
			// at the switch: send the BYE outside its dialog code.
			err = pc.bye(ctx)
		} else {
			err = pc.dlg.Bye(ctx)
		}
	}
	pc.finish("")
	return err
}

// bye sends a BYE built from the dialog's INVITE and 200 and waits for
// its final answer.
func (pc *PhoneCall) bye(ctx context.Context) error {
	inv, res := pc.dlg.InviteRequest, pc.dlg.InviteResponse
	if res == nil || res.Contact() == nil || inv.CSeq() == nil {
		return errors.New("phone: BYE: the dialog has no answer to address")
	}
	bye := sip.NewRequest(sip.BYE, *res.Contact().Address.Clone())
	bye.SetTransport(inv.Transport())
	bye.AppendHeader(sip.HeaderClone(inv.From()))
	bye.AppendHeader(sip.HeaderClone(res.To()))
	bye.AppendHeader(sip.HeaderClone(inv.CallID()))
	bye.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo + 1, MethodName: sip.BYE})
	bye.AppendHeader(sip.NewHeader("Max-Forwards", "70"))
	tx, err := pc.phone.cli.TransactionRequest(ctx, bye)
	if err != nil {
		return fmt.Errorf("phone: BYE: %w", err)
	}
	defer tx.Terminate()
	for {
		select {
		case r := <-tx.Responses():
			if r.IsProvisional() {
				continue
			}
			if r.StatusCode != sip.StatusOK {
				return &CallError{Status: r.StatusCode, Phrase: r.Reason}
			}
			return nil
		case <-tx.Done():
			return fmt.Errorf("phone: BYE: %w", tx.Err())
		case <-ctx.Done():
			return fmt.Errorf("phone: BYE: %w", ctx.Err())
		}
	}
}

// Done is closed when the call has ended, by either side.
func (pc *PhoneCall) Done() <-chan struct{} { return pc.done }

// EndReason is the Reason header of the switch's BYE ("" when the phone
// hung up), e.g. `Q.850;cause=16;text="balance exhausted"`.
func (pc *PhoneCall) EndReason() string {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.endReason
}

// Warnings delivers the bodies of the switch's INFO warnings, e.g.
// "1 minute remaining".
func (pc *PhoneCall) Warnings() <-chan string { return pc.warnings }

// Close hangs up if the call is still up and, for Dial's calls, closes
// the phone.
func (pc *PhoneCall) Close(ctx context.Context) error {
	var err error
	select {
	case <-pc.done:
	default:
		err = pc.Hangup(ctx)
	}
	if pc.owned {
		err = errors.Join(err, pc.phone.Close())
	}
	return err
}
