// OpenEVSE MicroPython gateway UI: one page, no libraries. Live data comes over /ws.
"use strict";
var S = {}, C = {}, OV = {}, H = [], ws = null, dragging = false, queued = false;
var MASK = "_DUMMY_PASSWORD";
var WORDS = {0: "Starting", 1: "Ready", 2: "Connected", 3: "Charging", 4: "Vent required", 5: "Diode check failed",
  6: "GFCI fault", 7: "No ground", 8: "Stuck relay", 9: "GFCI self-test failed", 10: "Over temperature",
  11: "Over current", 254: "Sleeping", 255: "Disabled"};
function $(id) { return document.getElementById(id); }
function q(sel, el) { return (el || document).querySelectorAll(sel); }

function api(method, path, body, form) {
  var o = {method: method, headers: {}};
  if (body !== undefined) {
    o.body = form ? body : JSON.stringify(body);
    o.headers["Content-Type"] = form ? "application/x-www-form-urlencoded" : "application/json";
  }
  return fetch(path, o).then(function (r) {
    return r.text().then(function (t) {
      var j;
      try { j = JSON.parse(t); } catch (e) { j = {msg: t}; }
      if (!r.ok) { var err = new Error(j.msg || j.error || "HTTP " + r.status); err.j = j; throw err; }
      return j;
    });
  });
}
function enc(o) { return Object.keys(o).map(function (k) { return k + "=" + encodeURIComponent(o[k]); }).join("&"); }
function fmt(v, d) { return (v === undefined || v === null || v === false) ? "–" : (+v).toFixed(d); }
function dur(s) {
  if (!s && s !== 0) return "–";
  var h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60);
  return h ? h + "h " + m + "m" : m + "m " + (s % 60) + "s";
}
function say(el, text, ok) { el.textContent = text; el.className = "msg " + (ok ? "ok" : "bad"); }

// ---------------------------------------------------------------- rendering
function render() { if (!queued) { queued = true; requestAnimationFrame(draw); } }
function draw() {
  queued = false;
  var st = S.state, word = WORDS[st] || "Unknown", cls = "s-err", sub = "";
  if (st === 1) { cls = "s-ready"; sub = "No vehicle connected"; }
  else if (st === 2) { cls = "s-conn"; sub = "Vehicle connected, not charging"; }
  else if (st === 3) { cls = "s-chg"; sub = "Charging at " + fmt(S.amp / 1000, 1) + " A"; }
  else if (st >= 254) { cls = "s-sleep"; sub = S.vehicle ? "Vehicle connected" : "No vehicle"; }
  else if (st === undefined) { word = "Connecting…"; cls = ""; }
  $("stword").textContent = word;
  $("stsub").textContent = sub;
  $("stcard").className = "card state " + cls;
  $("v-pilot").textContent = fmt(S.pilot, 0);
  $("v-amp").textContent = fmt(S.amp / 1000, 1);
  $("v-power").textContent = fmt(S.power / 1000, 2);
  $("v-voltage").textContent = fmt(S.voltage, 0);
  $("v-session").textContent = fmt(S.session_energy / 1000, 2);
  $("v-total").textContent = fmt(S.total_energy, 1);
  $("v-temp").textContent = S.temp === false ? "–" : fmt(S.temp / 10, 1);
  $("v-tempmax").textContent = S.temp_max === false ? "–" : fmt(S.temp_max / 10, 1);
  $("v-elapsed").textContent = dur(S.session_elapsed !== undefined ? S.session_elapsed : S.elapsed);
  $("v-solar").textContent = fmt(S.solar, 0);
  $("v-grid").textContent = fmt(S.grid_ie, 0);
  $("v-rate").textContent = fmt(S.charge_rate, 0);
  $("dvstate").textContent = S.divertmode === 2 ? (S.divert_active ? "eco · active" : "eco · waiting") : "normal";
  var off = S.status === "disabled" || st >= 254, b = $("b-toggle");
  b.textContent = off ? "Start charging" : "Stop charging";
  b.className = "big" + (off ? "" : " stop");
  $("ovr").textContent = S.manual_override ? "Manual override active – Auto returns control to schedule/divert." : "Automatic control";
  q("#mode button").forEach(function (x) { x.className = +x.dataset.m === (S.divertmode || 1) ? "on" : ""; });
  var cur = $("cur"), mn = C.min_current_hard || 6, mx = C.max_current_soft || C.max_current_hard || 32;
  cur.min = mn; cur.max = mx; $("curmin").textContent = mn; $("curmax").textContent = mx;
  if (!dragging) { cur.value = OV.charge_current || S.pilot || mn; $("curv").textContent = cur.value; }
  $("host").textContent = C.hostname || "";
  if (!$("p-system").hidden) sysInfo();
  if (!$("p-wifi").hidden) $("wifist").textContent = "Mode " + (S.mode || "?") + (S.ssid ? " · " + S.ssid : "") + " · IP " + (S.ipaddress || "?") + (S.srssi ? " · " + S.srssi + " dBm" : "");
  chart();
}

function sample() {
  if (S.state === undefined) return;
  H.push([S.power || 0, S.solar || 0, S.grid_ie || 0]);
  if (H.length > 150) H.shift();  // 5 minutes at one sample per 2 s
  render();
}

function chart() {
  var c = $("chart"), r = window.devicePixelRatio || 1, w = c.clientWidth, h = 160;
  if (!w) return;
  if (c.width !== Math.round(w * r)) { c.width = Math.round(w * r); c.height = h * r; }
  var g = c.getContext("2d");
  g.setTransform(r, 0, 0, r, 0, 0);
  g.clearRect(0, 0, w, h);
  var lo = 0, hi = 1000, i, k;
  for (i = 0; i < H.length; i++) for (k = 0; k < 3; k++) { hi = Math.max(hi, H[i][k]); lo = Math.min(lo, H[i][k]); }
  var top = 14, bot = h - 16, y = function (v) { return bot - (v - lo) / (hi - lo) * (bot - top); };
  g.strokeStyle = "#9ca3af"; g.lineWidth = 1; g.beginPath(); g.moveTo(0, y(0)); g.lineTo(w, y(0)); g.stroke();
  g.fillStyle = "#6b7280"; g.font = "11px sans-serif";
  g.fillText((hi / 1000).toFixed(1) + " kW", 4, 11);
  if (lo < 0) g.fillText((lo / 1000).toFixed(1) + " kW", 4, h - 4);
  var col = ["#15803d", "#eab308", "#1d4ed8"], dx = w / 149;
  for (k = 0; k < 3; k++) {
    g.strokeStyle = col[k]; g.lineWidth = 2; g.beginPath();
    for (i = 0; i < H.length; i++) {
      var x = w - (H.length - 1 - i) * dx;
      if (i) g.lineTo(x, y(H[i][k])); else g.moveTo(x, y(H[i][k]));
    }
    g.stroke();
  }
}

function sysInfo() {
  var rows = [["Gateway version", C.version], ["Build", C.buildenv], ["EVSE firmware", C.firmware],
    ["Uptime", dur(S.uptime)], ["Free memory", S.free_heap !== undefined ? Math.round(S.free_heap / 1024) + " KB" : "–"],
    ["Network", (S.mode || "") + " " + (S.ipaddress || "")], ["Serial", C.wifi_serial],
    ["Developer mode", C.developer_mode ? "on" : "off"]];
  var h = "";
  rows.forEach(function (r) { h += "<dt>" + r[0] + "</dt><dd>" + esc(r[1] === undefined ? "–" : r[1]) + "</dd>"; });
  $("sys").innerHTML = h;
}
function esc(s) { return String(s).replace(/[&<>"]/g, function (c) { return "&#" + c.charCodeAt(0) + ";"; }); }

// ---------------------------------------------------------------- live data
function connect() {
  ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
  ws.onopen = function () { $("link").className = "on"; };
  ws.onmessage = function (e) {
    var d = JSON.parse(e.data);
    if (d.pong) return;
    var reCfg = d.config_version !== undefined && S.config_version !== undefined && d.config_version !== S.config_version;
    var reOv = d.override_version !== undefined && d.override_version !== S.override_version;
    Object.assign(S, d);
    if (reCfg) loadConfig();
    if (reOv) loadOverride();
    render();
  };
  ws.onclose = function () { $("link").className = ""; setTimeout(connect, 2000); };
}
setInterval(function () {
  if (ws && ws.readyState === 1) ws.send('{"ping":1}');
  else api("GET", "/status").then(function (d) { Object.assign(S, d); render(); }).catch(function () {});
}, 10000);
setInterval(sample, 2000);

function loadConfig() {
  return api("GET", "/config").then(function (d) { C = d; fill(); render(); });
}
function loadOverride() {
  return api("GET", "/override").then(function (d) { OV = d || {}; render(); }).catch(function () {});
}
function fill() {
  q("form.cfg [data-k]").forEach(function (el) {
    if (el === document.activeElement) return;
    var v = C[el.dataset.k];
    if (el.type === "checkbox") el.checked = !!v; else el.value = v === undefined || v === null ? "" : v;
  });
}

// ---------------------------------------------------------------- controls
function homeErr(e) { $("e-home").textContent = e ? e.message : ""; }
function setOverride(p) {
  var body = {};
  Object.keys(OV).forEach(function (k) { body[k] = OV[k]; });
  Object.keys(p).forEach(function (k) { body[k] = p[k]; });
  return api("POST", "/override", body).then(function () { homeErr(); return loadOverride(); }).catch(homeErr);
}
$("b-toggle").onclick = function () {
  var off = S.status === "disabled" || S.state >= 254;
  setOverride({state: off ? "active" : "disabled"});
};
$("b-auto").onclick = function () { api("DELETE", "/override").then(loadOverride).catch(homeErr); };
$("cur").oninput = function () { dragging = true; $("curv").textContent = this.value; };
$("cur").onchange = function () { dragging = false; OV.charge_current = +this.value; setOverride({charge_current: +this.value}); };
q("#mode button").forEach(function (b) {
  b.onclick = function () {
    var m = +b.dataset.m;
    api("POST", "/divertmode", "divertmode=" + m, true).then(function () { S.divertmode = m; homeErr(); render(); }).catch(homeErr);
  };
});

// ---------------------------------------------------------------- settings forms
q("form.cfg").forEach(function (f) {
  f.onsubmit = function (ev) {
    ev.preventDefault();
    var body = {}, msg = f.querySelector(".msg");
    q("[data-k]", f).forEach(function (el) {
      var k = el.dataset.k, v;
      el.classList.remove("bad");
      var fe = el.parentNode.querySelector(".fe");
      if (fe) fe.remove();
      if (el.type === "checkbox") v = el.checked;
      else if (el.type === "password" && el.value === MASK) return;
      else if (el.dataset.t === "i") v = /^-?\d+$/.test(el.value.trim()) ? parseInt(el.value, 10) : el.value;
      else v = el.value.trim();
      body[k] = v;
    });
    api("POST", "/config", body).then(function (r) {
      say(msg, r.msg === "no change" ? "No changes" : "Saved", true);
      loadConfig();
    }).catch(function (e) {
      var el = e.j && e.j.field && f.querySelector('[data-k="' + e.j.field + '"]');
      if (el) {
        el.classList.add("bad");
        var s = document.createElement("small");
        s.className = "fe"; s.textContent = e.message;
        el.parentNode.appendChild(s);
        el.focus();
      }
      say(msg, "Not saved: " + e.message, false);
    });
  };
});

$("b-scan").onclick = function () {
  var b = this, ul = $("nets");
  b.disabled = true; b.textContent = "Scanning…";
  api("GET", "/scan").then(function (list) {
    ul.innerHTML = "";
    list.forEach(function (n) {
      var li = document.createElement("li");
      li.innerHTML = "<span>" + esc(n.ssid) + (n.secure ? " 🔒" : "") + "</span><span>" + n.rssi + " dBm</span>";
      li.onclick = function () { $("w-ssid").value = n.ssid; $("w-pass").focus(); };
      ul.appendChild(li);
    });
    if (!list.length) ul.innerHTML = "<li>No networks found</li>";
  }).catch(function (e) { ul.innerHTML = "<li>" + esc(e.message) + "</li>"; })
    .then(function () { b.disabled = false; b.textContent = "Scan for networks"; });
};
$("f-wifi").onsubmit = function (ev) {
  ev.preventDefault();
  var msg = this.querySelector(".msg"), ssid = $("w-ssid").value.trim();
  if (!ssid) { say(msg, "Choose a network first", false); return; }
  api("POST", "/savenetwork", enc({ssid: ssid, pass: $("w-pass").value}), true)
    .then(function () { say(msg, "Saved – joining " + ssid + "…", true); })
    .catch(function (e) { say(msg, e.message, false); });
};

function restart(dev) {
  if (!confirm("Restart the " + dev + "?")) return;
  api("POST", "/restart", {device: dev}).then(function (r) { say($("m-sys"), r.msg, true); })
    .catch(function (e) { say($("m-sys"), e.message, false); });
}
$("b-rgw").onclick = function () { restart("gateway"); };
$("b-revse").onclick = function () { restart("evse"); };
$("f-rapi").onsubmit = function (ev) {
  ev.preventDefault();
  var out = $("rapiout"), cmd = $("rapi").value.trim();
  // POST: developer-mode commands are refused over GET; one that switches a safety check
  // off is sent only after the user confirms it here
  function send(sure) {
    api("POST", "/r", enc({json: 1, rapi: cmd, confirm: sure ? 1 : 0}), true)
      .then(function (r) { out.textContent = r.cmd + "\n> " + r.ret; })
      .catch(function (e) {
        if (!sure && e.j && e.j.error === "RAPI_RESPONSE_CONFIRM" &&
            confirm(cmd + " switches off a safety check of the charger. Send it?")) { send(true); return; }
        out.textContent = "Error: " + e.message;
      });
  }
  send(false);
};

// ---------------------------------------------------------------- pages
function route() {
  var p = (location.hash || "#home").slice(1);
  if (!$("p-" + p)) p = "home";
  q("main > section").forEach(function (s) { s.hidden = s.id !== "p-" + p; });
  q("nav a").forEach(function (a) { a.className = a.getAttribute("href") === "#" + p ? "on" : ""; });
  render();
}
window.onhashchange = route;
window.onresize = render;
route();
loadConfig();
loadOverride();
connect();
