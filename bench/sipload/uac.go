package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"ipcs/internal/clock"
)

// sdpOffer is a minimal audio offer (PCMU), enough for a B2BUA or a UAS
// that looks at the body; no media flows in this benchmark.
const sdpOffer = "v=0\r\n" +
	"o=sipload 1 1 IN IP4 127.0.0.1\r\n" +
	"s=sipload\r\n" +
	"c=IN IP4 127.0.0.1\r\n" +
	"t=0 0\r\n" +
	"m=audio 40000 RTP/AVP 0\r\n" +
	"a=rtpmap:0 PCMU/8000\r\n"

// caller places housing-phone calls through one sipgo user agent that
// listens on one local socket (responses and the peer's in-dialog
// requests arrive there).
type caller struct {
	cfg  Config
	clk  clock.Clock
	log  *slog.Logger
	ua   *sipgo.UserAgent
	srv  *sipgo.Server
	cli  *sipgo.Client
	dua  sipgo.DialogUA
	lis  *listener
	host string
	port int
	// localHost and localPort are the bound address, for Contact.
	localHost string
	localPort int
	// live maps the Call-ID of each answered call to its dialog, so a BYE
	// from the peer (e.g. the switch cutting a call off) ends it.
	live sync.Map
	// errLogs samples "error" outcomes: only the first few are logged.
	errLogs atomic.Int32
}

func newCaller(cfg Config, clk clock.Clock, log *slog.Logger) (*caller, error) {
	c := &caller{cfg: cfg, clk: clk, log: log.With("component", "caller")}
	c.host, c.port = hostPort(cfg.Target)
	var err error
	if c.ua, err = sipgo.NewUA(sipgo.WithUserAgent("sipload")); err != nil {
		return nil, err
	}
	if c.srv, err = sipgo.NewServer(c.ua); err != nil {
		c.ua.Close()
		return nil, err
	}
	c.srv.OnBye(c.onBye)
	for _, m := range []sip.RequestMethod{sip.INFO, sip.OPTIONS, sip.NOTIFY, sip.UPDATE} {
		c.srv.OnRequest(m, respondOK)
	}
	c.srv.OnAck(func(*sip.Request, sip.ServerTransaction) {})
	setAddr := func(a *net.UDPAddr) { c.localHost, c.localPort = a.IP.String(), a.Port }
	if c.lis, err = listen(c.srv, cfg.Local, cfg.Transport == "tcp", setAddr, c.log); err != nil {
		c.ua.Close()
		return nil, err
	}
	opts := []sipgo.ClientOption{sipgo.WithClientHostname(c.localHost)}
	if cfg.Transport == "udp" {
		// Send from the listening socket: one socket, big buffers, and the
		// peer's responses and requests come back to the same port.
		opts = append(opts, sipgo.WithClientConnectionAddr(c.lis.addr().String()))
	}
	if c.cli, err = sipgo.NewClient(c.ua, opts...); err != nil {
		c.Close()
		return nil, err
	}
	c.dua = sipgo.DialogUA{Client: c.cli, ContactHDR: c.contact("sipload")}
	return c, nil
}

// Close stops the listener and the user agent.
func (c *caller) Close() {
	c.lis.Close()
	c.ua.Close()
}

func (c *caller) contact(user string) sip.ContactHeader {
	h := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: c.localHost, Port: c.localPort}}
	if c.cfg.Transport == "tcp" {
		h.Address.UriParams = sip.NewParams()
		h.Address.UriParams.Add("transport", "tcp")
	}
	return h
}

// onBye ends the call the peer hung up (answers 200), or answers 481 for a
// dialog it does not know (RFC 3261 §12.2.2).
func (c *caller) onBye(req *sip.Request, tx sip.ServerTransaction) {
	if id := req.CallID(); id != nil {
		if v, ok := c.live.Load(id.Value()); ok {
			if err := v.(*sipgo.DialogClientSession).ReadBye(req, tx); err != nil {
				c.log.Debug("answer BYE", "error", err)
			}
			return
		}
	}
	_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
}

func respondOK(req *sip.Request, tx sip.ServerTransaction) {
	_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
}

// identity is who places call n: round-robin over phones, PINs and
// destinations.
type identity struct {
	phone, pin, dest string
}

func (c *caller) identity(n uint64) identity {
	return identity{
		phone: c.cfg.Phones[n%uint64(len(c.cfg.Phones))],
		pin:   c.cfg.PINs[n%uint64(len(c.cfg.PINs))],
		dest:  c.cfg.Dests[n%uint64(len(c.cfg.Dests))],
	}
}

// newInvite builds call n's INVITE: Request-URI user PIN*DEST (DESIGN.md),
// From the phone, an SDP offer.
func (c *caller) newInvite(id identity) *sip.Request {
	ruri := sip.Uri{Scheme: "sip", User: id.pin + "*" + id.dest, Host: c.host, Port: c.port}
	req := sip.NewRequest(sip.INVITE, ruri)
	if c.cfg.Transport == "tcp" {
		req.SetTransport("TCP")
	}
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: id.phone, Host: c.host}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: ruri.User, Host: c.host}, Params: sip.NewParams()})
	ct := c.contact(id.phone)
	req.AppendHeader(&ct)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody([]byte(sdpOffer))
	return req
}

// place runs call n to its end and reports into st. The call is held
// for hold, or, when hold is 0, until it receives a token from release
// (memory mode paces hang-ups that way); the peer may hang up first.
// ctx ending aborts it (a BYE is still sent if it was answered).
func (c *caller) place(ctx context.Context, n uint64, hold time.Duration, release <-chan struct{}, st *stats) {
	id := c.identity(n)
	start := c.clk.Now()
	sess, err := c.setup(ctx, c.newInvite(id), id)
	if err != nil {
		kind := c.classify(err, "", id, sess)
		if sess != nil && sess.InviteResponse != nil && sess.InviteResponse.IsSuccess() {
			// The peer answered while we gave up (our CANCEL crossed its
			// 200, RFC 3261 §9.1): the call is up there, so confirm it and
			// hang up rather than leave it up at the peer.
			if sess.Ack(ctx) == nil {
				_ = c.bye(ctx, sess)
			}
		}
		st.end(kind)
		return
	}
	st.answer(c.clk.Now().Sub(start))
	callID := sess.InviteRequest.CallID().Value()
	c.live.Store(callID, sess)
	defer c.live.Delete(callID)
	if err := sess.Ack(ctx); err != nil {
		_ = c.bye(ctx, sess)
		st.end(c.classify(err, "ack-", id, nil))
		return
	}

	var holdC <-chan time.Time
	if hold > 0 {
		t := c.clk.NewTimer(hold)
		defer t.Stop()
		holdC = t.C()
	}
	aborted := false
	select {
	case <-holdC:
	case <-release:
	case <-sess.Context().Done():
		// The peer's BYE ended the dialog (onBye answered it).
		st.end("peer-bye")
		return
	case <-ctx.Done():
		aborted = true
	}
	err = c.bye(ctx, sess)
	switch {
	case aborted:
		st.end("aborted")
	case err != nil:
		st.end(c.classify(err, "bye-", id, nil))
	default:
		st.end("")
	}
}

// bye hangs up; it still runs when ctx has ended, bounded by -bye-timeout,
// so that an aborted run leaves no call up on the peer.
func (c *caller) bye(ctx context.Context, sess *sipgo.DialogClientSession) error {
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.ByeTimeout)
	defer cancel()
	if err := sess.Bye(bctx); err != nil {
		if sess.Context().Err() != nil && sess.LoadState() == sip.DialogStateEnded {
			// The peer's BYE crossed ours: the call is down either way.
			return nil
		}
		return err
	}
	return nil
}

// setup sends the INVITE and, if challenged (401/407), a second INVITE
// with the digest credentials; it returns the answered dialog, or the
// dialog as it stood (possibly nil) with the error.
func (c *caller) setup(ctx context.Context, req *sip.Request, id identity) (*sipgo.DialogClientSession, error) {
	sctx, cancel := context.WithTimeout(ctx, c.cfg.SetupTimeout)
	defer cancel()
	sess, err := c.dua.WriteInvite(sctx, req)
	if err != nil {
		return nil, err
	}
	err = sess.WaitAnswer(sctx, sipgo.AnswerOptions{})
	res := dialogResponse(err)
	if res == nil || res.StatusCode != sip.StatusUnauthorized && res.StatusCode != sip.StatusProxyAuthRequired {
		return sess, deadline(sctx, err)
	}
	// RFC 3261 §22.2: same Call-ID and From tag, CSeq+1, new branch.
	auth, err := c.authorization(req, res, id)
	if err != nil {
		return sess, err
	}
	again := req.Clone()
	again.RemoveHeader("Via")
	again.RemoveHeader(auth.Name())
	again.CSeq().SeqNo++
	again.AppendHeader(auth)
	if sess, err = c.dua.WriteInvite(sctx, again); err != nil {
		return sess, err
	}
	return sess, deadline(sctx, sess.WaitAnswer(sctx, sipgo.AnswerOptions{}))
}

// deadline marks err as a setup timeout when the setup's deadline has
// passed: whatever final answer then came while sipgo was cancelling
// (a late 401, a 487, even a 200) is the timeout's consequence.
func deadline(sctx context.Context, err error) error {
	if err != nil && dialogResponse(err) == nil && errors.Is(sctx.Err(), context.DeadlineExceeded) && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
	}
	return err
}

// authorization answers the challenge in res: the one with -digest's
// algorithm, or the first one (RFC 8760 §2.4: a server may offer several).
func (c *caller) authorization(req *sip.Request, res *sip.Response, id identity) (sip.Header, error) {
	chName, authName := "WWW-Authenticate", "Authorization"
	if res.StatusCode == sip.StatusProxyAuthRequired {
		chName, authName = "Proxy-Authenticate", "Proxy-Authorization"
	}
	var chosen *digest.Challenge
	for _, h := range res.GetHeaders(chName) {
		ch, err := digest.ParseChallenge(h.Value())
		if err != nil {
			continue
		}
		ch.Algorithm = strings.ToUpper(ch.Algorithm)
		alg := ch.Algorithm
		if alg == "" {
			alg = "MD5"
		}
		if c.cfg.Digest == "" || c.cfg.Digest == alg {
			chosen = ch
			break
		}
	}
	if chosen == nil {
		return nil, fmt.Errorf("%w: no usable %s challenge in %d", errAuth, chName, res.StatusCode)
	}
	cred, err := digest.Digest(chosen, digest.Options{
		Method:   req.Method.String(),
		URI:      req.Recipient.Addr(),
		Username: id.phone,
		Password: c.cfg.Password,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errAuth, err)
	}
	return sip.NewHeader(authName, cred.String()), nil
}

var errAuth = errors.New("digest")

// dialogResponse returns the final non-2xx response inside err, if any.
func dialogResponse(err error) *sip.Response {
	var pe *sipgo.ErrDialogResponse
	if errors.As(err, &pe) {
		return pe.Res
	}
	var ve sipgo.ErrDialogResponse
	if errors.As(err, &ve) {
		return ve.Res
	}
	return nil
}

// classify names a failed call's outcome for the failure table. sess,
// when given, is the dialog of a failed setup: a final answer that came
// while sipgo was cancelling (it reports that as a plain error) counts
// under its status, unless the setup had timed out.
func (c *caller) classify(err error, prefix string, id identity, sess *sipgo.DialogClientSession) string {
	if res := dialogResponse(err); res != nil {
		return prefix + strconv.Itoa(res.StatusCode)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, sip.ErrTransactionTimeout) {
		return prefix + "timeout"
	}
	if sess != nil && sess.InviteResponse != nil && !sess.InviteResponse.IsProvisional() && !sess.InviteResponse.IsSuccess() {
		return prefix + strconv.Itoa(sess.InviteResponse.StatusCode)
	}
	switch {
	case errors.Is(err, context.Canceled):
		return "aborted"
	case errors.Is(err, errAuth):
		return "auth"
	}
	if c.errLogs.Add(1) <= 5 {
		c.log.Warn("call failed", "phone", id.phone, "stage", strings.TrimSuffix(prefix, "-"), "error", err)
	}
	return prefix + "error"
}
