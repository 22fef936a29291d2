// The pedal's page: plain JavaScript, no build step, nothing from the internet.
"use strict";
const $ = (s, el = document) => el.querySelector(s);
let csrf = null, lib = { models: [], rejected: [], irs: [] }, status = {}, open = null, events = null;
const pending = new Map();            // uploads the librarian is still checking: name -> result

async function api(path, body) {
  const opts = body === undefined ? {} : { method: "POST", body: JSON.stringify(body),
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf || "" } };
  const r = await fetch(path, { credentials: "same-origin", ...opts });
  let data = {};
  try { data = await r.json(); } catch (e) { data = { ok: false, error: r.statusText }; }
  if (r.status === 401 && path !== "/api/login") { showLogin(); }
  if (!r.ok || data.ok === false) throw new Error(data.error || r.statusText);
  return data;
}

function toast(text) {
  const t = $("#toast"); t.textContent = text; t.hidden = false;
  clearTimeout(toast.timer); toast.timer = setTimeout(() => { t.hidden = true; }, 5000);
}
const attempt = (fn) => async (...a) => { try { await fn(...a); } catch (e) { toast(e.message); } };

// --- views ---------------------------------------------------------------------------
function show(view) {
  document.querySelectorAll(".view").forEach(v => { v.hidden = v.id !== "view-" + view; });
  document.querySelectorAll("#tabs button").forEach(b => b.classList.toggle("on", b.dataset.view === view));
  if (view === "settings") loadSettings();
  if (view === "presets" && csrf) refreshPresets().catch(() => {});
  location.hash = view;
}
function showLogin() {
  csrf = null; if (events) { events.close(); events = null; }
  $("#tabs").hidden = true; show("login"); $("#password").focus();
}
// logged in: the views and the live connection first, whether the pedal answers or not
// (the stream says when it is down and brings the library once it is up); never throws
async function start() {
  $("#tabs").hidden = false;
  show((location.hash || "#models").slice(1).replace("login", "models"));
  connect();
  try { if (!rigTable) buildRig((await api("/api/rig")).blocks); } catch (e) { toast(e.message); }
  try {
    const data = await api("/api/models");
    applyLibrary(data); applyStatus(data.status);
    await refreshPresets();
  } catch (e) { if (csrf) pedalDown(e.message); }
}
function pedalDown(why) {
  $("#now-name").textContent = "pedal not running"; $("#conn").classList.remove("live");
  const d = $("#pedal-down"); d.textContent = why; d.hidden = false;
}

// --- models --------------------------------------------------------------------------
const stem = f => f.replace(/\.[^.]*$/, "");
const fileOf = m => m.file || "";                    // relative to the models folder
// a model as the player named its file; the name stored inside it beside, when it differs
const titleOf = m => stem(fileOf(m).split("/").pop()) || m.name || "?";
const storedOf = m => m.name && m.name.trim().toLowerCase() !== titleOf(m).trim().toLowerCase() ? m.name : "";
const kb = n => n >= 1e6 ? (n / 1e6).toFixed(1) + " MB" : Math.round(n / 1e3) + " KB";

// a search of the library: by the file's name, the name inside, the file or the architecture
const matches = (m, q) => !q || (titleOf(m) + " " + m.name + " " + m.file + " " + m.architecture).toLowerCase()
  .includes(q.trim().toLowerCase());

function applyLibrary(data) {
  lib = { models: data.models || [], rejected: data.rejected || [], irs: data.irs || [], rate: data.rate || lib.rate,
          library_error: data.library_error || null };
  const le = $("#library-error");            // the librarian's scan failed: what it says, where the list is
  le.textContent = lib.library_error ? "The pedal could not read its models folder: " + lib.library_error : "";
  le.hidden = !lib.library_error;
  renderModels(); renderPicker(); resolveUploads();
}

function renderModels() {
  const q = $("#search").value;
  const ol = $("#models"); ol.textContent = "";
  lib.models.forEach((m, i) => {
    if (!matches(m, q)) return;
    const li = document.createElement("li");
    li.className = "model" + (m.playing ? " playing" : ""); li.dataset.file = m.file;
    const row = document.createElement("div"); row.className = "row";
    const play = document.createElement("button"); play.className = "play";
    play.innerHTML = '<span class="n"></span><span class="names"><span class="name"></span>' +
      '<span class="inner"></span></span>';
    $(".n", play).textContent = i + 1; $(".name", play).textContent = titleOf(m);
    $(".inner", play).textContent = storedOf(m); $(".inner", play).hidden = !storedOf(m);
    play.onclick = attempt(async () => { await api("/api/play", { file: m.file }); markPlaying(m.file); });
    const more = document.createElement("button"); more.className = "more"; more.textContent = "⋯";
    more.setAttribute("aria-label", "details of " + titleOf(m));
    more.onclick = () => { open = open === m.file ? null : m.file; renderModels(); };
    row.append(play, more); li.append(row);
    if (open === m.file) li.append(details(m, i));
    ol.append(li);
  });
  const rb = $("#rejected-box"), ul = $("#rejected"); ul.textContent = "";
  lib.rejected.forEach(r => {
    const li = document.createElement("li"); li.textContent = r.file;
    const why = document.createElement("span"); why.className = "why"; why.textContent = r.error;
    li.append(why); ul.append(li);
  });
  rb.hidden = lib.rejected.length === 0;
}

function details(m, i) {
  const d = document.createElement("div"); d.className = "details";
  const rate = lib.rate || 48000;
  const facts = [["file", m.file], ["name inside", m.name], ["format", m.format], ["architecture", m.architecture],
    ["sample rate", m.sample_rate + " Hz" + (m.sample_rate !== rate ? " (resampled to " + rate + " Hz)" : "")],
    ["size", kb(m.bytes || 0) + (m.sizes ? " · plays " + m.sizes[m.size] + " of " + m.sizes.join(", ") : "")],
    ["knobs", String(m.num_knobs || 0)],
    ["IR", m.ir_file ? m.ir_file + (m.ir_used ? "" : " (not readable: not used)") : "global IR / none"]];
  const dl = document.createElement("dl");
  for (const [k, v] of facts) {
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = v; dl.append(dt, dd);
  }
  const acts = document.createElement("div"); acts.className = "actions";
  const btn = (label, fn, cls) => { const b = document.createElement("button"); b.textContent = label;
    if (cls) b.className = cls; b.onclick = attempt(fn); acts.append(b); return b; };
  btn("▲ up", () => move(i, -1)).dataset.act = "up";
  btn("▼ down", () => move(i, +1)).dataset.act = "down";
  btn("rename", async () => {
    const to = prompt("New name for " + titleOf(m) + " (its ." + m.file.split(".").pop() + " stays)", titleOf(m));
    if (!to || to.trim() === titleOf(m)) return;
    const r = await api("/api/rename", { file: m.file, to }); open = r.file; await refresh();
  }).dataset.act = "rename";
  const sel = document.createElement("select"); sel.setAttribute("aria-label", "IR for " + titleOf(m));
  sel.append(new Option(m.ir_file ? "own IR: " + m.ir_file : "attach an IR…", ""));
  lib.irs.forEach(n => sel.append(new Option(n, n)));
  if (m.ir_file) sel.append(new Option("remove its IR", "-"));
  sel.onchange = attempt(async () => {
    if (!sel.value) return;
    await api("/api/ir", { model: m.file, ir: sel.value === "-" ? "" : sel.value });
    pending.set(stem(m.file) + ".wav", { file: sel.value, kind: "ir", model: stem(m.file), status: "checking" });
    toast("IR saved: the pedal checks it now"); await refresh();
  });
  acts.append(sel);
  btn("delete", async () => {
    if (!confirm("Delete " + m.file + "?")) return;
    await api("/api/delete", { file: m.file }); open = null; await refresh();
  }, "danger").dataset.act = "delete";
  d.append(dl, acts); return d;
}

async function move(i, step) {
  const order = lib.models.map(m => m.file), j = i + step;
  if (j < 0 || j >= order.length) return;
  [order[i], order[j]] = [order[j], order[i]];
  await api("/api/setlist", { order });
  lib.models = order.map(f => lib.models.find(m => m.file === f)); renderModels();   // until the pedal confirms
}

function markPlaying(file) {
  lib.models.forEach(m => { m.playing = m.file === file; }); renderModels();
}

async function refresh() { applyLibrary(await api("/api/models")); }

// --- uploads -------------------------------------------------------------------------
function upload(files, where = "models") {
  if (!files.length) return;
  const form = new FormData();
  for (const f of files) form.append("files", f, f.name);
  const box = $("#upload-box"), bar = $("#upload-progress"); box.hidden = where !== "models"; bar.value = 0;
  if (where === "rig") $("#rig-results").textContent = "uploading…";
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/api/upload");
  xhr.setRequestHeader("X-CSRF-Token", csrf || "");
  xhr.upload.onprogress = e => { if (e.lengthComputable) bar.value = e.loaded / e.total; };
  xhr.onload = () => {
    bar.value = 1;
    let data = {};
    try { data = JSON.parse(xhr.responseText); } catch (e) { data = { error: xhr.statusText }; }
    if (xhr.status !== 200) { toast(data.error || "upload failed"); if (where === "rig") renderUploads(); return; }
    for (const r of data.results) pending.set(r.file, { ...r, where });
    renderUploads(); refresh().catch(() => {});
    if (data.results.some(r => r.kind === "preset")) refreshPresets().catch(() => {});
  };
  xhr.onerror = () => toast("upload failed: the connection broke");
  xhr.send(form);
}

function resolveUploads() {
  for (const r of pending.values()) {
    if (r.status !== "checking") continue;
    if (r.kind === "model") {
      const m = lib.models.find(m => m.file === r.name && m.bytes === r.bytes);
      const bad = lib.rejected.find(x => x.file === r.name);
      if (m) { r.status = "accepted"; r.error = m.name + " · " + m.architecture; }
      else if (bad) { r.status = "refused"; r.error = bad.error; }
    } else if (r.kind === "ir") {
      const m = lib.models.find(m => stem(m.file) === r.model && m.ir_file === r.model + ".wav");
      if (m) { r.status = m.ir_used ? "accepted" : "refused";
               r.error = m.ir_used ? "IR of " + m.name : "not readable as an IR: " + m.name + " plays without it"; }
    }
  }
  renderUploads();
}

function renderUploads() {
  const lists = { models: $("#upload-results"), rig: $("#rig-results") };
  for (const ul of Object.values(lists)) ul.textContent = "";
  let here = 0;
  for (const r of pending.values()) {
    const li = document.createElement("li"); li.className = r.status; li.dataset.file = r.file;
    li.dataset.status = r.status; li.textContent = r.file + " — " + r.status;
    const why = r.error || r.note;
    if (why) { const s = document.createElement("span"); s.className = "why"; s.textContent = why; li.append(s); }
    (lists[r.where] || lists.models).append(li);
    here += (r.where || "models") === "models";
  }
  $("#upload-box").hidden = here === 0;
}

// --- live state ----------------------------------------------------------------------
function connect() {
  if (events) events.close();
  events = new EventSource("/api/events");
  events.onopen = () => $("#conn").classList.add("live");
  events.onerror = () => { $("#conn").classList.remove("live");
    fetch("/api/session").then(r => { if (r.status === 401) showLogin(); }); };
  events.addEventListener("status", e => applyStatus(JSON.parse(e.data)));
  events.addEventListener("models", e => applyLibrary(JSON.parse(e.data)));
  events.addEventListener("presets", e => applyPresets(JSON.parse(e.data)));
  events.addEventListener("health", e => applyHealth(JSON.parse(e.data)));
  events.addEventListener("pitch", e => applyPitch(JSON.parse(e.data).pitch));
  events.addEventListener("down", e => pedalDown(JSON.parse(e.data).error));
}

const pct = x => (100 * (x || 0)).toFixed(1) + "%";
function applyStatus(s) {
  if (!s) return;
  status = { ...status, ...s };
  $("#conn").classList.add("live"); $("#pedal-down").hidden = true;
  const now = s.model_file ? { file: s.model_file, name: s.model } : null;
  $("#now-name").textContent = now ? titleOf(now) : s.model || "no model";
  $("#play-name").textContent = now ? titleOf(now) : s.model || "no model";
  $("#play-stored").textContent = now ? storedOf(now) : "";
  const playing = lib.models.find(m => m.playing);
  if (s.model_file && (!playing || playing.file !== s.model_file) && lib.models.some(m => m.file === s.model_file)) {
    markPlaying(s.model_file);
  }
  $("#bypass").classList.toggle("on", !!s.bypass);
  $("#mute").classList.toggle("on", !!s.mute);
  if (s.tuner !== undefined) {
    $("#tuner").classList.toggle("on", !!s.tuner);
    $("#tuner-view").hidden = !s.tuner;
    if (s.pitch) applyPitch(s.pitch);
  }
  if (s.record) applyRecord(s.record);
  if (s.capture) applyCapture(s.capture);
  for (const p of ["drive", "level", "knob2"]) {
    const v = (s.pots || {})[p];
    if (v !== undefined) follow(p, v);
  }
  if (s.rig) applyRig(s.rig);
  if ("stomp" in s) applyStomp(s.stomp);
  if ("preset" in s && (s.preset !== presets.preset || s.bank !== presets.bank || s.snapshot !== presets.snapshot)) {
    presets = { ...presets, preset: s.preset, bank: s.bank, snapshot: s.snapshot };
    renderPresets();
  }
  if (s.cpu) {
    $("#h-cpu").textContent = `p50 ${pct(s.cpu.p50)} · p99 ${pct(s.cpu.p99)} · max ${pct(s.cpu.max)}`;
    $("#h-late").textContent = s.late ? `${pct(s.late.p999)} / ${pct(s.late.max)}` : "–";
    $("#h-xruns").textContent = `${s.xruns} (over ${s.overruns}, under ${s.underruns})`;
    $("#h-faults").textContent = String(s.faults);
    $("#h-rt").textContent = s.realtime ? "yes (SCHED_FIFO)" : "no";
  }
}

// --- the Play view's controls: sliders, the rig's blocks ---------------------------------
// Every slider sends while it is dragged, throttled: at most one request in flight and one
// each GAP_MS per control, the last value always sent. The live status moves a slider only
// when the player is not holding it (and not for HOLD_MS after their last move: a status
// read before their value reached the pedal must not pull the slider back).
const GAP_MS = 50, HOLD_MS = 1500;
const controls = new Map();           // control ("drive", "delay.time_ms") -> {el, show}
const dragging = new Set();           // controls under the player's finger
const heldUntil = new Map();          // control or "block:NAME" -> performance.now() until which it is the player's
let rigTable = null;                  // /api/rig's blocks
const blocks = new Map();             // block name -> {sec, sw, tempo, tap: the control the tap sets}

const hold = key => heldUntil.set(key, performance.now() + HOLD_MS);
const held = key => dragging.has(key) || (heldUntil.get(key) || 0) > performance.now();

function throttled(send) {
  let pending = null, busy = false, timer = null, last = -Infinity;
  async function pump() {
    timer = null;
    if (busy || pending === null) return;
    const wait = last + GAP_MS - performance.now();
    if (wait > 0) { timer = setTimeout(pump, wait); return; }
    const v = pending; pending = null;
    busy = true; last = performance.now();
    try { await send(v); } catch (e) { toast(e.message); }
    finally { busy = false; if (pending !== null && timer === null) pump(); }
  }
  return v => { pending = v; if (timer === null) pump(); };
}

function wireSlider(el, key, show) {
  const send = throttled(v => api("/api/control", { cmd: "set", param: key, value: v }));
  controls.set(key, { el, show });
  const release = () => { dragging.delete(key); hold(key); };
  el.addEventListener("pointerdown", () => { dragging.add(key); hold(key); });
  el.addEventListener("pointerup", release);
  el.addEventListener("pointercancel", release);
  el.addEventListener("input", () => { hold(key); show(Number(el.value)); send(Number(el.value)); });
  el.addEventListener("change", () => { release(); show(Number(el.value)); send(Number(el.value)); });
}

// a value from the pedal: the slider follows unless the player holds it
function follow(key, v) {
  const c = controls.get(key);
  if (!c || typeof v !== "number") return;
  if (!held(key)) { c.el.value = v; c.show(v); }
}

// a parameter's slider step and its text: knobs 0..1 as 0..100 (as drive and level),
// others in their unit with the step's decimals
const stepOf = p => p.unit ? 10 ** Math.floor(Math.log10((p.hi - p.lo) / 200)) : 0.01;
function textOf(p, v) {
  if (!p.unit) return String(Math.round(100 * v));
  const dec = Math.max(0, -Math.floor(Math.log10(stepOf(p))));
  return v.toFixed(dec) + " " + p.unit;
}
const labelOf = p => p.short || p.name.replace(/_(ms|s|db|hz)$/i, "").replace(/_/g, " ");
const bpm = ms => Math.round(60000 / ms) + " BPM";

function make(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

// one section per block, in chain order around the amp's: its on/off, a slider per parameter
// (and the tap tempo where the block takes it), all from the server's table
function buildRig(table) {
  rigTable = table;
  const amp = $("#block-amp");
  for (const b of table) {
    const sec = make("section", "block" + (b.on ? "" : " off"));
    sec.id = "block-" + b.name; sec.dataset.block = b.name; sec.setAttribute("aria-label", b.name);
    const head = make("div", "block-head");
    const h = make("h2", "", b.name);
    const info = make("button", "info", "?");
    info.setAttribute("aria-label", "what the " + b.name + " controls do");
    info.onclick = () => sec.classList.toggle("docs");
    const sw = make("button", "toggle switch", b.on ? "on" : "off");
    sw.setAttribute("role", "switch"); sw.setAttribute("aria-label", b.name + " on/off");
    sw.dataset.block = b.name;
    sw.onclick = attempt(async () => {
      const on = !sec.classList.contains("on");
      hold("block:" + b.name); showOn(b.name, on);
      await api("/api/control", { cmd: "toggle", block: b.name, on });
    });
    head.append(h, info, sw); sec.append(head);
    if (b.name === STOMP) driveSlot(sec, h);
    const entry = { sec, sw, tempo: null, tap: b.tap ? b.name + "." + b.tap : null };
    blocks.set(b.name, entry); showOn(b.name, b.on);
    if (b.tap) {
      const row = make("div", "tap-row");
      const btn = make("button", "tap big", "tap");
      btn.dataset.block = b.name;
      const tempo = make("output", "tempo");
      // on the press, not the release: the tempo is the time between presses
      const tap = attempt(async () => {
        const r = await api("/api/control", { cmd: "tap" });
        if (typeof r.tempo_ms === "number") { heldUntil.delete(entry.tap); follow(entry.tap, r.tempo_ms); hold(entry.tap); }
      });
      btn.addEventListener("pointerdown", tap);
      btn.addEventListener("click", e => { if (e.detail === 0) tap(); });     // Enter / Space
      row.append(btn, tempo); sec.append(row); entry.tempo = tempo;
    }
    for (const p of b.params) {
      const label = make("label", "slider", labelOf(p) + " ");
      label.title = p.doc;
      const out = make("output");
      const input = make("input");
      Object.assign(input, { type: "range", min: p.lo, max: p.hi, step: stepOf(p), value: p.default });
      input.dataset.control = p.control;
      const doc = make("small", "doc", p.doc);
      label.append(out, input, doc); sec.append(label);
      const show = v => {
        out.textContent = textOf(p, v);
        if (p.control === entry.tap) entry.tempo.textContent = bpm(v) + " · " + textOf(p, v);
      };
      wireSlider(input, p.control, show); show(p.default);
    }
    if (b.position === "pre") amp.before(sec); else $("#rig").append(sec);
  }
  if (status.rig) applyRig(status.rig);
}

// --- the drive slot: the `stomp` block's card shows the capture in it and picks another -----
const STOMP = "stomp";
let stompNow = null;                  // status.stomp: {name, file, status} or null
function driveSlot(sec, h) {
  h.textContent = "drive slot"; sec.setAttribute("aria-label", "drive slot (stomp)");
  sec.classList.add("drive-slot");
  const row = make("div", "capture-row");
  const name = make("b", "capture-name", "none"); name.id = "stomp-name";
  const pick = make("button", "pick", "choose…"); pick.id = "stomp-pick";
  pick.setAttribute("aria-expanded", "false");
  const picker = make("div", "picker"); picker.id = "stomp-picker"; picker.hidden = true;
  const search = make("input"); search.id = "stomp-search";
  Object.assign(search, { type: "search", placeholder: "Search the library" });
  search.setAttribute("aria-label", "search the library for the drive slot");
  const list = make("ol", "pick-list"); list.id = "stomp-list";
  picker.append(search, list);
  pick.onclick = () => {
    picker.hidden = !picker.hidden; pick.setAttribute("aria-expanded", String(!picker.hidden));
    if (!picker.hidden) { renderPicker(); search.focus(); }
  };
  search.oninput = renderPicker;
  row.append(make("span", "label", "capture"), name, pick); sec.append(row, picker);
}

const PICKER_MAX = 100;               // a long library: the first matches, the search finds the rest
function renderPicker() {
  const list = $("#stomp-list");
  if (!list || $("#stomp-picker").hidden) return;
  list.textContent = "";
  const choose = (label, name, on) => {
    const li = make("li"); const b = make("button", "play" + (on ? " on" : ""), label);
    b.dataset.stomp = name;
    b.onclick = attempt(async () => {
      const r = await api("/api/control", { cmd: "stomp", name });
      applyStomp(r.stomp ? { ...r.stomp, status: "loading" } : null);
      $("#stomp-picker").hidden = true; $("#stomp-pick").setAttribute("aria-expanded", "false");
    });
    li.append(b); list.append(li);
  };
  choose("none (no capture)", "none", !stompNow);
  const found = lib.models.filter(m => matches(m, $("#stomp-search").value));
  found.slice(0, PICKER_MAX).forEach(m => choose(titleOf(m), m.file, !!stompNow && stompNow.file === m.file));
  if (found.length > PICKER_MAX) list.append(make("li", "hint", (found.length - PICKER_MAX) + " more: search"));
}

function applyStomp(st) {
  stompNow = st || null;
  const el = $("#stomp-name");
  if (!el) return;
  el.textContent = st ? titleOf(st) + (st.status && st.status !== "playing" ? " (" + st.status + ")" : "") : "none";
  el.classList.toggle("empty", !st);
}

function showOn(name, on) {
  const b = blocks.get(name);
  b.sec.classList.toggle("on", on); b.sec.classList.toggle("off", !on);
  b.sw.classList.toggle("on", on); b.sw.textContent = on ? "on" : "off";
  b.sw.setAttribute("aria-checked", String(on));
}

function applyRig(r) {
  for (const [name, values] of Object.entries(r)) {
    if (!blocks.has(name)) continue;
    if (!held("block:" + name)) showOn(name, !!values.on);
    for (const [param, v] of Object.entries(values)) if (param !== "on") follow(name + "." + param, v);
  }
}

// recording what is played: the time counts on here between the pedal's status lines
let recordClock = null;
function applyRecord(r) {
  $("#record").classList.toggle("on", !!r.on);
  $("#record").textContent = r.on ? "■ stop recording" : "● record";
  clearInterval(recordClock); recordClock = null;
  const line = $("#record-state");
  if (r.on) {
    const since = Date.now() - 1000 * (r.seconds || 0);
    const show = () => {
      const t = Math.floor((Date.now() - since) / 1000);
      line.textContent = `recording ${r.name} · ${Math.floor(t / 60)}:${String(t % 60).padStart(2, "0")}`;
    };
    show(); recordClock = setInterval(show, 1000);
  } else if (r.name) {
    line.textContent = r.stopped ? `${r.name}: ${r.stopped}` : `${r.name} saved (${Math.round(r.seconds || 0)} s)`;
    if (applyRecord.last !== r.name && $("#recordings-box").open) loadRecordings().catch(() => {});
    applyRecord.last = r.name;
  } else {
    line.textContent = "";
  }
}

// capturing an amp through the pedal: what its status says the session is doing
const db = v => v === null || v === undefined || v < -120 ? "silence" : v.toFixed(1) + " dBFS";
function applyCapture(c) {
  const ended = ["done", "failed", "aborted"].includes(c.phase);
  const shown = c.on || (ended && applyCapture.mine);
  $("#capture-form").hidden = !!shown;
  $("#capture-run").hidden = !shown;
  if (!shown) return;
  const phase = {
    starting: "starting…",
    "level check": "level check: listening to the amp",
    "level checked": "level: " + (c.level_message || ""),
    waiting: c.level_ok === false ? "level: " + c.level_message : "waiting for you",
    capturing: `take ${c.take || 1}/${c.takes || 1}: ${clock(c.done_s || 0)} of ${clock(c.total_s || 0)}`,
    checking: "checking the take…",
    done: "done: " + (c.folder || ""),
    failed: "not captured: " + (c.error || ""),
    aborted: c.error || "aborted",
  }[c.phase] || c.phase;
  $("#capture-phase").textContent = phase;
  $("#capture-phase").dataset.phase = c.phase;
  const prompt = $("#capture-prompt");
  prompt.hidden = !c.prompt; prompt.textContent = c.prompt ? c.prompt + ": then continue (or stomp)" : "";
  $("#capture-continue").disabled = !c.prompt;
  $("#capture-abort").disabled = !c.on;
  $("#capture-again").hidden = !ended;
  if (ended && applyCapture.lastPhase !== c.phase && $("#captures-box").open) loadCaptures().catch(() => {});
  applyCapture.lastPhase = c.phase;
  if (c.peak_db !== undefined) {
    $("#capture-level").value = c.peak_db === null ? -60 : Math.max(-60, c.peak_db);   // the meter's floor
    $("#capture-levels").textContent = `input peak ${db(c.peak_db)}, RMS ${db(c.rms_db)}`;
  }
  $("#capture-progress").value = c.total_s ? (c.done_s || 0) / c.total_s : 0;
  const ol = $("#capture-lines"); ol.textContent = "";
  for (const line of c.lines || []) {
    const li = document.createElement("li"); li.textContent = line; ol.appendChild(li);
  }
}
async function captureAction(body) {
  const r = await api("/api/control", { cmd: "capture", ...body });
  applyCapture.mine = true;
  applyStatus(r.status); applyCapture(r.capture);
}

// the recordings: newest first, each WAV a download, a delete
const clock = s => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, "0")}`;
async function loadRecordings() {
  const r = await api("/api/recordings");
  const ul = $("#recordings"); ul.textContent = "";
  for (const rec of r.recordings) {
    const li = folderItem(rec.name, [clock(rec.seconds || 0), rec.model, rec.preset && "preset " + rec.preset,
                          rec.stopped || (rec.finished === false && !(status.record || {}).on ? "unfinished" : "")]
      .filter(Boolean).join(" · "));
    for (const f of ["di.wav", "out.wav"]) {
      if (rec.files[f] == null) continue;
      const a = document.createElement("a"); a.className = "button"; a.textContent = f;
      a.href = `/api/recordings/${encodeURIComponent(rec.name)}/${f}`; a.download = `${rec.name}-${f}`;
      li.append(a);
    }
    const del = document.createElement("button"); del.className = "delete"; del.textContent = "delete";
    del.onclick = attempt(async () => {
      if (!confirm("Delete the recording " + rec.name + "?")) return;
      await api("/api/recordings/delete", { name: rec.name });
      loadRecordings();
    });
    li.append(del);
    ul.append(li);
  }
  listEnd(ul, $("#recordings-more"), r.recordings.length, r.total,
          "no recordings yet: ● record (or footswitches 2 and 3 held, MIDI, ctl record)");
}
// one recording's or capture's item: its name, a line about it
function folderItem(name, about) {
  const li = document.createElement("li"); li.className = "recording"; li.dataset.name = name;
  const title = document.createElement("b"); title.textContent = name;
  const info = document.createElement("small"); info.textContent = about;
  li.append(title, info);
  return li;
}
// a list's end: what to do when it is empty, how many more the pedal keeps than it shows
function listEnd(ul, more, shown, total, empty) {
  if (!shown) {
    const li = document.createElement("li"); li.className = "hint"; li.textContent = empty; ul.append(li);
  }
  more.hidden = total <= shown;
  more.textContent = `${total - shown} older ones are on the pedal (ssh or make fetch-captures)`;
}

// the captures: newest first, each take with its knobs and levels, a player, the folder as a zip
async function loadCaptures() {
  const r = await api("/api/captures");
  const ul = $("#captures"); ul.textContent = "";
  for (const cap of r.captures) {
    const li = folderItem(cap.name, cap.error || [clock(cap.seconds || 0),
                                                  cap.takes.length + (cap.takes.length === 1 ? " take" : " takes")]
      .join(" · "));
    for (const t of cap.takes) {
      const row = document.createElement("div"); row.className = "take";
      const knobs = Object.entries(t.knobs || {}).map(([k, v]) => `${k} ${v}`).join(", ");
      const what = document.createElement("small");
      what.textContent = [t.file, knobs, `peak ${db(t.peak_dbfs)}, RMS ${db(t.rms_dbfs)}`].filter(Boolean).join(" · ");
      const player = document.createElement("audio");
      player.controls = true; player.preload = "none";
      player.src = `/api/captures/${encodeURIComponent(cap.name)}/${encodeURIComponent(t.file)}`;
      row.append(what, player); li.append(row);
    }
    const zip = document.createElement("a"); zip.className = "button"; zip.textContent = "zip";
    zip.href = `/api/captures/${encodeURIComponent(cap.name)}.zip`; zip.download = `${cap.name}.zip`;
    const del = document.createElement("button"); del.className = "delete"; del.textContent = "delete";
    del.onclick = attempt(async () => {
      if (!confirm("Delete the capture " + cap.name + "?")) return;
      await api("/api/captures/delete", { name: cap.name });
      loadCaptures();
    });
    li.append(zip, del);
    if (cap.fit) { const fit = document.createElement("code"); fit.textContent = cap.fit; li.append(fit); }
    ul.append(li);
  }
  listEnd(ul, $("#captures-more"), r.captures.length, r.total, "no captures on the pedal yet");
}

// the tuner: the note, its cents, a needle from -50 to +50 cents, and which way to turn
// the peg in words (in tune: a word, a ring and a colour, never the colour alone)
function applyPitch(p) {
  if (!p) return;
  const needle = $("#tuner-needle"), view = $("#tuner-view");
  const state = !p.signal ? "none" : p.in_tune ? "in-tune" : p.cents < 0 ? "flat" : "sharp";
  view.dataset.state = state;
  needle.classList.toggle("in-tune", state === "in-tune");
  $("#tuner-state").textContent = { none: "play a string", "in-tune": "✓ in tune", flat: "♭ flat: tune up",
                                   sharp: "♯ sharp: tune down" }[state];
  if (!p.signal) {
    $("#tuner-note").textContent = "–";
    $("#tuner-cents").textContent = "no signal";
    needle.style.left = "50%";
    return;
  }
  const c = Math.max(-50, Math.min(50, p.cents));
  $("#tuner-note").textContent = p.note + p.octave;
  $("#tuner-cents").textContent = (p.cents > 0 ? "+" : "") + p.cents.toFixed(1) + " cents";
  needle.style.left = (50 + c) + "%";
}

function duration(s) {
  if (s == null) return "–";
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  return (d ? d + " d " : "") + (d || h ? h + " h " : "") + m + " min";
}
function applyHealth(h) {
  $("#h-temp").textContent = h.temperature_c == null ? "not available" : h.temperature_c.toFixed(1) + " °C";
  $("#h-throttle").textContent = h.throttling == null ? "not available (no vcgencmd)"
    : (h.throttling.flags.length ? h.throttling.flags.join(", ") : "none");
  $("#h-uptime").textContent = duration(h.uptime_s);
  $("#h-version").textContent = h.version;
}

// --- presets: the bank in order, the playing one marked, its snapshots; every change a
// pedal command (docs/presets.md), the list from /api/presets and the live stream ---------
let presets = { banks: [], presets: [], errors: [], preset: null, bank: null, snapshot: 0 };
let openPreset = null;                // the preset whose actions are open
const OWN_BANKS = ["all", "setlist"]; // the pedal's own banks: no file, no order of their own
const control = body => api("/api/control", body);

async function refreshPresets() { applyPresets(await api("/api/presets")); }
function applyPresets(d) { presets = { ...presets, ...d }; renderPresets(); }
const say = text => { $("#presets-msg").textContent = text; };
// a change through the pedal, then the listing as the pedal has it now
const presetAction = fn => attempt(async (...a) => {
  say("");
  const r = await fn(...a);
  if (r && "preset" in r) presets = { ...presets, preset: r.preset, bank: r.bank, snapshot: r.snapshot };
  await refreshPresets();
});

function renderPresets() {
  const bank = presets.banks.find(b => b.name === presets.bank) || { name: presets.bank || "setlist", presets: [] };
  const playing = presets.presets.find(p => p.name === presets.preset) || null;
  $("#preset-name").textContent = playing ? playing.name : "no preset";
  $("#preset-where").textContent = playing ? "bank " + bank.name + (presets.snapshot ? " · snapshot " +
    presets.snapshot : "") : "bank " + bank.name + ": the models folder's order";
  $("#preset-save").disabled = !playing;
  const sel = $("#bank"), names = presets.banks.map(b => b.name);
  if ([...sel.options].map(o => o.value).join("\n") !== names.join("\n")) {
    sel.textContent = ""; names.forEach(n => sel.append(new Option("bank: " + n, n)));
  }
  sel.value = bank.name;
  renderSnapshots(playing);
  const orderable = !OWN_BANKS.includes(bank.name);
  const ol = $("#presets"); ol.textContent = "";
  bank.presets.forEach((name, i) => ol.append(presetItem(name, i + 1, bank, orderable ? i : null)));
  const others = presets.presets.map(p => p.name).filter(n => !bank.presets.includes(n));
  const oo = $("#other-presets"); oo.textContent = "";
  others.forEach(name => oo.append(presetItem(name, null, bank, null)));
  $("#others-box").hidden = others.length === 0;
  $("#others-title").textContent = bank.name === "setlist" ? "Presets" : "Not in this bank";
  $("#presets-hint").textContent = bank.name === "setlist"
    ? "setlist: footswitch 1 walks the models in the Models view's order; tap a preset to play it."
    : bank.name === "all" ? "all: every preset by name; a new bank puts them in an order of your own." : "";
  const eu = $("#preset-errors"); eu.textContent = "";
  (presets.errors || []).forEach(e => {
    const li = make("li", "refused", e.file); li.append(make("span", "why", e.error)); eu.append(li);
  });
  $("#preset-errors-box").hidden = !(presets.errors || []).length;
}

function renderSnapshots(playing) {
  const box = $("#snapshots"); box.textContent = "";
  if (!playing) return;
  ["as saved", ...playing.snapshots].forEach((label, n) => {
    const b = make("button", "snapshot toggle" + (n === presets.snapshot ? " on" : ""));
    b.dataset.snapshot = n; b.setAttribute("aria-pressed", String(n === presets.snapshot));
    b.append(make("b", "", n === 0 ? "0" : String(n)), make("small", "", label || "snapshot " + n));
    b.onclick = presetAction(() => control({ cmd: "snapshot", n }));
    box.append(b);
  });
}

// one preset: tap to play it; ⋯ for its actions (up/down where the bank has an order of its own)
function presetItem(name, n, bank, index) {
  const p = presets.presets.find(x => x.name === name) || { name, amp: "", snapshots: [] };
  const li = make("li", "item preset" + (name === presets.preset ? " playing" : "")); li.dataset.name = name;
  if (name === presets.preset) li.setAttribute("aria-current", "true");
  const row = make("div", "row");
  const play = make("button", "play");
  play.append(make("span", "n", n === null ? "" : String(n)));
  const names = make("span", "names"); names.append(make("span", "name", name));
  const about = [p.amp ? stem(p.amp) : "", p.drive_model ? "+ " + stem(p.drive_model) : "",
                 p.snapshots.length ? p.snapshots.length + " snapshot" + (p.snapshots.length > 1 ? "s" : "") : ""];
  names.append(make("span", "inner", about.filter(Boolean).join(" · "))); play.append(names);
  play.onclick = presetAction(() => control({ cmd: "preset", name }));
  const more = make("button", "more", "⋯"); more.setAttribute("aria-label", "actions of " + name);
  more.onclick = () => { openPreset = openPreset === name ? null : name; renderPresets(); };
  row.append(play, more); li.append(row);
  if (openPreset === name) li.append(presetActions(name, bank, index));
  return li;
}

function presetActions(name, bank, index) {
  const acts = make("div", "details actions");
  const btn = (label, act, fn, cls) => {
    const b = make("button", cls || "", label); b.dataset.act = act; b.onclick = presetAction(fn); acts.append(b);
  };
  const order = bank.presets.slice();
  const reorder = step => () => {
    const j = index + step;
    if (j < 0 || j >= order.length) return null;
    [order[index], order[j]] = [order[j], order[index]];
    return control({ cmd: "bank-set", name: bank.name, presets: order });
  };
  if (index !== null) { btn("▲ up", "up", reorder(-1)); btn("▼ down", "down", reorder(+1)); }
  if (index === null && !OWN_BANKS.includes(bank.name)) {
    btn("add to " + bank.name, "add", () => control({ cmd: "bank-set", name: bank.name, presets: [...order, name] }));
  }
  btn("rename", "rename", async () => {
    const to = (prompt("New name for " + name, name) || "").trim();
    if (!to || to === name) return null;
    const r = await control({ cmd: "preset-rename", name, to }); openPreset = to; return r;
  });
  btn("duplicate", "duplicate", async () => {
    const to = (prompt("Name of the copy of " + name, name + " copy") || "").trim();
    if (!to) return null;
    const r = await control({ cmd: "preset-duplicate", name, to }); openPreset = to; return r;
  });
  btn("delete", "delete", async () => {
    if (!confirm("Delete the preset " + name + "? Its file goes, and it leaves every bank.")) return null;
    const r = await control({ cmd: "preset-delete", name }); openPreset = null; return r;
  }, "danger");
  return acts;
}

// --- settings ------------------------------------------------------------------------
async function loadSettings() {
  if (!csrf) return;
  try {
    const s = await api("/api/settings");
    $("#gate").value = s.gate_threshold_db; $("#gate-out").textContent = gateText(s.gate_threshold_db);
    const sel = $("#global-ir"); sel.textContent = "";
    sel.append(new Option("none", ""));
    s.irs.forEach(n => sel.append(new Option(n, n)));
    sel.value = s.global_ir;
    const g = s.input_gain;
    $("#gain").disabled = !g.available;
    $("#gain").value = typeof g.db === "number" ? g.db : "";
    if (g.range) { $("#gain").min = g.range[0]; $("#gain").max = g.range[1]; }
    $("#gain-why").textContent = g.available ? `card ${g.card}, ${g.range[0]}…${g.range[1]} dB` : g.why;
    $("#settings-form").dataset.loaded = "1";
  } catch (e) { toast(e.message); }
}
const gateText = v => Number(v) <= -100 ? "off" : v + " dB";

// --- wiring --------------------------------------------------------------------------
document.addEventListener("DOMContentLoaded", () => {
  $("#login-form").onsubmit = async e => {
    e.preventDefault(); $("#login-error").textContent = "";
    try {
      const r = await api("/api/login", { password: $("#password").value });
      csrf = r.csrf; $("#password").value = ""; start();
    } catch (err) { $("#login-error").textContent = err.message; }
  };
  document.querySelectorAll("#tabs button").forEach(b => { b.onclick = () => show(b.dataset.view); });
  $("#search").oninput = renderModels;
  $("#upload-input").onchange = e => { upload([...e.target.files]); e.target.value = ""; };
  $("#rig-input").onchange = e => { upload([...e.target.files], "rig"); e.target.value = ""; };
  $("#bank").onchange = presetAction(() => control({ cmd: "bank", name: $("#bank").value }));
  $("#preset-save").onclick = presetAction(async () => {
    const r = await control({ cmd: "save" });
    say("saved into " + r.preset + (r.snapshot ? ", snapshot " + r.snapshot : "")); return r;
  });
  $("#preset-save-as").onclick = presetAction(async () => {
    const name = (prompt("Save the sound as a new preset named") || "").trim();
    if (!name) return null;
    const r = await control({ cmd: "preset-save-as", name }); say("saved as " + r.preset); return r;
  });
  $("#bank-new").onclick = presetAction(async () => {
    const name = (prompt("Name of the new bank") || "").trim();
    if (!name) return null;
    const bank = presets.banks.find(b => b.name === presets.bank);
    const names = bank && bank.presets.length ? bank.presets : presets.presets.map(p => p.name);
    if (!names.length) throw new Error("no presets yet: save one first (save as…)");
    await control({ cmd: "bank-set", name, presets: names });
    return control({ cmd: "bank", name });
  });
  $("#next").onclick = attempt(() => api("/api/control", { cmd: "next" }));
  $("#prev").onclick = attempt(() => api("/api/control", { cmd: "prev" }));
  $("#bypass").onclick = attempt(async () => applyStatus((await api("/api/control", { cmd: "bypass" })).status));
  $("#mute").onclick = attempt(async () => applyStatus((await api("/api/control", { cmd: "mute" })).status));
  $("#recordings-box").addEventListener("toggle", () => {
    if ($("#recordings-box").open) attempt(loadRecordings)();
  });
  $("#record").onclick = attempt(async () => {
    const r = await api("/api/control", { cmd: "record" });
    applyStatus(r.status);
    applyRecord(r.record);
  });
  $("#capture-form").onsubmit = attempt(async e => {
    e.preventDefault();
    const takes = $("#capture-takes").value.split("\n").map(t => t.trim()).filter(Boolean);
    await captureAction({ action: "start", takes, dial_max: Number($("#capture-dial").value) || 10 });
  });
  $("#capture-continue").onclick = attempt(() => captureAction({ action: "continue" }));
  $("#capture-abort").onclick = attempt(() => captureAction({ action: "abort" }));
  $("#capture-again").onclick = () => { applyCapture.mine = false; applyCapture({ phase: "idle" }); };
  $("#captures-box").addEventListener("toggle", () => {
    if ($("#captures-box").open) attempt(loadCaptures)();
  });
  $("#tuner").onclick = attempt(async () => {
    const r = await api("/api/control", { cmd: "tuner" });
    applyStatus(r.status);
    applyPitch(r.pitch);
  });
  document.querySelectorAll("input[data-param]").forEach(e => {
    const p = e.dataset.param, out = $("#" + p + "-out");
    const show = v => { out.textContent = Math.round(100 * v); };
    wireSlider(e, p, show); show(Number(e.value));
  });
  $("#gate").oninput = () => { $("#gate-out").textContent = gateText($("#gate").value); };
  $("#settings-form").onsubmit = async e => {
    e.preventDefault();
    const msg = $("#settings-msg"); msg.textContent = ""; msg.className = "";
    const body = { gate_threshold_db: Number($("#gate").value), global_ir: $("#global-ir").value };
    if (!$("#gain").disabled && $("#gain").value !== "") body.input_gain_db = Number($("#gain").value);
    try {
      await api("/api/settings", body);
      msg.textContent = "saved";
    } catch (err) {                  // the pedal's refusal (or the check's), where the player looks
      msg.textContent = "not saved: " + err.message; msg.className = "error";
      $("#settings-form").dataset.loaded = "";
      loadSettings();                // back to what the pedal and its config have (loaded = "1" then)
    }
  };
  $("#password-form").onsubmit = attempt(async e => {
    e.preventDefault();
    await api("/api/password", { current: $("#pw-current").value, new: $("#pw-new").value });
    $("#pw-current").value = $("#pw-new").value = ""; $("#password-msg").textContent = "password changed";
  });
  $("#logout").onclick = attempt(async () => { await api("/api/logout", {}); showLogin(); });
  fetch("/api/session", { credentials: "same-origin" }).then(r => r.json()).then(d => {
    if (d.ok) { csrf = d.csrf; start().catch(e => toast(e.message)); } else showLogin();
  }).catch(showLogin);
});
