// Package signalingtest is a pion-based /ws client for tests and load
// benchmarks: it joins a visit with a token, answers the server's offers,
// trickles candidates, publishes synthetic VP8 and Opus RTP, and counts
// the media it receives.
package signalingtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"ipcs/internal/clock"
)

// VP8Keyframe is a complete, decodable 1×1 VP8 keyframe (the lossy
// bitstream of the smallest WebP image), so browsers count decoded frames.
var VP8Keyframe = []byte{
	0x30, 0x01, 0x00, 0x9d, 0x01, 0x2a, 0x01, 0x00, 0x01, 0x00, 0x0e, 0xc0,
	0xfe, 0x25, 0xa4, 0x00, 0x03, 0x70, 0x00, 0x00, 0x00, 0x00,
}

// OpusSilence is one 20 ms Opus frame of silence (TOC 0xF8).
var OpusSilence = []byte{0xf8, 0xff, 0xfe}

// Options configure a Peer.
type Options struct {
	URL      string // ws://host/ws
	Token    string
	Origin   string // sent as the Origin header when set
	Publish  bool   // send synthetic media
	VideoPPS int    // video packets per second (default 30)
	AudioPPS int    // audio packets per second (default 50)
	// VideoPad appends this many bytes to each video payload to model
	// realistic packet sizes (the frame then no longer decodes).
	VideoPad int
}

// Event is a server message other than offer and candidate.
type Event struct {
	Type        string `json:"type"`
	Role        string `json:"role"`
	You         string `json:"you"`
	Event       string `json:"event"`
	Reason      string `json:"reason"`
	Remaining   int64  `json:"remaining"`
	Code        string `json:"code"`
	Message     string `json:"message"`
	Participant *struct {
		ID   string `json:"id"`
		Role string `json:"role"`
	} `json:"participant"`
	Participants []struct {
		ID   string `json:"id"`
		Role string `json:"role"`
	} `json:"participants"`
	SDP       string          `json:"sdp"`
	Candidate json.RawMessage `json:"candidate"`
}

// Counts are media received on one kind.
type Counts struct{ Packets, Bytes int64 }

// Peer is one test participant.
type Peer struct {
	opts   Options
	PC     *webrtc.PeerConnection
	ws     *websocket.Conn
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	events chan Event

	wmu sync.Mutex // guards ws writes

	video, audio     *webrtc.TrackLocalStaticRTP
	senderReports    atomic.Int64 // RTCP SRs received for the tracks received
	published        atomic.Bool
	rxVideo, rxAudio struct{ packets, bytes atomic.Int64 }
	sent             atomic.Int64 // RTP packets published
	plis             atomic.Int64
	firstMedia       atomic.Int64 // unix nanos of the first packet received
	started          time.Time
	closeCode        atomic.Int64
}

var errClosed = errors.New("signalingtest: peer closed")

// NewAPI returns the pion API peers use: VP8 and Opus, NACK and RTCP
// reports, loopback-only candidates, mDNS off.
func NewAPI() (*webrtc.API, error) { return newAPI(nil) }

// NewLossyAPI is NewAPI for peers whose sockets lose some received
// packets (see Loss), so the peer asks the relay to send them again
// (tests of retransmission).
func NewLossyAPI(l *Loss) (*webrtc.API, error) { return newAPI(l) }

func newAPI(l *Loss) (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.ConfigureNack(me, ir); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	if l != nil {
		n, err := newLossyNet(l)
		if err != nil {
			return nil, err
		}
		se.SetNet(n)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// Dial connects, joins and returns once the server answered the join
// ("joined") or refused it (an error naming the code).
func Dial(ctx context.Context, api *webrtc.API, o Options) (*Peer, error) {
	if o.VideoPPS == 0 {
		o.VideoPPS = 30
	}
	if o.AudioPPS == 0 {
		o.AudioPPS = 50
	}
	started := clock.Real{}.Now()
	h := http.Header{}
	if o.Origin != "" {
		h.Set("Origin", o.Origin)
	}
	ws, resp, err := websocket.DefaultDialer.DialContext(ctx, o.URL, h)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		ws.Close()
		return nil, err
	}
	pctx, cancel := context.WithCancel(context.Background())
	p := &Peer{opts: o, PC: pc, ws: ws, ctx: pctx, cancel: cancel, events: make(chan Event, 256), started: started}
	if o.Publish {
		p.video, _ = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "test")
		p.audio, _ = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "test")
	}
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			_ = p.send(map[string]any{"type": "candidate", "candidate": c.ToJSON()})
		}
	})
	pc.OnTrack(func(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		if p.ctx.Err() != nil {
			return
		}
		p.wg.Add(2)
		go p.readTrack(t)
		go p.readReports(t, r)
	})
	if err := p.send(map[string]string{"type": "join", "token": o.Token}); err != nil {
		p.Close()
		return nil, err
	}
	p.wg.Add(1)
	go p.readWS()
	for {
		select {
		case e, ok := <-p.events:
			if !ok {
				p.Close()
				return nil, fmt.Errorf("signalingtest: socket closed before joined (close %d)", p.closeCode.Load())
			}
			switch e.Type {
			case "joined":
				return p, nil
			case "error":
				p.Close()
				return nil, fmt.Errorf("signalingtest: refused: %s", e.Code)
			}
		case <-ctx.Done():
			p.Close()
			return nil, ctx.Err()
		}
	}
}

func (p *Peer) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if p.ctx.Err() != nil {
		return errClosed
	}
	_ = p.ws.SetWriteDeadline(clock.Real{}.Now().Add(5 * time.Second))
	return p.ws.WriteMessage(websocket.TextMessage, b)
}

// Send writes an arbitrary message (tests of the protocol).
func (p *Peer) Send(v any) error { return p.send(v) }

// Leave sends a leave message.
func (p *Peer) Leave() error { return p.send(map[string]string{"type": "leave"}) }

// readWS handles offers and candidates and passes everything else on.
func (p *Peer) readWS() {
	defer p.wg.Done()
	defer close(p.events)
	for {
		_, b, err := p.ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				p.closeCode.Store(int64(ce.Code))
			}
			return
		}
		var e Event
		if json.Unmarshal(b, &e) != nil {
			continue
		}
		switch e.Type {
		case "offer":
			// A failed answer (e.g. the visit ended meanwhile) is not fatal
			// to the reader: the server's next message says what happened.
			_ = p.answer(e.SDP)
		case "candidate":
			var c webrtc.ICECandidateInit
			if json.Unmarshal(e.Candidate, &c) == nil && c.Candidate != "" {
				_ = p.PC.AddICECandidate(c)
			}
		default:
			select {
			case p.events <- e:
			default:
			}
		}
	}
}

func (p *Peer) answer(sdp string) error {
	if err := p.PC.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return err
	}
	if p.opts.Publish && !p.published.Load() {
		for _, t := range []*webrtc.TrackLocalStaticRTP{p.audio, p.video} {
			s, err := p.PC.AddTrack(t)
			if err != nil {
				return err
			}
			p.wg.Add(1)
			go p.readRTCP(s)
		}
		p.published.Store(true)
		p.wg.Add(1)
		go p.publish()
	}
	ans, err := p.PC.CreateAnswer(nil)
	if err != nil {
		return err
	}
	if err := p.PC.SetLocalDescription(ans); err != nil {
		return err
	}
	return p.send(map[string]string{"type": "answer", "sdp": ans.SDP})
}

func (p *Peer) readRTCP(s *webrtc.RTPSender) {
	defer p.wg.Done()
	eachRTCP(s.Read, func(k rtcp.Packet) {
		if _, ok := k.(*rtcp.PictureLossIndication); ok {
			p.plis.Add(1)
		}
	})
}

// eachRTCP reads RTCP datagrams with read until it fails and hands every
// packet in them to f; a datagram that does not parse is skipped.
func eachRTCP(read func([]byte) (int, interceptor.Attributes, error), f func(rtcp.Packet)) {
	buf := make([]byte, 1500)
	for {
		n, _, err := read(buf)
		if err != nil {
			return
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		for _, k := range pkts {
			f(k)
		}
	}
}

// maxCatchUp bounds how much publishing a late ticker makes up at once:
// a briefly descheduled publisher keeps its nominal rate, a starved one
// falls behind (and Sent shows it) rather than bursting.
const maxCatchUp = 100 * time.Millisecond

// publish writes synthetic RTP at the configured rates until Close. The
// packets due are computed from the time elapsed, not the number of ticks,
// so a late ticker does not lower the offered load.
func (p *Peer) publish() {
	defer p.wg.Done()
	const tick = 10 * time.Millisecond
	clk := clock.Real{}
	t := clk.NewTicker(tick)
	defer t.Stop()
	video := append(append([]byte{0x10}, VP8Keyframe...), make([]byte, p.opts.VideoPad)...)
	vp := &rtp.Packet{Header: rtp.Header{Version: 2, Marker: true}, Payload: video}
	ap := &rtp.Packet{Header: rtp.Header{Version: 2, Marker: true}, Payload: OpusSilence}
	var vCredit, aCredit float64
	last := clk.Now()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C():
		}
		now := clk.Now()
		el := min(now.Sub(last), maxCatchUp).Seconds()
		last = now
		vCredit += float64(p.opts.VideoPPS) * el
		aCredit += float64(p.opts.AudioPPS) * el
		var n int64
		for ; vCredit >= 1; vCredit-- {
			vp.SequenceNumber++
			vp.Timestamp += uint32(90000 / p.opts.VideoPPS)
			if p.video.WriteRTP(vp) == nil {
				n++
			}
		}
		for ; aCredit >= 1; aCredit-- {
			ap.SequenceNumber++
			ap.Timestamp += 960
			if p.audio.WriteRTP(ap) == nil {
				n++
			}
		}
		p.sent.Add(n)
	}
}

// Sent returns how many RTP packets this peer has published.
func (p *Peer) Sent() int64 { return p.sent.Load() }

func (p *Peer) readTrack(t *webrtc.TrackRemote) {
	defer p.wg.Done()
	c := &p.rxAudio
	if t.Kind() == webrtc.RTPCodecTypeVideo {
		c = &p.rxVideo
	}
	buf := make([]byte, 1500)
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			return
		}
		if p.firstMedia.Load() == 0 {
			p.firstMedia.CompareAndSwap(0, clock.Real{}.Now().UnixNano())
		}
		c.packets.Add(1)
		c.bytes.Add(int64(n))
	}
}

// readReports reads the RTCP the relay sends about a received track and
// counts its sender reports.
func (p *Peer) readReports(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
	defer p.wg.Done()
	eachRTCP(r.Read, func(k rtcp.Packet) {
		if sr, ok := k.(*rtcp.SenderReport); ok && sr.SSRC == uint32(t.SSRC()) {
			p.senderReports.Add(1)
		}
	})
}

// SenderReports returns how many RTCP sender reports arrived for the
// tracks this peer receives (with their SSRCs).
func (p *Peer) SenderReports() int64 { return p.senderReports.Load() }

// Received returns what arrived so far on kind ("audio" or "video").
func (p *Peer) Received(kind string) Counts {
	c := &p.rxAudio
	if kind == "video" {
		c = &p.rxVideo
	}
	return Counts{Packets: c.packets.Load(), Bytes: c.bytes.Load()}
}

// PLIs returns how many keyframe requests the server sent this publisher.
func (p *Peer) PLIs() int64 { return p.plis.Load() }

// JoinLatency is the time from Dial to the first media packet received
// (0 while none arrived).
func (p *Peer) JoinLatency() time.Duration {
	n := p.firstMedia.Load()
	if n == 0 {
		return 0
	}
	return time.Unix(0, n).Sub(p.started)
}

// CloseCode is the WebSocket close code the server sent (0: none yet).
func (p *Peer) CloseCode() int { return int(p.closeCode.Load()) }

// Next returns the next event, or an error when the socket closed or ctx
// is done.
func (p *Peer) Next(ctx context.Context) (Event, error) {
	select {
	case e, ok := <-p.events:
		if !ok {
			return Event{}, errClosed
		}
		return e, nil
	case <-ctx.Done():
		return Event{}, ctx.Err()
	}
}

// WaitFor returns the next event of type typ, skipping others.
func (p *Peer) WaitFor(ctx context.Context, typ string) (Event, error) {
	for {
		e, err := p.Next(ctx)
		if err != nil || e.Type == typ {
			return e, err
		}
	}
}

// Close closes the peer connection and the socket and waits for the
// peer's goroutines.
func (p *Peer) Close() {
	p.wmu.Lock()
	p.cancel()
	p.wmu.Unlock()
	_ = p.PC.GracefulClose()
	_ = p.ws.Close()
	p.wg.Wait()
}
