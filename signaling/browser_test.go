package signaling_test

import (
	"context"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"ipcs/internal/testutil"
	"ipcs/signaling"
)

// inboundVideo reads the family page's inbound video stats.
const inboundVideo = `(async () => {
  const pc = window.ipcsVisit && window.ipcsVisit.pc;
  if (!pc) return {bytes: 0, frames: 0, state: "none"};
  const out = {bytes: 0, frames: 0, state: pc.connectionState, srtp: ""};
  (await pc.getStats()).forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "video") { out.bytes = r.bytesReceived || 0; out.frames = r.framesDecoded || 0; }
    if (r.type === "transport" && r.srtpCipher) { out.srtp = r.srtpCipher; }
  });
  return out;
})()`

const statusText = `document.getElementById("status").textContent`

type videoStats struct {
	Bytes  float64 `json:"bytes"`
	Frames float64 `json:"frames"`
	State  string  `json:"state"`
	SRTP   string  `json:"srtp"` // the transport's negotiated SRTP protection profile
}

// TestBrowserFamilyPage opens visit.html in headless Chromium with a fake
// camera, joins a visit whose resident is a pion kiosk sending VP8, and
// checks with getStats() that inbound video bytes and decoded frames grow
// between two samples, and that the browser's camera reaches the kiosk.
// Chrome hides host addresses behind mDNS names unless told not to; the
// "mdns" case leaves that on and relies on peer-reflexive candidates.
func TestBrowserFamilyPage(t *testing.T) {
	chromium := testutil.Binary(t, "chromium")
	for _, tc := range []struct {
		name string
		mdns bool
	}{{"host-ips", false}, {"mdns", true}} {
		t.Run(tc.name, func(t *testing.T) {
			testutil.CheckGoroutines(t)
			browserVisit(t, chromium, tc.mdns)
		})
	}
}

func browserVisit(t *testing.T, chromium string, mdns bool) {
	h := newHarness(t, signaling.Config{})
	v := h.book("browser", signaling.KindRemote, 30*time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	kiosk := h.dial(ctx, signaling.RoleResident, v.ID, true)

	flags := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", "new"),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
	}
	if !mdns {
		flags = append(flags, chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"))
	}
	actx, acancel := chromedp.NewExecAllocator(ctx, flags...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()

	page := h.srv.URL + "/visit.html?token=" + url.QueryEscape(h.token(signaling.RoleVisitor, v.ID))
	if _, err := chromedp.Run(bctx, chromedp.Navigate(page)); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	sample := func() videoStats {
		s, err := chromedp.Run(bctx, chromedp.Evaluate[videoStats](inboundVideo, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("getStats: %v", err)
		}
		return s
	}
	var first videoStats
	waitFor(t, ctx, "first decoded frames in the browser", func() bool {
		first = sample()
		return first.Frames > 0 && first.Bytes > 0
	})
	var second videoStats
	waitFor(t, ctx, "decoded frames growing", func() bool {
		second = sample()
		return second.Frames > first.Frames+10 && second.Bytes > first.Bytes
	})
	t.Logf("browser inbound video: bytesReceived %v → %v, framesDecoded %v → %v (state %s, SRTP %s)",
		first.Bytes, second.Bytes, first.Frames, second.Frames, second.State, second.SRTP)
	// The relay prefers AES-128-GCM (AEAD, cheapest per packet); Chromium
	// offers it, so it must be what was negotiated.
	if second.SRTP != "SRTP_AEAD_AES_128_GCM" {
		t.Errorf("SRTP profile %q, want SRTP_AEAD_AES_128_GCM", second.SRTP)
	}
	waitFor(t, ctx, "the browser's camera at the kiosk", func() bool { return kiosk.Received("video").Packets > 30 })
	status, err := chromedp.Run(bctx, chromedp.Evaluate[string](statusText))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("page status: %q; kiosk received %+v video", status, kiosk.Received("video"))

	// The slot closes: the page says why.
	h.clk.Set(v.End)
	var msg string
	waitFor(t, ctx, "the page's end message", func() bool {
		msg, _ = chromedp.Run(bctx, chromedp.Evaluate[string](statusText))
		return msg == "The visit time is over."
	})
	if err := chromedp.Cancel(bctx); err != nil && !os.IsNotExist(err) {
		t.Logf("closing browser: %v", err)
	}
}
