package signaling_test

import (
	"context"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"ipcs/internal/clock"
	"ipcs/internal/testutil"
	"ipcs/signaling"
	"ipcs/signaling/signalingtest"
)

// TestRelayMediaFeedback checks what the relay does besides copying RTP:
// a subscriber that loses video packets gets them again from the relay's
// retransmission history when it NACKs them; the publishers' sender
// reports reach every subscriber with the subscriber's SSRC; and a
// subscriber's PLI becomes a keyframe request to the publisher.
func TestRelayMediaFeedback(t *testing.T) {
	testutil.CheckGoroutines(t)
	h := newHarness(t, signaling.Config{})
	v := h.book("fb1", signaling.KindInFacility, 10*time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	visitor := h.dial(ctx, signaling.RoleVisitor, v.ID, true)
	resident := h.dial(ctx, signaling.RoleResident, v.ID, true)

	// The monitor's socket drops the first copy of every 10th video
	// packet.
	loss := &signalingtest.Loss{PayloadType: 96, Every: 10}
	lossy, err := signalingtest.NewLossyAPI(loss)
	if err != nil {
		t.Fatal(err)
	}
	monitor, err := signalingtest.Dial(ctx, lossy, signalingtest.Options{URL: h.url, Token: h.token(signaling.RoleOfficer, v.ID)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(monitor.Close)
	flowing(t, ctx, "monitor", monitor, 40)

	t.Run("nack", func(t *testing.T) {
		waitFor(t, ctx, "lost video packets sent again", func() bool { return loss.Recovered() >= 10 })
		if d, r := loss.Dropped(), loss.Recovered(); r < d/2 {
			t.Errorf("recovered %d of %d dropped packets", r, d)
		}
	})
	t.Run("sender reports", func(t *testing.T) {
		for name, p := range map[string]*signalingtest.Peer{"visitor": visitor, "resident": resident, "monitor": monitor} {
			waitFor(t, ctx, name+" sender reports", func() bool { return p.SenderReports() >= 2 })
		}
	})
	t.Run("pli", func(t *testing.T) {
		var ssrcs []uint32
		for _, tr := range monitor.PC.GetTransceivers() {
			if r := tr.Receiver(); r != nil && r.Track() != nil && r.Track().Kind() == webrtc.RTPCodecTypeVideo {
				ssrcs = append(ssrcs, uint32(r.Track().SSRC()))
			}
		}
		if len(ssrcs) != 2 {
			t.Fatalf("monitor receives %d video tracks, want 2", len(ssrcs))
		}
		before := visitor.PLIs() + resident.PLIs()
		// Keyframe requests are coalesced per 500 ms of wall time: ask
		// until one gets through.
		tick := clock.Real{}.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for visitor.PLIs()+resident.PLIs() == before {
			for _, s := range ssrcs {
				_ = monitor.PC.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: s}})
			}
			select {
			case <-ctx.Done():
				t.Fatal("the monitor's PLI did not reach a publisher")
			case <-tick.C():
			}
		}
	})
}
