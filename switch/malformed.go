package callswitch

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/emiago/sipgo/sip"
)

// Malformed kinds (the ipcs_sip_malformed_total kind label).
const (
	malformedGarbage    = "garbage"     // not SIP at all; dropped
	malformedOversized  = "oversized"   // above MaxMessageSize; dropped
	malformedUnparsable = "unparsable"  // looked like SIP, sipgo could not parse; dropped
	malformedBadRequest = "bad_request" // parsed, but missing or bad headers; answered 400
)

// inputGuard sees every datagram before sipgo parses it (a
// sip.TransportReadFilter) and every log line sipgo writes. Per
// STYLE.md, input that is not the protocol at all is dropped and
// counted, and its log line is sampled: peers cannot fill the logs.
type inputGuard struct {
	max  int
	met  *counters // nil: count nothing (the test phone, the demo trunk)
	log  *slog.Logger
	seen atomic.Uint64 // drops so far, for sampling
}

// sampleEvery logs one dropped message in this many.
const sampleEvery = 100

// filter is the UDP read filter. It must never return an error: sipgo
// stops reading the socket on a filter error. An empty result drops the
// datagram. Stream transports (TCP, TLS) deliver arbitrary chunks, so
// only the size of a whole message can be judged there, by sipgo's
// parser (Parser.MaxMessageLength), which closes the connection.
func (g *inputGuard) filter(p sip.TransportReadProps, data []byte) ([]byte, error) {
	if p.Transport != "UDP" {
		return data, nil
	}
	if len(data) <= 4 && len(bytes.Trim(data, "\r\n")) == 0 {
		return data, nil // RFC 5626 keep-alive
	}
	if len(data) > g.max {
		g.drop(malformedOversized, p, len(data))
		return nil, nil
	}
	if !looksLikeSIP(data) {
		g.drop(malformedGarbage, p, len(data))
		return nil, nil
	}
	return data, nil
}

func (g *inputGuard) count(kind string) {
	if g.met != nil {
		g.met.malformedKind(kind).Inc()
	}
}

func (g *inputGuard) drop(kind string, p sip.TransportReadProps, n int) {
	g.count(kind)
	if g.seen.Add(1)%sampleEvery == 1 {
		src := ""
		if p.RemoteAddr != nil {
			src = p.RemoteAddr.String()
		}
		g.log.Warn("dropped SIP input (sampled)", "kind", kind, "source", src, "bytes", n)
	}
}

// looksLikeSIP checks the start line cheaply: "SIP/2.0 NNN " for a
// response, "TOKEN SP ... SP SIP/2.0" for a request, ending in CRLF, and a
// blank line ending the headers somewhere.
func looksLikeSIP(data []byte) bool {
	eol := bytes.IndexByte(data, '\n')
	if eol < 0 || eol > 1024 {
		return false
	}
	line := bytes.TrimRight(data[:eol], "\r")
	if bytes.HasPrefix(line, []byte("SIP/2.0 ")) {
		return len(line) >= 11 && isDigit(line[8]) && isDigit(line[9]) && isDigit(line[10])
	}
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 || sp > 16 || !bytes.HasSuffix(line, []byte(" SIP/2.0")) {
		return false
	}
	for _, c := range line[:sp] {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return bytes.Contains(data, []byte("\r\n\r\n")) || bytes.Contains(data, []byte("\n\n"))
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// sipgoLog is the slog.Handler sipgo's layers log through. sipgo is
// chatty at Debug/Info and logs unparsable peer input at Error with the
// whole payload; this keeps Warn and above, turns parse failures into a
// counted, sampled line without the payload, and drops the rest.
type sipgoLog struct {
	next  slog.Handler
	guard *inputGuard
	attrs []slog.Attr
}

func (h *sipgoLog) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && h.next.Enabled(ctx, l)
}

func (h *sipgoLog) Handle(ctx context.Context, r slog.Record) error {
	switch {
	case strings.HasPrefix(r.Message, "failed to parse"):
		h.guard.count(malformedUnparsable)
		if h.guard.seen.Add(1)%sampleEvery != 1 {
			return nil
		}
		out := slog.NewRecord(r.Time, slog.LevelWarn, "dropped unparsable SIP (sampled)", r.PC)
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "error" {
				out.AddAttrs(a)
			}
			return true
		})
		return h.next.Handle(ctx, out)
	case strings.HasPrefix(r.Message, "Server tx failed to handle request"):
		// A request without Via or CSeq: sipgo answered 400 statelessly.
		h.guard.count(malformedBadRequest)
		if h.guard.seen.Add(1)%sampleEvery != 1 {
			return nil
		}
		out := slog.NewRecord(r.Time, slog.LevelWarn, "refused malformed SIP request (sampled)", r.PC)
		return h.next.Handle(ctx, out)
	case strings.HasPrefix(r.Message, "Read filter error"), strings.HasPrefix(r.Message, "SIP request handler not found"):
		return nil
	}
	return h.next.Handle(ctx, r)
}

func (h *sipgoLog) WithAttrs(as []slog.Attr) slog.Handler {
	return &sipgoLog{next: h.next.WithAttrs(as), guard: h.guard}
}

func (h *sipgoLog) WithGroup(name string) slog.Handler {
	return &sipgoLog{next: h.next.WithGroup(name), guard: h.guard}
}
