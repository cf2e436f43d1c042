// visit.js joins a video visit: the family page (visit.html) and the
// resident's kiosk (kiosk.html). It asks for the camera and microphone,
// opens /ws with the join token from the page address (?token=…), answers
// the server's offers (the server is the only offerer), trickles ICE
// candidates, and shows the other side, a countdown, the warnings and why
// the visit ended. Plain JavaScript, no build step. Protocol:
// docs/SIGNALING.md.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  const token = params.get("token") || "";
  const kiosk = document.body.dataset.page === "kiosk";

  const ENDED = {
    completed: "The visit has ended. Thank you.",
    window: "The visit time is over.",
    exhausted: "The visit ended because the account balance ran out.",
    officer: "The visit was ended by facility staff.",
    cancelled: "The facility cancelled this visit. Anything it was charged is credited back.",
    shutdown: "The visit ended because the service is restarting. Please try again in a moment.",
    abandoned: "The visit ended because nobody was connected.",
    funds: "The resident's account cannot pay for this visit.",
    replaced: "This visit was opened in another window.",
    error: "The visit ended because of a problem on our side.",
  };
  const REFUSED = {
    bad_token: "This visit link is not valid. Open the visit again from your list of visits.",
    expired: "This visit link is not valid at this time.",
    not_found: "This visit does not exist or was cancelled.",
    not_open: "The visit has not started yet. This page will try again at the start time.",
    window: "This visit is over.",
    full: "This visit already has the most participants allowed.",
    funds: "The resident's account cannot pay for this visit.",
    overload: "The service is busy. Trying again…",
    shutdown: "The service is restarting. Trying again…",
    ice_failed: "The video connection failed. Check your network and try again.",
    privileged: "This visit cannot be monitored.",
  };

  const state = {
    ws: null,
    pc: null,
    local: null, // MediaStream from getUserMedia (may be null: watch only)
    published: false,
    ended: false,
    endAt: 0, // ms, in this browser's clock
    skew: 0, // server time minus browser time, ms
    queue: Promise.resolve(), // server messages, handled one at a time
    retries: 0,
  };
  // Tests read the peer connection's stats through this.
  window.ipcsVisit = state;

  function status(text, isError) {
    const el = $("status");
    el.textContent = text;
    el.className = isError ? "error" : "";
  }

  function warn(text) {
    const el = $("warning");
    el.textContent = text;
    el.hidden = !text;
  }

  function minutes(sec) {
    const m = Math.round(sec / 60);
    return m <= 1 ? "1 minute" : m + " minutes";
  }

  function tick() {
    if (!state.endAt) return;
    const left = Math.max(0, Math.floor((state.endAt - (Date.now() + state.skew)) / 1000));
    const m = Math.floor(left / 60), s = left % 60;
    $("countdown").textContent = m + ":" + String(s).padStart(2, "0");
  }
  setInterval(tick, 1000);

  async function media() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      status("This browser cannot use a camera here. Use a current browser over https.", true);
      return null;
    }
    try {
      return await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 480 } });
    } catch (err) {
      if (err.name === "NotAllowedError" || err.name === "SecurityError") {
        status("Camera and microphone are blocked. Allow them for this site in your browser's settings, then press Try again. You can still see and hear the other side.", true);
        $("retry").hidden = false;
      } else if (err.name === "NotFoundError" || err.name === "OverconstrainedError") {
        try {
          return await navigator.mediaDevices.getUserMedia({ audio: true });
        } catch (_) {
          status("No camera or microphone was found. You can still see and hear the other side.", true);
        }
      } else if (err.name === "NotReadableError") {
        status("Your camera is in use by another program. Close it and press Try again.", true);
        $("retry").hidden = false;
      } else {
        status("The camera could not be started (" + err.name + ").", true);
      }
      return null;
    }
  }

  function send(msg) {
    if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(msg));
  }

  function newPeer() {
    const pc = new RTCPeerConnection({ iceServers: [] });
    pc.onicecandidate = (e) => {
      if (e.candidate) send({ type: "candidate", candidate: e.candidate.toJSON() });
    };
    pc.ontrack = (e) => {
      const v = $("remote");
      if (!v.srcObject) v.srcObject = new MediaStream();
      v.srcObject.addTrack(e.track);
      $("remote-label").textContent = kiosk ? "Your visitor" : "Connected";
      v.play().catch(() => {});
    };
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === "connected") status("Connected.");
      if (pc.connectionState === "disconnected") status("The connection is unstable…", true);
    };
    return pc;
  }

  async function onOffer(sdp) {
    const pc = state.pc;
    await pc.setRemoteDescription({ type: "offer", sdp: sdp });
    if (state.local && !state.published) {
      // addTrack reuses the receive-only transceivers the server offered.
      for (const t of state.local.getTracks()) pc.addTrack(t, state.local);
      state.published = true;
    }
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    send({ type: "answer", sdp: pc.localDescription.sdp });
  }

  function onMessage(m) {
    switch (m.type) {
      case "joined": {
        state.retries = 0;
        state.skew = Date.parse(m.now) - Date.now();
        state.endAt = Date.parse(m.visit.end);
        tick();
        const others = (m.participants || []).length;
        status(others ? "Joining the visit…" : "Waiting for the other side to join…");
        $("notice").hidden = !m.visit.recorded;
        $("leave").disabled = false;
        return;
      }
      case "offer":
        return onOffer(m.sdp).catch((err) => status("The video could not be set up (" + err.name + ").", true));
      case "candidate":
        if (m.candidate && state.pc.remoteDescription) return state.pc.addIceCandidate(m.candidate).catch(() => {});
        return;
      case "participant":
        if (m.event === "joined") status((kiosk ? "Your visitor" : "The resident") + " joined.");
        if (m.event === "left") {
          status((kiosk ? "Your visitor" : "The resident") + " left the visit.");
          $("remote-label").textContent = "Waiting for the other side to join…";
        }
        return;
      case "warning":
        warn(m.reason === "funds"
          ? "The account balance runs out in " + minutes(m.remaining) + ". The visit will end then."
          : "The visit ends in " + minutes(m.remaining) + ".");
        return;
      case "ended":
        finish(ENDED[m.reason] || "The visit has ended.");
        return;
      case "error":
        if (m.code === "not_open") scheduleRetry(60000);
        if (m.code === "overload" || m.code === "shutdown") scheduleRetry(3000);
        status(REFUSED[m.code] || "Something went wrong (" + m.code + ").", true);
        return;
    }
  }

  function finish(text) {
    state.ended = true;
    warn("");
    status(text, false);
    $("countdown").textContent = "0:00";
    state.endAt = 0;
    if (state.pc) state.pc.close();
    if (state.local) state.local.getTracks().forEach((t) => t.stop());
    $("remote").srcObject = null;
    for (const id of ["leave", "mute", "camera"]) $(id).disabled = true;
  }

  let retryTimer = 0;
  function scheduleRetry(ms) {
    clearTimeout(retryTimer);
    retryTimer = setTimeout(() => { if (!state.ended) connect(); }, ms);
  }

  function connect() {
    if (state.pc) state.pc.close();
    state.pc = newPeer();
    state.published = false;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(scheme + "//" + location.host + "/ws");
    state.ws = ws;
    ws.onopen = () => ws.send(JSON.stringify({ type: "join", token: token }));
    ws.onmessage = (e) => {
      let m;
      try { m = JSON.parse(e.data); } catch (_) { return; }
      state.queue = state.queue.then(() => onMessage(m)).catch(() => {});
    };
    ws.onclose = (e) => {
      if (state.ended || ws !== state.ws) return;
      if (e.code === 1000 || (e.code >= 4400 && e.code < 4500 && e.code !== 4408)) return; // told why already
      if (state.retries++ < 5) {
        status("Connection lost. Reconnecting…", true);
        scheduleRetry(1000 * state.retries);
      } else {
        status("The connection was lost. Check your network and reload the page.", true);
      }
    };
  }

  async function start() {
    if (!token) {
      status("This page needs a visit link. Open the visit from your list of visits.", true);
      return;
    }
    state.local = await media();
    if (state.local) {
      $("local").srcObject = state.local;
      $("mute").disabled = !state.local.getAudioTracks().length;
      $("camera").disabled = !state.local.getVideoTracks().length;
    }
    connect();
  }

  $("retry").addEventListener("click", () => location.reload());
  $("leave").addEventListener("click", () => {
    send({ type: "leave" });
    finish("You left the visit.");
  });
  $("mute").addEventListener("click", (e) => {
    const t = state.local && state.local.getAudioTracks()[0];
    if (!t) return;
    t.enabled = !t.enabled;
    e.target.textContent = t.enabled ? "Mute microphone" : "Unmute microphone";
  });
  $("camera").addEventListener("click", (e) => {
    const t = state.local && state.local.getVideoTracks()[0];
    if (!t) return;
    t.enabled = !t.enabled;
    e.target.textContent = t.enabled ? "Turn camera off" : "Turn camera on";
  });
  window.addEventListener("pagehide", () => { if (!state.ended) send({ type: "leave" }); });

  start();
})();
