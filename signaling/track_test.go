package signaling

import (
	"bytes"
	"testing"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// fakeBind is a subscriber's side of Bind: negotiated codecs, an SSRC and
// a writer that keeps what it is given.
type fakeBind struct {
	id     string
	ssrc   webrtc.SSRC
	codecs []webrtc.RTPCodecParameters
	w      *fakeWriter
}

func (c *fakeBind) CodecParameters() []webrtc.RTPCodecParameters { return c.codecs }
func (c *fakeBind) HeaderExtensions() []webrtc.RTPHeaderExtensionParameter {
	return nil
}
func (c *fakeBind) SSRC() webrtc.SSRC                       { return c.ssrc }
func (c *fakeBind) SSRCRetransmission() webrtc.SSRC         { return 0 }
func (c *fakeBind) SSRCForwardErrorCorrection() webrtc.SSRC { return 0 }
func (c *fakeBind) WriteStream() webrtc.TrackLocalWriter    { return c.w }
func (c *fakeBind) ID() string                              { return c.id }
func (c *fakeBind) RTCPReader() interceptor.RTCPReader      { return nil }

type fakeWriter struct {
	keep    bool
	packets []rtp.Packet
	n       int
}

func (w *fakeWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	w.n++
	if w.keep {
		w.packets = append(w.packets, rtp.Packet{Header: h.Clone(), Payload: bytes.Clone(payload)})
	}
	return len(payload), nil
}

func (w *fakeWriter) Write(b []byte) (int, error) { return len(b), nil }

func newBind(id string, ssrc webrtc.SSRC, pt webrtc.PayloadType, keep bool) *fakeBind {
	c := codecVP8
	c.PayloadType = pt
	return &fakeBind{id: id, ssrc: ssrc, codecs: []webrtc.RTPCodecParameters{codecOpus, c}, w: &fakeWriter{keep: keep}}
}

func vp8Packet(seq uint16, ext bool) []byte {
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: 3000, SSRC: 0xabc}, Payload: []byte{0x10, 1, 2, 3}}
	if ext {
		_ = p.SetExtension(1, []byte{0xff})
	}
	b, err := p.Marshal()
	if err != nil {
		panic(err)
	}
	return b
}

func TestRelayTrackBindWrite(t *testing.T) {
	tr := newRelayTrack(codecVP8.RTPCodecCapability, webrtc.RTPCodecTypeVideo, "video", "ipcs-p1")
	a, b := newBind("a", 1111, 96, true), newBind("b", 2222, 100, true)
	for _, c := range []*fakeBind{a, b} {
		got, err := tr.Bind(c)
		if err != nil || got.MimeType != webrtc.MimeTypeVP8 {
			t.Fatalf("Bind(%s) = %v, %v", c.id, got.MimeType, err)
		}
	}
	opus := &fakeBind{id: "c", ssrc: 3, codecs: []webrtc.RTPCodecParameters{codecOpus}, w: &fakeWriter{}}
	if _, err := tr.Bind(opus); err == nil {
		t.Error("Bind without VP8 succeeded")
	}

	var p rtp.Packet
	if err := p.Unmarshal(vp8Packet(7, true)); err != nil {
		t.Fatal(err)
	}
	stripExtensions(&p.Header)
	if !tr.write(&p.Header, p.Payload) {
		t.Fatal("write failed")
	}
	if p.SSRC != 0xabc || p.PayloadType != 96 {
		t.Errorf("write left the header changed: ssrc %x pt %d", p.SSRC, p.PayloadType)
	}
	for _, tc := range []struct {
		name string
		c    *fakeBind
		pt   uint8
	}{{"a", a, 96}, {"b", b, 100}} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.c.w.packets) != 1 {
				t.Fatalf("%d packets", len(tc.c.w.packets))
			}
			got := tc.c.w.packets[0]
			if got.SSRC != uint32(tc.c.ssrc) || got.PayloadType != tc.pt || got.SequenceNumber != 7 || got.Extension || !bytes.Equal(got.Payload, p.Payload) {
				t.Errorf("got %+v", got.Header)
			}
		})
	}

	if err := tr.Unbind(a); err != nil {
		t.Fatal(err)
	}
	if err := tr.Unbind(a); err == nil {
		t.Error("second Unbind succeeded")
	}
	tr.write(&p.Header, p.Payload)
	if len(a.w.packets) != 1 || len(b.w.packets) != 2 {
		t.Errorf("after Unbind(a): a %d, b %d packets", len(a.w.packets), len(b.w.packets))
	}
}

func TestHistory(t *testing.T) {
	var h history
	buf := make([]byte, mtu)
	for seq := uint16(65000); seq != 600; seq++ { // across the wrap
		n := copy(buf, vp8Packet(seq, false))
		buf = h.put(seq, buf[:n])
		if len(buf) != mtu {
			t.Fatalf("put returned a %d-byte buffer", len(buf))
		}
	}
	dst := make([]byte, mtu)
	for _, tc := range []struct {
		name string
		seq  uint16
		kept bool
	}{
		{"newest", 599, true},
		{"oldest kept", 600 - historySize, true},
		{"just dropped", 600 - historySize - 1, false},
		{"before the wrap", 65535, false},
		{"never sent", 700, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := h.get(tc.seq, dst)
			if (n > 0) != tc.kept {
				t.Fatalf("get(%d) = %d bytes, kept %v", tc.seq, n, tc.kept)
			}
			var p rtp.Packet
			if n > 0 && (p.Unmarshal(dst[:n]) != nil || p.SequenceNumber != tc.seq) {
				t.Errorf("get(%d) returned packet %d", tc.seq, p.SequenceNumber)
			}
		})
	}
}

func TestResend(t *testing.T) {
	f := &forwarder{hist: &history{}, local: newRelayTrack(codecVP8.RTPCodecCapability, webrtc.RTPCodecTypeVideo, "video", "s")}
	a := newBind("a", 1111, 96, true)
	if _, err := f.local.Bind(a); err != nil {
		t.Fatal(err)
	}
	for seq := uint16(1); seq <= 20; seq++ {
		f.hist.put(seq, vp8Packet(seq, true))
	}
	scratch := make([]byte, mtu)
	var pkt rtp.Packet
	nack := &rtcp.TransportLayerNack{MediaSSRC: 1111, Nacks: rtcp.NackPairsFromSequenceNumbers([]uint16{3, 5, 19, 25})}
	if n := f.resend(nack, scratch, &pkt); n != 3 {
		t.Fatalf("resent %d, want 3 (25 was never sent)", n)
	}
	for i, want := range []uint16{3, 5, 19} {
		got := a.w.packets[i]
		if got.SequenceNumber != want || got.SSRC != 1111 || got.Extension {
			t.Errorf("resent %d: %+v", i, got.Header)
		}
	}
	if n := f.resend(&rtcp.TransportLayerNack{MediaSSRC: 9, Nacks: nack.Nacks}, scratch, &pkt); n != 0 {
		t.Errorf("resent %d for an unknown SSRC", n)
	}
}

// BenchmarkForward is the relay's per-packet work above pion: parse the
// received packet, write it to a visit's two subscribers, keep it for
// retransmission. It must not allocate.
func BenchmarkForward(b *testing.B) {
	tr := newRelayTrack(codecVP8.RTPCodecCapability, webrtc.RTPCodecTypeVideo, "video", "s")
	for i, id := range []string{"a", "b"} {
		if _, err := tr.Bind(newBind(id, webrtc.SSRC(i+1), 96, false)); err != nil {
			b.Fatal(err)
		}
	}
	var h history
	src := append(vp8Packet(1, true), make([]byte, 1000)...)
	buf := make([]byte, mtu)
	var pkt rtp.Packet
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := copy(buf, src) // stands in for the read
		if err := pkt.Unmarshal(buf[:n]); err != nil {
			b.Fatal(err)
		}
		stripExtensions(&pkt.Header)
		tr.write(&pkt.Header, pkt.Payload)
		buf = h.put(uint16(i), buf[:n])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
}
