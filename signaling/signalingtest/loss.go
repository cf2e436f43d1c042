package signalingtest

import (
	"encoding/binary"
	"net"
	"sync"

	"github.com/pion/transport/v4"
	"github.com/pion/transport/v4/stdnet"
)

// Loss drops, on the wire (before SRTP, as a lossy network would), the
// first copy of every received RTP packet of one payload type whose
// sequence number is a multiple of Every, and counts which of them arrived
// again: the peer's NACK generator asks for them, and the relay must send
// them again. The RTP header is not encrypted by SRTP, so the sequence
// number can be read on the wire.
type Loss struct {
	PayloadType uint8
	Every       uint16

	// mu guards lost: for each SSRC, the sequence numbers dropped, and
	// whether they arrived again.
	mu   sync.Mutex
	lost map[uint32]map[uint16]bool
}

// Dropped counts the packets dropped.
func (l *Loss) Dropped() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.lost {
		n += len(m)
	}
	return n
}

// Recovered counts dropped packets that arrived again.
func (l *Loss) Recovered() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.lost {
		for _, again := range m {
			if again {
				n++
			}
		}
	}
	return n
}

// pass decides about one received datagram: false drops it.
func (l *Loss) pass(b []byte) bool {
	// RTP version 2, not RTCP (payload types 72–79 with the marker bit
	// are RTCP packet types 200–207, RFC 5761 §4).
	if len(b) < 12 || b[0]>>6 != 2 || b[1]&0x7f != l.PayloadType {
		return true
	}
	seq, ssrc := binary.BigEndian.Uint16(b[2:4]), binary.BigEndian.Uint32(b[8:12])
	if l.Every == 0 || seq%l.Every != 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost == nil {
		l.lost = map[uint32]map[uint16]bool{}
	}
	m := l.lost[ssrc]
	if m == nil {
		m = map[uint16]bool{}
		l.lost[ssrc] = m
	}
	if _, seen := m[seq]; seen {
		m[seq] = true
		return true
	}
	m[seq] = false
	return false
}

// lossyNet is the host's network whose UDP sockets drop what l says.
type lossyNet struct {
	transport.Net
	l *Loss
}

func newLossyNet(l *Loss) (*lossyNet, error) {
	n, err := stdnet.NewNet()
	if err != nil {
		return nil, err
	}
	return &lossyNet{Net: n, l: l}, nil
}

// ListenUDP wraps the socket pion gathers a host candidate on.
func (n *lossyNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	return &lossyConn{UDPConn: c, l: n.l}, nil
}

type lossyConn struct {
	transport.UDPConn
	l *Loss
}

// ReadFrom is what pion's ICE reads a wrapped socket with.
func (c *lossyConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.UDPConn.ReadFrom(b)
		if err != nil || c.l.pass(b[:n]) {
			return n, addr, err
		}
	}
}
