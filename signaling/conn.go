package signaling

import (
	"encoding/json"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// maxMalformed is how many malformed messages a joined client may send
// before it is dropped; each is answered with an error message.
const maxMalformed = 8

// closeWait bounds how long a closing socket waits for the client's close.
const closeWait = time.Second

// conn is one WebSocket. The goroutine running serve is its only reader;
// writer is its only writer. Every send goes through the bounded send
// channel; a client that lets it fill up is dropped (STYLE.md, Concurrency).
type conn struct {
	h    *Hub
	ws   *websocket.Conn
	send chan []byte

	closeOnce  sync.Once
	closing    chan struct{} // closed by closeWith
	closeCode  int           // written once before closing is closed
	closeText  string
	writerDone chan struct{}
	readerDone chan struct{} // closed when serve returns

	// Reader-only state: the token bucket and the malformed count.
	tokens    float64
	last      time.Time
	malformed int
}

func newConn(h *Hub, ws *websocket.Conn) *conn {
	return &conn{
		h: h, ws: ws,
		send:       make(chan []byte, h.cfg.SendQueue),
		closing:    make(chan struct{}),
		writerDone: make(chan struct{}),
		readerDone: make(chan struct{}),
		tokens:     float64(2 * h.cfg.MessagesPerSecond),
		last:       h.wall.Now(),
	}
}

// sendMsg queues m. It never blocks: when the queue is full the client is
// too slow and is disconnected. It reports whether m was queued.
func (c *conn) sendMsg(m *outMessage) bool {
	b, err := json.Marshal(m)
	if err != nil {
		return false
	}
	select {
	case <-c.closing:
		return false
	default:
	}
	select {
	case c.send <- b:
		return true
	default:
		c.h.refused("slow")
		c.closeWith(answer(ErrSlow).CloseCode, "slow")
		return false
	}
}

// fail tells the client why it is being dropped, counts it, and closes.
func (c *conn) fail(err error) {
	a := answer(err)
	c.h.refused(a.Code)
	c.sendMsg(&outMessage{Type: TypeError, Code: a.Code, Message: a.Message})
	code := a.CloseCode
	if code == 0 {
		code = websocket.ClosePolicyViolation
	}
	c.closeWith(code, a.Code)
}

// closeWith makes the writer flush what is queued, send a close frame with
// code and text, and close the socket. Only the first call counts.
func (c *conn) closeWith(code int, text string) {
	c.closeOnce.Do(func() {
		c.closeCode, c.closeText = code, text
		close(c.closing)
	})
}

// writer is the socket's only writer: queued messages, pings, and the
// final close frame.
func (c *conn) writer() {
	defer c.h.wg.Done()
	defer close(c.writerDone)
	defer c.ws.Close() // unblocks the reader
	ping := c.h.wall.NewTicker(c.h.cfg.PingInterval)
	defer ping.Stop()
	write := func(b []byte) error {
		_ = c.ws.SetWriteDeadline(c.h.wall.Now().Add(c.h.cfg.WriteTimeout))
		return c.ws.WriteMessage(websocket.TextMessage, b)
	}
	for {
		select {
		case b := <-c.send:
			if err := write(b); err != nil {
				c.closeWith(websocket.CloseAbnormalClosure, "")
				return
			}
		case <-ping.C():
			deadline := c.h.wall.Now().Add(c.h.cfg.WriteTimeout)
			if err := c.ws.WriteControl(websocket.PingMessage, nil, deadline); err != nil {
				c.closeWith(websocket.CloseAbnormalClosure, "")
				return
			}
		case <-c.closing:
			for {
				select {
				case b := <-c.send:
					if write(b) != nil {
						return
					}
					continue
				default:
				}
				break
			}
			if c.closeCode != websocket.CloseAbnormalClosure {
				deadline := c.h.wall.Now().Add(c.h.cfg.WriteTimeout)
				_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(c.closeCode, c.closeText), deadline)
				// RFC 6455 §7.1.1: let the client answer the close before
				// closing TCP. Closing with its unread messages (a late
				// answer, candidates) in our buffer sends a RST, and the
				// client may lose the "ended" it has not read yet.
				t := c.h.wall.NewTimer(closeWait)
				select {
				case <-c.readerDone:
				case <-t.C():
				}
				t.Stop()
			}
			return
		}
	}
}

// read returns the next client message. Errors: ErrMalformed (answerable,
// the socket stays), or a socket error wrapped as ErrTooLarge, ErrTimeout,
// ErrFlood or returned as is (peer closed).
func (c *conn) read() (Message, error) {
	mt, b, err := c.ws.ReadMessage()
	if err != nil {
		var ne net.Error
		switch {
		case errors.Is(err, websocket.ErrReadLimit):
			return Message{}, ErrTooLarge
		case errors.As(err, &ne) && ne.Timeout():
			return Message{}, ErrTimeout
		}
		return Message{}, err
	}
	_ = c.ws.SetReadDeadline(c.h.wall.Now().Add(2 * c.h.cfg.PingInterval))
	if !c.allow() {
		return Message{}, ErrFlood
	}
	if mt != websocket.TextMessage {
		return Message{}, ErrMalformed
	}
	return ParseMessage(b)
}

// allow is the socket's token bucket: MessagesPerSecond sustained, twice
// that in a burst.
func (c *conn) allow() bool {
	now := c.h.wall.Now()
	rate := float64(c.h.cfg.MessagesPerSecond)
	c.tokens += now.Sub(c.last).Seconds() * rate
	if max := 2 * rate; c.tokens > max {
		c.tokens = max
	}
	c.last = now
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}

// serve is the reader: the join first, then every message to the session.
func (c *conn) serve() {
	c.ws.SetReadLimit(c.h.cfg.MaxMessageBytes)
	_ = c.ws.SetReadDeadline(c.h.wall.Now().Add(c.h.cfg.JoinTimeout))
	c.ws.SetPongHandler(func(string) error {
		return c.ws.SetReadDeadline(c.h.wall.Now().Add(2 * c.h.cfg.PingInterval))
	})
	m, err := c.read()
	if err == nil && m.Type != TypeJoin {
		err = ErrMalformed
	}
	if err != nil {
		if isSocketError(err) {
			return
		}
		c.fail(err)
		return
	}
	start := c.h.wall.Now()
	p, s, err := c.h.admit(c.h.ctx, c, m.Token)
	if err != nil {
		c.h.m.Joins.WithLabelValues(roleLabel(m.Token, c.h), "refused").Inc()
		c.fail(err)
		return
	}
	c.h.m.Joins.WithLabelValues(string(p.role), "ok").Inc()
	c.h.log.Debug("joined", "visit_id", s.v.ID, "role", p.role, "admit", c.h.wall.Now().Sub(start))
	for {
		m, err := c.read()
		switch {
		case errors.Is(err, ErrMalformed):
			c.malformed++
			if c.malformed > maxMalformed {
				c.fail(ErrFlood)
				s.post(func() { s.onGone(p, false) })
				return
			}
			a := answer(err)
			c.h.refused(a.Code)
			c.sendMsg(&outMessage{Type: TypeError, Code: a.Code, Message: a.Message})
			continue
		case err != nil:
			if !isSocketError(err) {
				c.fail(err)
			}
			s.post(func() { s.onGone(p, false) })
			return
		}
		if !s.post(func() { s.onMessage(p, m) }) {
			return // the visit ended; its end closes this socket
		}
		if m.Type == TypeLeave {
			return
		}
	}
}

// isSocketError reports whether err is the peer going away rather than
// something to answer.
func isSocketError(err error) bool {
	return !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) &&
		!errors.Is(err, ErrTimeout) && !errors.Is(err, ErrFlood)
}

// roleLabel returns a bounded role label for a refused join.
func roleLabel(tok string, h *Hub) string {
	c, err := h.signer.Verify(tok, joinPurpose, h.clk.Now())
	if err == nil {
		switch r := Role(c.Role); r {
		case RoleVisitor, RoleResident, RoleOfficer:
			return string(r)
		}
	}
	return "unknown"
}
