package signaling

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/ivfwriter"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"
	"github.com/prometheus/client_golang/prometheus"
)

// Codecs the relay offers. The server is the only offerer, so every
// participant ends up on VP8 and Opus and a track can be forwarded to any
// of them unchanged (no transcoding).
var (
	codecVP8 = webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeVP8, ClockRate: 90000,
			RTCPFeedback: []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}},
		},
		PayloadType: 96,
	}
	codecOpus = webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1",
		},
		PayloadType: 111,
	}
)

// muxBufferBytes is the socket buffer asked for the single-port UDP mux:
// about 0.5 s of 50 visits' media, where the default 208 KiB overflows
// after a 25 ms stall of the reading goroutine.
const muxBufferBytes = 4 << 20

// statsEvery is how many packets a forwarder counts locally before adding
// them to the shared Packets/Bytes counters, so the relay's cores do not
// contend for one cache line per packet.
const statsEvery = 16

// pliInterval throttles keyframe requests per published track: joins,
// reconnects and subscribers' PLIs coalesce into one request per interval.
const pliInterval = 500 * time.Millisecond

// newAPI builds the pion API from cfg: VP8 + Opus, NACK and RTCP reports
// only (no congestion control: the relay forwards, it does not encode),
// a single-port UDP mux and NAT 1:1 addresses for deployments, loopback
// candidates for tests. mDNS is off: browsers that hide their host
// address behind a .local name still reach us, and we learn their address
// as a peer-reflexive candidate from their checks.
func newAPI(cfg *Config, setup []func(*webrtc.SettingEngine)) (*webrtc.API, io.Closer, error) {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(codecVP8, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, nil, err
	}
	if err := me.RegisterCodec(codecOpus, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, nil, err
	}
	// Interceptors for what the relay receives only: NACKs to publishers
	// for lost packets and receiver reports. What it sends needs none:
	// retransmissions come from the forwarder's history (one per track
	// instead of pion's NACK responder copying every packet per
	// subscriber), and sender reports are the publisher's, relayed
	// (forwarder.relayReports) instead of computed per packet.
	ir := &interceptor.Registry{}
	ir.Add(headerCacheFactory{}) // first: innermost, see headerCache
	gen, err := nack.NewGeneratorInterceptor()
	if err != nil {
		return nil, nil, err
	}
	ir.Add(gen)
	rr, err := report.NewReceiverInterceptor()
	if err != nil {
		return nil, nil, err
	}
	ir.Add(rr)
	se := webrtc.SettingEngine{}
	// AES-128-GCM first: AEAD (one AES-NI/CLMUL pass, no HMAC-SHA1 tag)
	// with 10 AES rounds instead of AES-256's 14; every browser offers it.
	// The DTLS server (us, as the offerer whose peers answer "active")
	// picks the first of its own profiles the client offers.
	se.SetSRTPProtectionProfiles(dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AEAD_AES_256_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80)
	se.SetIncludeLoopbackCandidate(cfg.IncludeLoopback)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	if len(cfg.NAT1To1IPs) > 0 {
		if err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External: cfg.NAT1To1IPs, AsCandidateType: webrtc.ICECandidateTypeHost,
		}); err != nil {
			return nil, nil, fmt.Errorf("signaling: NAT1To1IPs: %w", err)
		}
	}
	var mux io.Closer
	if cfg.UDPPort != 0 {
		// One socket carries every peer's media: give it room for bursts
		// (the kernel caps this at net.core.rmem_max/wmem_max).
		muxOpts := []ice.UDPMuxFromPortOption{
			ice.UDPMuxFromPortWithReadBufferSize(muxBufferBytes), ice.UDPMuxFromPortWithWriteBufferSize(muxBufferBytes),
		}
		if cfg.IncludeLoopback {
			muxOpts = append(muxOpts, ice.UDPMuxFromPortWithLoopback())
		}
		m, err := ice.NewMultiUDPMuxFromPort(cfg.UDPPort, muxOpts...)
		if err != nil {
			return nil, nil, fmt.Errorf("signaling: UDPPort %d: %w", cfg.UDPPort, err)
		}
		se.SetICEUDPMux(m)
		mux = m
	}
	for _, f := range setup {
		f(&se)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), mux, nil
}

// LoopbackOnly is a WithSettingEngine hook that gathers only 127.0.0.1
// candidates (tests and benchmarks on one host).
func LoopbackOnly(se *webrtc.SettingEngine) {
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
}

// forwarder relays one published track: it reads RTP from the publisher
// and writes it to a relayTrack that every subscriber's connection binds
// (header extensions dropped: their ids are negotiated per connection;
// SSRC and payload type set per subscriber). For video it keeps the
// history subscribers' NACKs are answered from.
type forwarder struct {
	s       *session
	owner   *participant
	remote  *webrtc.TrackRemote
	recv    *webrtc.RTPReceiver
	local   *relayTrack
	hist    *history // video only
	video   bool
	packets prometheus.Counter
	bytes   prometheus.Counter
	rec     mediaWriter // nil when not recorded; set before run, then only run uses it
	lastPLI atomic.Int64

	// subMu guards subs: the subscribers' connections and SSRCs, for
	// relaying the publisher's sender reports. The session adds and
	// removes them; relayReports reads them.
	subMu sync.Mutex
	subs  map[*webrtc.RTPSender]subscriber
}

// subscriber is where a forwarder's sender reports go.
type subscriber struct {
	pc   *webrtc.PeerConnection
	ssrc uint32
}

type mediaWriter interface {
	WriteRTP(*rtp.Packet) error
	Close() error
}

// newForwarder prepares the relay of track t, which p publishes. A
// recording that cannot start is logged and the visit goes on.
func newForwarder(s *session, p *participant, t *webrtc.TrackRemote, r *webrtc.RTPReceiver) *forwarder {
	kind := t.Kind().String()
	f := &forwarder{
		s: s, owner: p, remote: t, recv: r, video: t.Kind() == webrtc.RTPCodecTypeVideo,
		local:   newRelayTrack(t.Codec().RTPCodecCapability, t.Kind(), kind, "ipcs-"+p.pid),
		packets: s.h.m.Packets.WithLabelValues(kind), bytes: s.h.m.Bytes.WithLabelValues(kind),
		subs: map[*webrtc.RTPSender]subscriber{},
	}
	if f.video {
		f.hist = &history{}
	}
	if s.recDir != "" {
		rec, err := newRecorder(s.recDir, p, t)
		if err != nil {
			s.log.Error("recording not started", "err", err, "kind", kind)
		} else {
			f.rec = rec
		}
	}
	return f
}

// run forwards until the publisher's connection closes. Per packet it
// parses the header once into a reused rtp.Packet and allocates nothing:
// a video packet's read buffer goes into the history and the buffer it
// replaces is read into next.
func (f *forwarder) run() {
	defer f.s.wg.Done()
	rec := f.rec
	if rec != nil {
		defer func() {
			if err := rec.Close(); err != nil {
				f.s.log.Error("recording not closed", "err", err)
			}
		}()
	}
	buf := make([]byte, mtu)
	var pkt rtp.Packet
	first, recFailed := true, false
	var npk, nbytes int
	defer func() { f.count(npk, nbytes) }()
	for {
		n, _, err := f.remote.Read(buf)
		if err != nil {
			return
		}
		if pkt.Unmarshal(buf[:n]) != nil {
			continue
		}
		if first {
			first = false
			f.s.h.m.JoinSeconds.Observe(f.s.h.wall.Now().Sub(f.owner.joinedAt).Seconds())
		}
		stripExtensions(&pkt.Header)
		if f.local.write(&pkt.Header, pkt.Payload) {
			npk++
			nbytes += len(pkt.Payload)
			if npk == statsEvery {
				f.count(npk, nbytes)
				npk, nbytes = 0, 0
			}
		}
		if rec != nil && !recFailed {
			// A malformed sample must not stop the relay; the file keeps
			// what it has.
			recFailed = rec.WriteRTP(&pkt) != nil
		}
		if f.hist != nil {
			buf = f.hist.put(pkt.SequenceNumber, buf[:n])
		}
	}
}

// count adds forwarded packets and payload bytes to the metrics.
func (f *forwarder) count(packets, bytes int) {
	if packets > 0 {
		f.packets.Add(float64(packets))
		f.bytes.Add(float64(bytes))
	}
}

// keyframe asks the publisher for a keyframe, at most once per
// pliInterval. Safe from any goroutine.
func (f *forwarder) keyframe() {
	if !f.video {
		return
	}
	now := f.s.h.wall.Now().UnixNano()
	last := f.lastPLI.Load()
	if now-last < int64(pliInterval) || !f.lastPLI.CompareAndSwap(last, now) {
		return
	}
	if f.owner.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(f.remote.SSRC())}}) == nil {
		f.s.h.m.Keyframes.Inc()
	}
}

// addSubscriber and removeSubscriber keep the list relayReports sends to.
func (f *forwarder) addSubscriber(sender *webrtc.RTPSender, pc *webrtc.PeerConnection) {
	var ssrc uint32
	if enc := sender.GetParameters().Encodings; len(enc) > 0 {
		ssrc = uint32(enc[0].SSRC)
	}
	f.subMu.Lock()
	f.subs[sender] = subscriber{pc: pc, ssrc: ssrc}
	f.subMu.Unlock()
}

func (f *forwarder) removeSubscriber(sender *webrtc.RTPSender) {
	f.subMu.Lock()
	delete(f.subs, sender)
	f.subMu.Unlock()
}

// readRTCP drains one subscriber's RTCP for f (pion needs every sender
// read): PLI/FIR become a keyframe request to the publisher, NACKs are
// answered from the history. It ends when the sender stops.
func (f *forwarder) readRTCP(sender *webrtc.RTPSender) {
	defer f.s.wg.Done()
	var scratch []byte
	var pkt rtp.Packet
	rtcpLoop(sender.Read, func(p rtcp.Packet) {
		switch p := p.(type) {
		case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
			f.keyframe()
		case *rtcp.TransportLayerNack:
			if scratch == nil {
				scratch = make([]byte, mtu)
			}
			f.resend(p, scratch, &pkt)
		}
	})
}

// relayReports reads the publisher's RTCP for f (which also feeds pion's
// receiver reports) and passes its sender reports on to every subscriber
// with the subscriber's SSRC. Timestamps are forwarded unchanged, so the
// publisher's NTP↔RTP mapping is right for the subscriber (lip sync);
// the packet and octet counts are the publisher's. It ends when the
// receiver stops.
func (f *forwarder) relayReports() {
	defer f.s.wg.Done()
	var subs []subscriber
	rtcpLoop(f.recv.Read, func(p rtcp.Packet) {
		sr, ok := p.(*rtcp.SenderReport)
		if !ok || sr.SSRC != uint32(f.remote.SSRC()) {
			return
		}
		f.subMu.Lock()
		subs = subs[:0]
		for _, s := range f.subs {
			subs = append(subs, s)
		}
		f.subMu.Unlock()
		for _, s := range subs {
			out := rtcp.SenderReport{SSRC: s.ssrc, NTPTime: sr.NTPTime, RTPTime: sr.RTPTime,
				PacketCount: sr.PacketCount, OctetCount: sr.OctetCount}
			_ = s.pc.WriteRTCP([]rtcp.Packet{&out})
		}
	})
}

// rtcpLoop reads RTCP datagrams with read until it fails (the sender or
// receiver stopped) and hands every packet in them to handle; a datagram
// that does not parse is skipped.
func rtcpLoop(read func([]byte) (int, interceptor.Attributes, error), handle func(rtcp.Packet)) {
	buf := make([]byte, mtu)
	for {
		n, _, err := read(buf)
		if err != nil {
			return
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		for _, p := range pkts {
			handle(p)
		}
	}
}

// recordDir is the folder of one visit's recordings.
func recordDir(root, visitID string) string {
	return filepath.Join(root, safeName(visitID))
}

// safeName keeps a visit id usable as one path element.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '_'
	}, s)
}

// newRecorder opens the file for one track: IVF for VP8, Ogg for Opus.
func newRecorder(dir string, p *participant, t *webrtc.TrackRemote) (mediaWriter, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	base := filepath.Join(dir, fmt.Sprintf("%s-%s", p.pid, p.role))
	switch {
	case strings.EqualFold(t.Codec().MimeType, webrtc.MimeTypeVP8):
		return ivfwriter.New(base+"-video.ivf", ivfwriter.WithCodec(webrtc.MimeTypeVP8))
	case strings.EqualFold(t.Codec().MimeType, webrtc.MimeTypeOpus):
		return oggwriter.New(base+"-audio.ogg", 48000, t.Codec().Channels)
	}
	return nil, fmt.Errorf("no recorder for %s", t.Codec().MimeType)
}
