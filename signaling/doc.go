// Package signaling runs video visits: the /ws WebSocket signaling
// protocol (docs/SIGNALING.md), one pion/webrtc peer connection per
// participant terminated at ipcs, the media relay between the resident and
// the visitor(s), silent officer monitors, recording, and the metering of
// remote and direct-dial visits.
//
// A Hub is the http.Handler for /ws. A participant joins with a join token
// (internal/token, purpose "join", role visitor/resident/officer, Resource
// the visit id) only inside the visit's slot [Start, End). The server is
// the only offerer: it offers every participant receive transceivers for
// their camera and microphone and adds, for each track another participant
// publishes, a relayTrack (our webrtc.TrackLocal) fed by a forwarder that
// parses each RTP packet once and writes it to every subscriber with the
// subscriber's SSRC and payload type (header extensions stripped), without
// allocating. Keyframes are requested when a subscriber is added or
// connects and when it sends PLI/FIR, at most every 500 ms per track.
// Subscribers' NACKs are answered from one retransmission history per
// published video track (history); the publishers' sender reports are
// relayed to every subscriber. pion's interceptors run only on what the
// relay receives (NACK generator, receiver reports), behind headerCache,
// which spares them an allocation per packet.
//
// Metering: a visit is metered only while the resident and at least one
// visitor are connected (peer connection state "connected"); each such
// stretch is a Bill segment, and the total is priced once at the end, so
// the resident's account is never billed for time the visit was not
// connected on both sides. In-facility and attorney visits are free but
// still get a CDR. Both sides are warned 2 and 1 minutes before the slot
// ends (Config.Warnings) and when the Meter says money runs out in a
// minute; the visit ends at the slot's end or at exhaustion. Hub.TopUp
// (the daemon's deposit hook) makes a live visit's reservation extend at
// once after a deposit.
//
// Officers are receive-only and invisible to the others; they may end the
// visit ("end" message, or Hub.End from the API). Attorney (privileged)
// visits refuse monitors and are never recorded. Other visits are recorded
// under Config.RecordDir/<visit id>/ (IVF for VP8, Ogg for Opus); the
// folder is the CDR's recording path.
//
// # Concurrency
//
// Each socket has exactly one reader (the ServeHTTP goroutine) and one
// writer goroutine; every send goes through a bounded queue, and a client
// that lets it fill is dropped (close 4408), never buffered. Reads have
// deadlines (join timeout, then two ping intervals), messages a size limit
// and a per-socket rate limit.
//
// Each visit is one session value with its own ctx, a run goroutine that
// owns all of its state, and a WaitGroup for its forwarders and RTCP
// readers (one per subscriber of a track, one per published track for its
// sender reports). pion callbacks, socket readers and timers never touch session
// state: they post closures to the session's bounded queue and return.
// All paths to the end (slot close, exhaustion, officer, everyone left,
// abandonment, shutdown) call one end(reason), which closes the peer
// connections in order, waits for the media goroutines, and settles the
// bill and writes the CDR exactly once. Hub.Close ends every visit with
// "shutdown" and waits for every goroutine it started.
//
// Two clocks: the business clock (WithClock) decides token windows, slots
// and metering, so tests drive whole visits with a fake clock; socket
// deadlines, pings and rate limits always use the wall clock.
//
// # Errors
//
// errors.go holds the sentinels and answer, the one function that turns an
// error into what a client sees: an {"type":"error","code","message"}
// message and a close code (1009 too large, 1013 overloaded, 4401 bad or
// expired token, 4402 insufficient funds, 4403 forbidden or full, 4404
// unknown visit, 4408 slow or timed out, 4409 outside the window, 4429
// flood, 4500 internal). Internal error text never reaches a client. A
// malformed message after the join is answered and the socket kept, up to
// a limit; before the join it closes the socket. Every refusal is counted
// in ipcs_signaling_refused_total{reason}. Panics are recovered at the
// socket and visit boundaries, counted as reason "internal" and logged with
// the visit id.
package signaling
