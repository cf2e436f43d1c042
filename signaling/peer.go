package signaling

import (
	"time"

	"github.com/pion/webrtc/v4"
)

// maxPendingCandidates bounds remote candidates buffered before the
// remote description is set; a browser sends a handful.
const maxPendingCandidates = 64

// participant is one joined socket and its peer connection. Its fields
// belong to the session's run goroutine, except those the forwarders read
// (pc, joinedAt), which never change after newPeer.
type participant struct {
	s        *session
	id       uint64
	pid      string // "p3": the id other participants see
	role     Role
	subject  string
	conn     *conn
	pc       *webrtc.PeerConnection
	joinedAt time.Time

	state     webrtc.PeerConnectionState
	pending   []webrtc.ICECandidateInit
	needOffer bool
	gone      bool
	senders   map[*forwarder]*webrtc.RTPSender // what p receives
}

func (p *participant) peer() Peer { return Peer{ID: p.pid, Role: p.role} }

// publishes reports whether p sends media (visitors and the resident);
// officers only receive.
func (p *participant) publishes() bool { return p.role != RoleOfficer }

// newPeer builds p's peer connection. A publisher gets one receive-only
// audio and one video transceiver for its camera and microphone; what
// others publish is added with AddTrack (pion reuses these transceivers,
// making them sendrecv). pion callbacks only post to the session.
func (p *participant) newPeer() error {
	pc, err := p.s.h.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	p.pc = pc
	if p.publishes() {
		for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
			if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
				_ = pc.Close()
				return err
			}
		}
	}
	s := p.s
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return
		}
		init := c.ToJSON()
		s.post(func() {
			if !p.gone {
				p.conn.sendMsg(&outMessage{Type: TypeCandidate, Candidate: &Candidate{
					Candidate: init.Candidate, SDPMid: init.SDPMid, SDPMLineIndex: init.SDPMLineIndex,
					UsernameFragment: init.UsernameFragment,
				}})
			}
		})
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		s.post(func() { s.onState(p, st) })
	})
	pc.OnTrack(func(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		if !s.post(func() { s.onTrack(p, t, r) }) {
			return
		}
	})
	return nil
}

func (p *participant) onAnswer(sdp string) {
	if p.pc.SignalingState() != webrtc.SignalingStateHaveLocalOffer {
		p.reject("no offer is outstanding")
		return
	}
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		p.reject("answer not accepted")
		return
	}
	for _, c := range p.pending {
		_ = p.pc.AddICECandidate(c)
	}
	p.pending = nil
	if p.needOffer {
		p.s.negotiate(p)
	}
}

// onCandidate adds a trickled remote candidate, buffering it until the
// remote description is set. A nil candidate (end of candidates) is
// ignored.
func (p *participant) onCandidate(c *Candidate) {
	if c == nil || c.Candidate == "" {
		return
	}
	init := webrtc.ICECandidateInit{Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment}
	if p.pc.RemoteDescription() == nil {
		if len(p.pending) < maxPendingCandidates {
			p.pending = append(p.pending, init)
		}
		return
	}
	if err := p.pc.AddICECandidate(init); err != nil {
		p.reject("candidate not accepted")
	}
}

// reject answers a message that is well formed but cannot be used.
func (p *participant) reject(msg string) {
	p.s.h.refused("malformed")
	p.conn.sendMsg(&outMessage{Type: TypeError, Code: "malformed", Message: msg})
}

// onState follows p's connection: metering, keyframes for a newly
// connected subscriber, and ICE failures.
func (s *session) onState(p *participant, st webrtc.PeerConnectionState) {
	if p.gone {
		return
	}
	p.state = st
	switch st {
	case webrtc.PeerConnectionStateConnected:
		for f := range p.senders {
			f.keyframe()
		}
		if !p.publishes() {
			s.h.m.JoinSeconds.Observe(s.h.wall.Now().Sub(p.joinedAt).Seconds())
		}
	case webrtc.PeerConnectionStateFailed:
		s.h.m.ICEFailures.Inc()
		s.log.Info("ice failed", "role", p.role)
		p.conn.sendMsg(&outMessage{Type: TypeError, Code: "ice_failed", Message: "the media connection failed"})
		s.remove(p, false)
	}
	s.meter()
}

// onTrack starts forwarding a track p publishes to every other
// participant, and recording it.
func (s *session) onTrack(p *participant, t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
	if p.gone || !p.publishes() {
		return
	}
	f := newForwarder(s, p, t, r)
	s.fwds[f] = struct{}{}
	s.wg.Add(2)
	go f.run()
	go f.relayReports()
	for _, q := range s.parts {
		if q != p {
			s.subscribe(q, f)
			s.negotiate(q)
		}
	}
}
