package signaling

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Message types of the /ws protocol (docs/SIGNALING.md).
const (
	// client → server
	TypeJoin      = "join"
	TypeAnswer    = "answer"
	TypeCandidate = "candidate" // both ways
	TypeLeave     = "leave"
	TypeEnd       = "end" // officer only
	// server → client
	TypeJoined      = "joined"
	TypeOffer       = "offer"
	TypeParticipant = "participant"
	TypeWarning     = "warning"
	TypeEnded       = "ended"
	TypeError       = "error"
)

// Candidate is a trickled ICE candidate, as in RTCIceCandidateInit.
type Candidate struct {
	Candidate        string  `json:"candidate"`
	SDPMid           *string `json:"sdpMid,omitempty"`
	SDPMLineIndex    *uint16 `json:"sdpMLineIndex,omitempty"`
	UsernameFragment *string `json:"usernameFragment,omitempty"`
}

// Message is one client → server message. Only the fields of its Type
// are set.
type Message struct {
	Type      string     `json:"type"`
	Token     string     `json:"token,omitempty"`     // join
	SDP       string     `json:"sdp,omitempty"`       // answer
	Candidate *Candidate `json:"candidate,omitempty"` // candidate (null: end of candidates)
	Reason    string     `json:"reason,omitempty"`    // end
}

// Limits of the fields we accept; an SDP over maxSDP or a candidate line
// over maxCandidate is not from a browser.
const (
	maxTokenLen     = 2048
	maxSDP          = 60 << 10
	maxCandidate    = 1024
	maxShortField   = 256
	maxMessageDepth = 4
)

// ParseMessage decodes and validates one client message. Every error wraps
// ErrMalformed. It is exported for the fuzz test and tools.
func ParseMessage(b []byte) (Message, error) {
	var m Message
	if len(b) == 0 || !utf8.Valid(b) {
		return m, fmt.Errorf("%w: not UTF-8 JSON", ErrMalformed)
	}
	if depth(b) > maxMessageDepth {
		return m, fmt.Errorf("%w: nested too deep", ErrMalformed)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Message{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if dec.More() {
		return Message{}, fmt.Errorf("%w: trailing data", ErrMalformed)
	}
	if err := m.validate(); err != nil {
		return Message{}, err
	}
	return m, nil
}

func (m *Message) validate() error {
	bad := func(why string) error { return fmt.Errorf("%w: %s: %s", ErrMalformed, m.Type, why) }
	var extra bool
	switch m.Type {
	case TypeJoin:
		if m.Token == "" || len(m.Token) > maxTokenLen {
			return bad("token missing or too long")
		}
		extra = m.SDP != "" || m.Candidate != nil || m.Reason != ""
	case TypeAnswer:
		if m.SDP == "" || len(m.SDP) > maxSDP {
			return bad("sdp missing or too long")
		}
		extra = m.Token != "" || m.Candidate != nil || m.Reason != ""
	case TypeCandidate:
		if c := m.Candidate; c != nil {
			if len(c.Candidate) > maxCandidate ||
				(c.SDPMid != nil && len(*c.SDPMid) > maxShortField) ||
				(c.UsernameFragment != nil && len(*c.UsernameFragment) > maxShortField) {
				return bad("candidate too long")
			}
		}
		extra = m.Token != "" || m.SDP != "" || m.Reason != ""
	case TypeLeave:
		extra = m.Token != "" || m.SDP != "" || m.Candidate != nil || m.Reason != ""
	case TypeEnd:
		if len(m.Reason) > maxShortField {
			return bad("reason too long")
		}
		extra = m.Token != "" || m.SDP != "" || m.Candidate != nil
	default:
		return fmt.Errorf("%w: unknown type", ErrMalformed)
	}
	if extra {
		return bad("fields of another type")
	}
	return nil
}

// depth returns the deepest nesting of JSON objects and arrays in b,
// ignoring brackets inside strings; it bounds the decoder's work.
func depth(b []byte) int {
	d, max := 0, 0
	inStr, esc := false, false
	for _, c := range b {
		switch {
		case esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case c == '"':
			inStr = !inStr
		case inStr:
		case c == '{' || c == '[':
			d++
			if d > max {
				max = d
			}
		case c == '}' || c == ']':
			d--
		}
	}
	return max
}

// Outbound messages (server → client).

// VisitInfo describes the visit in a "joined" event.
type VisitInfo struct {
	ID         string `json:"id"`
	Kind       string `json:"kind"`
	Start      string `json:"start"` // RFC 3339, UTC
	End        string `json:"end"`
	Privileged bool   `json:"privileged"`
	Recorded   bool   `json:"recorded"`
	Metered    bool   `json:"metered"`
}

// Peer is a visible participant in a "joined" or "participant" event.
type Peer struct {
	ID   string `json:"id"`
	Role Role   `json:"role"`
}

type outMessage struct {
	Type         string     `json:"type"`
	Visit        *VisitInfo `json:"visit,omitempty"`
	Role         Role       `json:"role,omitempty"`
	You          string     `json:"you,omitempty"`
	Now          string     `json:"now,omitempty"`
	Participants []Peer     `json:"participants,omitempty"`
	SDP          string     `json:"sdp,omitempty"`
	Candidate    *Candidate `json:"candidate,omitempty"`
	Event        string     `json:"event,omitempty"` // participant: joined, left
	Participant  *Peer      `json:"participant,omitempty"`
	Remaining    int64      `json:"remaining,omitempty"` // warning: seconds left
	Reason       string     `json:"reason,omitempty"`    // warning: window, funds; ended: Reason*
	Code         string     `json:"code,omitempty"`      // error
	Message      string     `json:"message,omitempty"`   // error
}
