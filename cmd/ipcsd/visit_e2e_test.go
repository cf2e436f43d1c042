package main

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"ipcs/internal/testutil"
	"ipcs/signaling"
)

// pageVideo reads a visit page's inbound video stats and connection state.
const pageVideo = `(async () => {
  const pc = window.ipcsVisit && window.ipcsVisit.pc;
  if (!pc) return {bytes: 0, frames: 0, state: "none"};
  const out = {bytes: 0, frames: 0, state: pc.connectionState};
  (await pc.getStats()).forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "video") { out.bytes = r.bytesReceived || 0; out.frames = r.framesDecoded || 0; }
  });
  return out;
})()`

type pageStats struct {
	Bytes  float64 `json:"bytes"`
	Frames float64 `json:"frames"`
	State  string  `json:"state"`
}

// TestDaemonVisitInBrowser is the README's first visit against the real
// ipcsd: ipcsctl's flow gets the family and kiosk links, both pages open
// in one headless Chromium with fake cameras, video flows both ways
// (getStats shows bytes and decoded frames growing on each side), an
// officer ends the visit, both pages say so, and the resident is billed
// for the connected seconds with a CDR.
func TestDaemonVisitInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	chromium := testutil.Binary(t, "chromium")
	d := startDaemon(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()

	family := login(t, d.HTTP, "family", "visitor@demo.test", "demo")
	var v struct {
		ID   string `json:"id"`
		Join struct {
			Token string `json:"token"`
		} `json:"join"`
	}
	if code := postJSON(t, d.HTTP+"/api/v1/direct-dial", family, `{"resident_id":"r-1001"}`, &v); code != 201 || v.Join.Token == "" {
		t.Fatalf("direct dial: %d %+v", code, v)
	}
	kiosk := login(t, d.HTTP, "kiosk", "r-1001", "1001")
	var kt struct{ Token string }
	if code := postJSON(t, d.HTTP+"/api/v1/visits/"+v.ID+"/token", kiosk, "", &kt); code != 200 || kt.Token == "" {
		t.Fatalf("kiosk token: %d", code)
	}

	actx, acancel := chromedp.NewExecAllocator(ctx,
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
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"),
	)
	defer acancel()
	famTab, famCancel := chromedp.NewContext(actx)
	defer famCancel()
	if _, err := chromedp.Run(famTab, chromedp.Navigate(d.HTTP+"/visit.html?token="+url.QueryEscape(v.Join.Token))); err != nil {
		t.Fatalf("family page: %v", err)
	}
	kioskTab, kioskCancel := chromedp.NewContext(famTab)
	defer kioskCancel()
	if _, err := chromedp.Run(kioskTab, chromedp.Navigate(d.HTTP+"/kiosk.html?token="+url.QueryEscape(kt.Token))); err != nil {
		t.Fatalf("kiosk page: %v", err)
	}

	sample := func(tab context.Context) pageStats {
		s, err := chromedp.Run(tab, chromedp.Evaluate[pageStats](pageVideo, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("getStats: %v", err)
		}
		return s
	}
	for _, side := range []struct {
		name string
		tab  context.Context
	}{{"family", famTab}, {"kiosk", kioskTab}} {
		var first, second pageStats
		waitUntil(t, ctx, side.name+" decodes video", func() bool {
			first = sample(side.tab)
			return first.Frames > 0
		})
		waitUntil(t, ctx, side.name+" video keeps flowing", func() bool {
			second = sample(side.tab)
			return second.Frames > first.Frames+10 && second.Bytes > first.Bytes
		})
		t.Logf("%s page: bytesReceived %v → %v, framesDecoded %v → %v (%s)", side.name, first.Bytes, second.Bytes, first.Frames, second.Frames, second.State)
	}

	officer := login(t, d.HTTP, "officer", "officer", "admin")
	if code := postJSON(t, d.HTTP+"/api/v1/visits/"+v.ID+"/end", officer, "", nil); code != 200 {
		t.Fatalf("officer end: %d", code)
	}
	for _, tab := range []context.Context{famTab, kioskTab} {
		waitUntil(t, ctx, "the page says the visit ended", func() bool {
			status, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.getElementById("status").textContent`))
			return strings.Contains(strings.ToLower(status), "ended")
		})
	}

	admin := login(t, d.HTTP, "admin", "admin", "admin")
	var res struct {
		CDRs []struct {
			SessionID     string `json:"session_id"`
			Service       string `json:"service"`
			BilledSeconds int64  `json:"billed_seconds"`
			Amount        string `json:"amount"`
			Cause         string `json:"cause"`
		} `json:"cdrs"`
	}
	waitUntil(t, ctx, "the visit's CDR", func() bool {
		getJSON(t, d.HTTP+"/api/v1/cdrs?account_id=r-1001", admin, &res)
		for _, c := range res.CDRs {
			if signaling.SessionOf(c.SessionID) == v.ID {
				return true
			}
		}
		return false
	})
	for _, c := range res.CDRs {
		if signaling.SessionOf(c.SessionID) != v.ID {
			continue
		}
		if c.Service != "video" || c.BilledSeconds < 1 || c.Amount == "0.00" {
			t.Fatalf("visit CDR %+v: want a billed video session", c)
		}
		t.Logf("visit CDR: %+v", c)
	}
}

func waitUntil(tb testing.TB, ctx context.Context, what string, cond func() bool) {
	tb.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			tb.Fatalf("timed out waiting until %s", what)
		case <-time.After(100 * time.Millisecond): // polling a browser; no event to wait on
		}
	}
}
