package signaling

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// relayTrack is the webrtc.TrackLocal a forwarder writes one published
// track to; every subscriber's RTPSender binds it. It does what the relay
// needs of pion's TrackLocalStaticRTP at a lower cost per packet: the
// forwarder reads the bindings with one atomic load (no lock), and each
// binding gets the same parsed header with its SSRC and payload type set
// in place (no per-binding header copy, no allocation).
//
// Sequence numbers and timestamps pass through unchanged, so a
// subscriber's NACK names the publisher's sequence numbers and one
// retransmission history per published track (history) serves every
// subscriber.
type relayTrack struct {
	id, streamID string
	kind         webrtc.RTPCodecType
	codec        webrtc.RTPCodecCapability

	// mu serializes Bind and Unbind, which replace binds (copy on write);
	// the forwarder only loads it.
	mu    sync.Mutex
	binds atomic.Pointer[[]*binding]
}

// binding is one subscriber's RTPSender bound to a relayTrack.
type binding struct {
	id   string // TrackLocalContext.ID, for Unbind
	ssrc uint32
	pt   uint8
	w    webrtc.TrackLocalWriter
}

var errNotBound = errors.New("signaling: track not bound to this sender")

func newRelayTrack(c webrtc.RTPCodecCapability, kind webrtc.RTPCodecType, id, streamID string) *relayTrack {
	return &relayTrack{id: id, streamID: streamID, kind: kind, codec: c}
}

// Bind picks the subscriber's payload type for our codec (the relay is
// the only offerer, so it is always there) and adds the binding.
func (t *relayTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	for _, c := range ctx.CodecParameters() {
		if !strings.EqualFold(c.MimeType, t.codec.MimeType) || c.ClockRate != t.codec.ClockRate {
			continue
		}
		b := &binding{id: ctx.ID(), ssrc: uint32(ctx.SSRC()), pt: uint8(c.PayloadType), w: ctx.WriteStream()}
		t.mu.Lock()
		next := append(slices.Clone(t.bindings()), b)
		t.binds.Store(&next)
		t.mu.Unlock()
		return c, nil
	}
	return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
}

// Unbind removes the subscriber's binding (its sender stopped).
func (t *relayTrack) Unbind(ctx webrtc.TrackLocalContext) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	cur := t.bindings()
	i := slices.IndexFunc(cur, func(b *binding) bool { return b.id == ctx.ID() })
	if i < 0 {
		return errNotBound
	}
	next := slices.Delete(slices.Clone(cur), i, i+1)
	t.binds.Store(&next)
	return nil
}

// ID, RID, StreamID and Kind describe the track to pion (the msid the
// subscriber sees).
func (t *relayTrack) ID() string                { return t.id }
func (t *relayTrack) RID() string               { return "" }
func (t *relayTrack) StreamID() string          { return t.streamID }
func (t *relayTrack) Kind() webrtc.RTPCodecType { return t.kind }

// bindings is the current set; callers must not modify it.
func (t *relayTrack) bindings() []*binding {
	if p := t.binds.Load(); p != nil {
		return *p
	}
	return nil
}

// binding returns the binding whose SSRC is ssrc, or nil.
func (t *relayTrack) binding(ssrc uint32) *binding {
	for _, b := range t.bindings() {
		if b.ssrc == ssrc {
			return b
		}
	}
	return nil
}

// write sends one packet to every subscriber. h's SSRC and payload type are
// overwritten per binding (and restored before returning); SRTP marshals
// header and payload into its own buffer. It reports false when a binding
// failed, like TrackLocalStaticRTP.WriteRTP.
func (t *relayTrack) write(h *rtp.Header, payload []byte) bool {
	ssrc, pt := h.SSRC, h.PayloadType
	ok := true
	for _, b := range t.bindings() {
		h.SSRC, h.PayloadType = b.ssrc, b.pt
		if _, err := b.w.WriteRTP(h, payload); err != nil {
			ok = false
		}
	}
	h.SSRC, h.PayloadType = ssrc, pt
	return ok
}

// writeTo sends one packet to one subscriber (a retransmission).
func (b *binding) writeTo(h *rtp.Header, payload []byte) error {
	h.SSRC, h.PayloadType = b.ssrc, b.pt
	_, err := b.w.WriteRTP(h, payload)
	return err
}
