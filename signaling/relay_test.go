package signaling_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"ipcs/internal/money"
	"ipcs/internal/testutil"
	"ipcs/signaling"
	"ipcs/signaling/signalingtest"
)

// flowing waits until p has received at least n packets of audio and of
// video.
func flowing(tb testing.TB, ctx context.Context, name string, p *signalingtest.Peer, n int64) {
	tb.Helper()
	waitFor(tb, ctx, name+" media", func() bool {
		return p.Received("video").Packets >= n && p.Received("audio").Packets >= n
	})
}

// TestRelayMonitorWindowEnd runs a remote visit end to end: two pion peers
// exchange real RTP through ipcs, a silent officer monitor receives both,
// both sides get the 2- and 1-minute warnings, the visit ends at its
// slot's end, and the CDR bills exactly the connected time.
func TestRelayMonitorWindowEnd(t *testing.T) {
	testutil.CheckGoroutines(t)
	rec := t.TempDir()
	h := newHarness(t, signaling.Config{RecordDir: rec})
	v := h.book("v1", signaling.KindRemote, 10*time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	visitor := h.dial(ctx, signaling.RoleVisitor, v.ID, true)
	resident := h.dial(ctx, signaling.RoleResident, v.ID, true)
	e := waitEvent(t, ctx, visitor, signaling.TypeParticipant)
	if e.Event != "joined" || e.Participant.Role != "resident" {
		t.Fatalf("visitor saw %+v, want resident joined", e)
	}
	select {
	case <-h.biller.resumed:
	case <-ctx.Done():
		t.Fatal("metering did not start when both sides connected")
	}
	monitor := h.dial(ctx, signaling.RoleOfficer, v.ID, false)

	flowing(t, ctx, "visitor", visitor, 20)
	flowing(t, ctx, "resident", resident, 20)
	// The monitor receives both publishers: two video and two audio tracks.
	flowing(t, ctx, "monitor", monitor, 40)
	before := resident.Received("video")
	waitFor(t, ctx, "resident media growing", func() bool { return resident.Received("video").Bytes > before.Bytes })
	if visitor.PLIs() == 0 || resident.PLIs() == 0 {
		t.Errorf("keyframe requests: visitor %d, resident %d; want some on join", visitor.PLIs(), resident.PLIs())
	}

	// Warnings at 2 and 1 minutes before the end, then the end.
	h.clk.Set(v.End.Add(-2 * time.Minute))
	for _, p := range []*signalingtest.Peer{visitor, resident} {
		if e := waitEvent(t, ctx, p, signaling.TypeWarning); e.Remaining != 120 || e.Reason != "window" {
			t.Errorf("first warning %+v", e)
		}
	}
	h.clk.Set(v.End.Add(-time.Minute))
	for _, p := range []*signalingtest.Peer{visitor, resident} {
		if e := waitEvent(t, ctx, p, signaling.TypeWarning); e.Remaining != 60 {
			t.Errorf("second warning %+v", e)
		}
	}
	h.clk.Set(v.End)
	for _, p := range []*signalingtest.Peer{visitor, resident, monitor} {
		if e := waitEvent(t, ctx, p, signaling.TypeEnded); e.Reason != signaling.ReasonWindow {
			t.Errorf("ended %+v, want window", e)
		}
	}
	b := <-h.biller.cdrs
	if want := int64(v.End.Sub(t0) / time.Second); b.cdr.Seconds != want || b.charge.Seconds != want {
		t.Errorf("billed %d s (cdr %d s), want %d", b.charge.Seconds, b.cdr.Seconds, want)
	}
	if want := money.Amount(250_000 * 10); b.charge.Amount != want { // 10 min at $0.25
		t.Errorf("charge %v, want %v", b.charge.Amount, want)
	}
	if b.cdr.Reason != signaling.ReasonWindow || b.cdr.RecordingPath == "" {
		t.Errorf("cdr %+v", b.cdr)
	}
	files, _ := filepath.Glob(filepath.Join(b.cdr.RecordingPath, "*"))
	if len(files) != 4 {
		t.Errorf("recordings %v, want 4 files (2 × ivf, 2 × ogg)", files)
	}
	for _, f := range files {
		if st, err := os.Stat(f); err != nil || st.Size() < 100 {
			t.Errorf("recording %s too small: %v", f, err)
		}
	}
	// The monitor was never announced to the others.
	for {
		e, err := visitor.Next(ctx)
		if err != nil {
			break
		}
		if e.Participant != nil && e.Participant.Role == "officer" {
			t.Errorf("visitor learned of the monitor: %+v", e)
		}
	}
	if got := counter(h.m.Visits.Cutoffs.WithLabelValues("window")); got != 1 {
		t.Errorf("cutoffs{window} = %v", got)
	}
	if got := counter(h.m.Visits.Packets.WithLabelValues("video")); got < 40 {
		t.Errorf("forwarded video packets = %v", got)
	}
}

// TestRelaySinglePort relays a monitored visit with every peer connection
// of the hub on one UDP port (Config.UDPPort, the deployment setting): the
// media flows both ways and to the monitor, and closing the hub closes the
// mux without leaving goroutines behind.
func TestRelaySinglePort(t *testing.T) {
	testutil.CheckGoroutines(t)
	port := testutil.FreeUDPPort(t)
	h := newHarness(t, signaling.Config{UDPPort: port})
	v := h.book("sp1", signaling.KindInFacility, 10*time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	visitor := h.dial(ctx, signaling.RoleVisitor, v.ID, true)
	resident := h.dial(ctx, signaling.RoleResident, v.ID, true)
	monitor := h.dial(ctx, signaling.RoleOfficer, v.ID, false)
	flowing(t, ctx, "visitor", visitor, 20)
	flowing(t, ctx, "resident", resident, 20)
	flowing(t, ctx, "monitor", monitor, 40)
	// Every selected pair ends at the one port.
	for name, p := range map[string]*signalingtest.Peer{"visitor": visitor, "resident": resident, "monitor": monitor} {
		pair, err := p.PC.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
		if err != nil || pair == nil {
			t.Fatalf("%s: no selected pair: %v", name, err)
		}
		if int(pair.Remote.Port) != port {
			t.Errorf("%s reaches the relay at port %d, want %d", name, pair.Remote.Port, port)
		}
	}
}
