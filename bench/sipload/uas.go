package main

import (
	"log/slog"
	"net"
	"sync/atomic"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// sdpAnswer answers sdpOffer.
const sdpAnswer = "v=0\r\n" +
	"o=sipload-uas 1 1 IN IP4 127.0.0.1\r\n" +
	"s=sipload\r\n" +
	"c=IN IP4 127.0.0.1\r\n" +
	"t=0 0\r\n" +
	"m=audio 40002 RTP/AVP 0\r\n" +
	"a=rtpmap:0 PCMU/8000\r\n"

// trunk is the built-in far end: it answers every INVITE with 200 at once
// (180 first with -ring) and every BYE with 200. It keeps no dialog
// state, only counters, so its cost per call stays flat at any rate.
type trunk struct {
	log  *slog.Logger
	ring bool
	ua   *sipgo.UserAgent
	srv  *sipgo.Server
	lis  *listener
	host string
	port int

	invites  atomic.Int64
	answered atomic.Int64
	byes     atomic.Int64
	cancels  atomic.Int64
	errors   atomic.Int64
}

func newTrunk(cfg Config, log *slog.Logger) (*trunk, error) {
	t := &trunk{log: log.With("component", "trunk"), ring: cfg.Ring}
	var err error
	if t.ua, err = sipgo.NewUA(sipgo.WithUserAgent("sipload-uas")); err != nil {
		return nil, err
	}
	if t.srv, err = sipgo.NewServer(t.ua); err != nil {
		t.ua.Close()
		return nil, err
	}
	t.srv.OnInvite(t.onInvite)
	t.srv.OnAck(func(*sip.Request, sip.ServerTransaction) {})
	t.srv.OnBye(t.onBye)
	t.srv.OnCancel(t.onCancel)
	t.srv.OnOptions(respondOK)
	setAddr := func(a *net.UDPAddr) { t.host, t.port = a.IP.String(), a.Port }
	if t.lis, err = listen(t.srv, cfg.UAS, true, setAddr, t.log); err != nil {
		t.ua.Close()
		return nil, err
	}
	return t, nil
}

// Close stops the listener and the user agent.
func (t *trunk) Close() {
	t.lis.Close()
	t.ua.Close()
}

func (t *trunk) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	t.invites.Add(1)
	if req.To() == nil {
		t.errors.Add(1)
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusBadRequest, "Bad Request", nil))
		return
	}
	tag := sip.GenerateTagN(16)
	if t.ring {
		res := sip.NewResponseFromRequest(req, sip.StatusRinging, "Ringing", nil)
		res.To().Params.Add("tag", tag)
		t.addContact(res, req)
		if err := tx.Respond(res); err != nil {
			t.errors.Add(1)
			return
		}
	}
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", []byte(sdpAnswer))
	res.To().Params.Add("tag", tag)
	t.addContact(res, req)
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	if err := tx.Respond(res); err != nil {
		t.errors.Add(1)
		return
	}
	t.answered.Add(1)
}

// addContact points in-dialog requests back here, on the INVITE's
// transport.
func (t *trunk) addContact(res *sip.Response, req *sip.Request) {
	c := &sip.ContactHeader{Address: sip.Uri{Scheme: "sip", Host: t.host, Port: t.port}}
	if sip.IsReliable(req.Transport()) {
		c.Address.UriParams = sip.NewParams()
		c.Address.UriParams.Add("transport", "tcp")
	}
	res.AppendHeader(c)
}

func (t *trunk) onBye(req *sip.Request, tx sip.ServerTransaction) {
	t.byes.Add(1)
	respondOK(req, tx)
}

// onCancel answers a CANCEL that matched no INVITE transaction (sipgo's
// transaction layer answers matching ones itself).
func (t *trunk) onCancel(req *sip.Request, tx sip.ServerTransaction) {
	t.cancels.Add(1)
	_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
}

// trunkReport is the trunk's JSON line.
type trunkReport struct {
	Mode     string `json:"mode"`
	Label    string `json:"label,omitempty"`
	Addr     string `json:"addr"`
	Invites  int64  `json:"invites"`
	Answered int64  `json:"answered"`
	Byes     int64  `json:"byes"`
	Cancels  int64  `json:"cancels"`
	Errors   int64  `json:"errors"`
}

func (t *trunk) report(label string) trunkReport {
	return trunkReport{
		Mode: "uas", Label: label, Addr: t.lis.addr().String(),
		Invites: t.invites.Load(), Answered: t.answered.Load(), Byes: t.byes.Load(),
		Cancels: t.cancels.Load(), Errors: t.errors.Load(),
	}
}
