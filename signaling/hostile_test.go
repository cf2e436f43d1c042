package signaling_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"ipcs/internal/clock"
	"ipcs/internal/testutil"
	"ipcs/internal/token"
	"ipcs/signaling"
)

// rawResult is what a raw socket got back: the first error code and the
// close code.
type rawResult struct {
	code  string
	close int
}

// raw dials /ws, runs send, and reads until the server closes.
func raw(tb testing.TB, h *harness, hdr http.Header, send func(ws *websocket.Conn) error) rawResult {
	tb.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(h.url, hdr)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		if resp != nil {
			return rawResult{code: "http", close: resp.StatusCode}
		}
		tb.Fatalf("dial: %v", err)
	}
	defer ws.Close()
	if send != nil {
		_ = send(ws) // the server may close before all is sent
	}
	var r rawResult
	_ = ws.SetReadDeadline(clock.Real{}.Now().Add(10 * time.Second))
	for {
		_, b, err := ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				r.close = ce.Code
			}
			return r
		}
		var m struct{ Type, Code string }
		if json.Unmarshal(b, &m) == nil && m.Type == "error" && r.code == "" {
			r.code = m.Code
		}
	}
}

func text(s string) func(*websocket.Conn) error {
	return func(ws *websocket.Conn) error { return ws.WriteMessage(websocket.TextMessage, []byte(s)) }
}

// TestHostileClients throws garbage, floods, oversize frames, bad and
// expired tokens, foreign origins and excess sockets at the hub while a
// visit runs: each is refused and counted, and the visit's media keeps
// flowing.
func TestHostileClients(t *testing.T) {
	testutil.CheckGoroutines(t)
	h := newHarness(t, signaling.Config{MaxSockets: 5, MaxMessageBytes: 16 << 10, MessagesPerSecond: 20})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	v := h.book("good", signaling.KindRemote, 30*time.Minute)
	visitor := h.dial(ctx, signaling.RoleVisitor, v.ID, true)
	resident := h.dial(ctx, signaling.RoleResident, v.ID, true)
	flowing(t, ctx, "resident", resident, 10)
	h.book("other", signaling.KindRemote, 30*time.Minute)

	now := h.clk.Now()
	expired, _ := h.signer.Sign(token.Claims{Purpose: "join", Role: "visitor", Subject: "x", Resource: "good",
		NotBefore: now.Add(-2 * time.Hour).Unix(), Expires: now.Add(-time.Hour).Unix()})
	otherKey, _ := token.NewSigner([]byte(strings.Repeat("z", 32)))
	forged, _ := otherKey.Sign(token.Claims{Purpose: "join", Role: "visitor", Subject: "x", Resource: "good",
		NotBefore: now.Unix(), Expires: now.Add(time.Hour).Unix()})
	session, _ := h.signer.Sign(token.Claims{Purpose: "session", Role: "visitor", Subject: "x", Resource: "good",
		NotBefore: now.Unix(), Expires: now.Add(time.Hour).Unix()})
	unknown, _ := h.signer.Sign(token.Claims{Purpose: "join", Role: "visitor", Subject: "x", Resource: "nope",
		NotBefore: now.Unix(), Expires: now.Add(time.Hour).Unix()})
	join := func(tok string) func(*websocket.Conn) error {
		return func(ws *websocket.Conn) error {
			b, _ := json.Marshal(map[string]string{"type": "join", "token": tok})
			return ws.WriteMessage(websocket.TextMessage, b)
		}
	}

	for _, tc := range []struct {
		name   string
		hdr    http.Header
		send   func(*websocket.Conn) error
		code   string
		close  int
		reason string
	}{
		{"garbage", nil, text("\x00\xffnot json"), "malformed", websocket.ClosePolicyViolation, "malformed"},
		{"json but not ours", nil, text(`{"type":"offer","sdp":"v=0"}`), "malformed", websocket.ClosePolicyViolation, "malformed"},
		{"deep json", nil, text(strings.Repeat("[", 5000)), "malformed", websocket.ClosePolicyViolation, "malformed"},
		{"binary", nil, func(ws *websocket.Conn) error { return ws.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3}) },
			"malformed", websocket.ClosePolicyViolation, "malformed"},
		{"oversize", nil, text(`{"type":"join","token":"` + strings.Repeat("a", 20<<10) + `"}`), "", websocket.CloseMessageTooBig, "too_large"},
		{"forged token", nil, join(forged), "bad_token", 4401, "bad_token"},
		{"session token", nil, join(session), "bad_token", 4401, "bad_token"},
		{"expired token", nil, join(expired), "expired", 4401, "expired"},
		{"unknown visit", nil, join(unknown), "not_found", 4404, "not_found"},
		{"foreign origin", http.Header{"Origin": {"https://evil.example"}}, nil, "http", http.StatusForbidden, "origin"},
		{"flood", nil, func(ws *websocket.Conn) error {
			if err := join(h.token(signaling.RoleVisitor, "other"))(ws); err != nil {
				return err
			}
			for i := 0; i < 500; i++ {
				if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"candidate"}`)); err != nil {
					return err
				}
			}
			return nil
		}, "flood", 4429, "flood"},
		{"malformed flood", nil, func(ws *websocket.Conn) error {
			if err := join(h.token(signaling.RoleResident, "other"))(ws); err != nil {
				return err
			}
			for i := 0; i < 12; i++ {
				if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"bogus"}`)); err != nil {
					return err
				}
			}
			return nil
		}, "malformed", 4429, "flood"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := h.refused(tc.reason)
			got := raw(t, h, tc.hdr, tc.send)
			if got.code != tc.code || got.close != tc.close {
				t.Errorf("got error %q close %d, want %q %d", got.code, got.close, tc.code, tc.close)
			}
			// The close may reach us just before the refusal is counted.
			waitFor(t, ctx, "refused{"+tc.reason+"}", func() bool { return h.refused(tc.reason) > before })
		})
	}

	t.Run("over capacity", func(t *testing.T) {
		// Two sockets are the good visit's; fill the rest with idle ones.
		var idle []*websocket.Conn
		defer func() {
			for _, ws := range idle {
				ws.Close()
			}
		}()
		for len(idle) < 3 {
			ws, _, err := websocket.DefaultDialer.Dial(h.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			idle = append(idle, ws)
		}
		before := h.refused("overload")
		// The idle sockets are admitted asynchronously; retry until the
		// hub is full, which it must be once they are all served.
		var got rawResult
		waitFor(t, ctx, "over capacity refusal", func() bool {
			got = raw(t, h, nil, nil)
			return got.close == websocket.CloseTryAgainLater
		})
		if h.refused("overload") <= before {
			t.Error("refused{overload} not counted")
		}
	})

	// The good visit was never disturbed.
	a, b := visitor.Received("video"), resident.Received("video")
	waitFor(t, ctx, "good visit media still flowing", func() bool {
		return visitor.Received("video").Packets > a.Packets+10 && resident.Received("video").Packets > b.Packets+10
	})
	if got := h.hub.Live(); got < 1 {
		t.Errorf("live visits = %d", got)
	}
}
