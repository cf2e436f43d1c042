// Family page: sign in, see slots in your own time zone, book, cancel,
// list your visits and join them. Plain JavaScript, no build step; it
// speaks only the JSON API under /api/v1 (docs/SCHEDULER.md).
"use strict";

const KEY = "ipcs.session";
const $ = (id) => document.getElementById(id);
let me = null;

function setStatus(text, isError) {
  const el = $("status");
  el.textContent = text || "";
  el.className = isError ? "error" : "";
}

async function api(method, path, body) {
  const headers = { "Accept": "application/json" };
  const tok = sessionStorage.getItem(KEY);
  if (tok) headers["Authorization"] = "Bearer " + tok;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  if (!res.ok) {
    const err = new Error((data && data.error && data.error.message) || ("request failed (" + res.status + ")"));
    err.code = data && data.error && data.error.code;
    err.status = res.status;
    if (res.status === 401 && path !== "/api/v1/login") signOut();
    throw err;
  }
  return data;
}

// "2026-11-21T07:00:00-05:00" → parts, without letting the browser move
// it to its own zone: the server already wrote it in the zone we asked.
function parts(rfc3339) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):\d{2}(Z|[+-]\d{2}:\d{2})$/.exec(rfc3339 || "");
  if (!m) return { date: rfc3339, time: "", offset: "", label: rfc3339 };
  const d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3]));
  const day = d.toLocaleDateString(undefined, { weekday: "short", day: "numeric", month: "short", timeZone: "UTC" });
  const offset = m[6] === "Z" ? "UTC" : "UTC" + m[6];
  return { date: m[1] + "-" + m[2] + "-" + m[3], day, time: m[4] + ":" + m[5], offset, label: day + " " + m[4] + ":" + m[5] + " (" + offset + ")" };
}

function browserZone() {
  try { return Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { return ""; }
}

function show(signedIn) {
  $("signin").hidden = signedIn;
  $("book").hidden = !signedIn;
  $("mine").hidden = !signedIn;
  $("who").hidden = !signedIn;
}

function signOut() {
  sessionStorage.removeItem(KEY);
  me = null;
  show(false);
}

async function loadMe() {
  me = await api("GET", "/api/v1/me");
  $("who-name").textContent = me.name || me.email;
  const sel = $("resident");
  sel.replaceChildren();
  for (const r of me.residents) {
    const o = document.createElement("option");
    o.value = r.id;
    o.textContent = r.id + " (" + r.facility + ")";
    o.dataset.facility = r.facility;
    o.dataset.group = r.group;
    sel.append(o);
  }
  if (!$("tz").value) $("tz").value = browserZone() || me.zone;
  if (!$("from").value) $("from").value = todayIn($("tz").value);
  show(true);
  await Promise.all([loadVisits(), me.residents.length ? loadSlots() : Promise.resolve()]);
  if (!me.residents.length) setStatus("You are not on any resident's approved list yet.");
}

function todayIn(zone) {
  try {
    return new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date());
  } catch (e) {
    return new Date().toISOString().slice(0, 10);
  }
}

function selectedResident() {
  const o = $("resident").selectedOptions[0];
  return o ? { id: o.value, facility: o.dataset.facility, group: o.dataset.group } : null;
}

async function loadSlots() {
  const r = selectedResident();
  if (!r) return;
  const q = new URLSearchParams({ from: $("from").value, days: "7", tz: $("tz").value.trim(), group: r.group });
  const data = await api("GET", "/api/v1/facilities/" + encodeURIComponent(r.facility) + "/slots?" + q);
  const box = $("slots");
  box.replaceChildren();
  const note = document.createElement("p");
  note.className = "hint";
  note.textContent = "Times are in " + data.zone + ". The facility keeps " + data.facility_zone + " time.";
  box.append(note);
  const byDay = new Map();
  for (const s of data.slots) {
    const p = parts(s.visitor_local);
    if (!byDay.has(p.date)) byDay.set(p.date, { label: p.day, slots: [] });
    byDay.get(p.date).slots.push(s);
  }
  for (const [, day] of byDay) {
    const open = day.slots.filter((s) => s.bookable);
    if (!open.length) continue;
    const div = document.createElement("div");
    div.className = "day";
    const h = document.createElement("h3");
    h.textContent = day.label;
    const ul = document.createElement("ul");
    for (const s of open) {
      const p = parts(s.visitor_local), f = parts(s.facility_local);
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.className = "secondary";
      b.textContent = p.time + " ";
      const small = document.createElement("small");
      small.textContent = p.offset + " · " + s.remaining + " free";
      b.append(small);
      b.setAttribute("aria-label", "Book " + p.label + ", facility time " + f.label + ", " + s.remaining + " of " + s.capacity + " stations free");
      b.addEventListener("click", () => book(s, p));
      li.append(b);
      ul.append(li);
    }
    div.append(h, ul);
    box.append(div);
  }
  if (box.children.length === 1) {
    const p = document.createElement("p");
    p.textContent = "No open slots in these seven days.";
    box.append(p);
  }
}

async function book(slot, p) {
  const r = selectedResident();
  try {
    const v = await api("POST", "/api/v1/bookings", { resident_id: r.id, start: slot.start_utc, kind: $("kind").value });
    setStatus("Booked: " + parts(v.visitor_local).label + " with " + v.resident_id + ".");
  } catch (e) {
    setStatus("Could not book " + p.label + ": " + e.message, true);
  }
  await Promise.all([loadVisits(), loadSlots()]).catch((e) => setStatus(e.message, true));
}

async function loadVisits() {
  const data = await api("GET", "/api/v1/bookings");
  const tb = $("visits");
  tb.replaceChildren();
  $("no-visits").hidden = data.visits.length > 0;
  const now = Date.now();
  for (const v of data.visits) {
    const tr = document.createElement("tr");
    // A booked visit whose time has passed was not held: say so rather
    // than "booked", and offer no cancel button for it.
    const missed = v.status === "booked" && Date.parse(v.end_utc) <= now;
    const status = missed ? "missed" : v.status;
    const cells = [parts(v.visitor_local || v.start_utc).label, parts(v.facility_local).label, v.resident_id,
      v.kind.replace("_", " "), status + (v.privileged ? " · privileged" : "")];
    for (const c of cells) {
      const td = document.createElement("td");
      td.textContent = c;
      tr.append(td);
    }
    const act = document.createElement("td");
    if (v.join) {
      const a = document.createElement("a");
      a.className = "join";
      a.href = v.join.url;
      a.textContent = "Join";
      a.setAttribute("aria-label", "Join visit with " + v.resident_id + " (opens from 5 minutes before the start)");
      act.append(a, " ");
    }
    if (v.status === "booked" && !missed) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "secondary";
      b.textContent = "Cancel";
      b.addEventListener("click", () => cancel(v));
      act.append(b);
    }
    tr.append(act);
    tb.append(tr);
  }
}

async function cancel(v) {
  if (!confirm("Cancel the visit on " + parts(v.visitor_local).label + "?")) return;
  try {
    await api("DELETE", "/api/v1/bookings/" + encodeURIComponent(v.id));
    setStatus("Visit cancelled.");
  } catch (e) {
    setStatus("Could not cancel: " + e.message, true);
  }
  await Promise.all([loadVisits(), loadSlots()]).catch((e) => setStatus(e.message, true));
}

async function dial() {
  const r = selectedResident();
  if (!r) return;
  try {
    const v = await api("POST", "/api/v1/direct-dial", { resident_id: r.id });
    setStatus("Connecting to " + v.resident_id + "…");
    location.href = v.join.url;
  } catch (e) {
    setStatus("Cannot call now: " + e.message, true);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const zones = $("zones");
  if (Intl.supportedValuesOf) {
    for (const z of Intl.supportedValuesOf("timeZone")) {
      const o = document.createElement("option");
      o.value = z;
      zones.append(o);
    }
  }
  $("signin-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    setStatus("");
    try {
      const s = await api("POST", "/api/v1/login", { role: "family", user: $("email").value, secret: $("password").value });
      sessionStorage.setItem(KEY, s.token);
      $("password").value = "";
      await loadMe();
    } catch (e) {
      setStatus(e.code === "bad_credentials" ? "Wrong email or password." : e.message, true);
    }
  });
  $("slots-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    setStatus("");
    loadSlots().catch((e) => setStatus(e.message, true));
  });
  $("resident").addEventListener("change", () => loadSlots().catch((e) => setStatus(e.message, true)));
  $("dial").addEventListener("click", dial);
  $("signout").addEventListener("click", signOut);
  if (sessionStorage.getItem(KEY)) loadMe().catch(() => signOut());
  else show(false);
});
