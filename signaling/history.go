package signaling

import (
	"sync"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// historySize is how many recent packets of a published video track are
// kept for retransmission: 512 is about 1.5 s at 350 packets/s (a 2–3
// Mbit/s camera), several round trips. It is a power of two, so
// sequence numbers map to the same slot across their wrap at 65536.
const historySize = 512

// mtu is the size of the buffers packets are read into: pion's receive
// MTU (1460) with room to spare.
const mtu = 1500

// history keeps the last historySize packets a forwarder relayed, as
// received (plaintext, the publisher's SSRC and header extensions), for
// NACK retransmission (RFC 4585 §6.2.1). One history per published video
// track serves every subscriber, where pion's NACK responder interceptor
// keeps a copy of every packet per subscriber; and the forwarder hands
// its read buffer over instead of copying it (put returns the buffer to
// read the next packet into).
type history struct {
	// mu guards slots; the forwarder puts, the subscribers' RTCP readers
	// get.
	mu    sync.Mutex
	slots [historySize]struct {
		seq uint16
		buf []byte // nil: empty
	}
}

// put stores pkt (a buffer the caller hands over) as sequence number seq
// and returns the buffer to read the next packet into: the one that held
// the packet historySize sequence numbers earlier, or a new one while
// the history fills.
func (h *history) put(seq uint16, pkt []byte) []byte {
	s := &h.slots[seq%historySize]
	h.mu.Lock()
	old := s.buf
	s.seq, s.buf = seq, pkt
	h.mu.Unlock()
	if old == nil {
		return make([]byte, mtu)
	}
	return old[:cap(old)]
}

// get copies packet seq into dst and returns its length, 0 when it is no
// longer (or never was) kept.
func (h *history) get(seq uint16, dst []byte) int {
	s := &h.slots[seq%historySize]
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.buf == nil || s.seq != seq {
		return 0
	}
	return copy(dst, s.buf)
}

// resend answers one subscriber's NACK from f's history: every listed
// packet still kept is sent again to that subscriber only, with the same
// sequence number (no RTX stream is negotiated). scratch is the caller's
// buffer. It returns how many packets were sent again.
func (f *forwarder) resend(nack *rtcp.TransportLayerNack, scratch []byte, pkt *rtp.Packet) int {
	if f.hist == nil {
		return 0
	}
	b := f.local.binding(nack.MediaSSRC)
	if b == nil {
		return 0
	}
	sent := 0
	for _, pair := range nack.Nacks {
		pair.Range(func(seq uint16) bool {
			n := f.hist.get(seq, scratch)
			if n == 0 || pkt.Unmarshal(scratch[:n]) != nil {
				return true
			}
			stripExtensions(&pkt.Header)
			if b.writeTo(&pkt.Header, pkt.Payload) == nil {
				sent++
			}
			return true
		})
	}
	return sent
}

// stripExtensions drops RTP header extensions: their ids are negotiated
// per connection, and the relay negotiates none.
func stripExtensions(h *rtp.Header) {
	h.Extension = false
	h.Extensions = h.Extensions[:0]
}
