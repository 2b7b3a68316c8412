// OpenEVSE MicroPython gateway UI: one page, no libraries. Live data comes over /ws.
// Rule: never show a value as live when it is not; always say why the charger does what it does.
"use strict";
var S = {}, C = {}, OV = {}, TG = {}, LIM = {}, H = [], ws = null, dragging = false, queued = false;
var MASK = "_DUMMY_PASSWORD";
// when things were last heard (ms, this browser's clock)
var T = {msg: 0, down: 0, evse: 0, el: 0, up: 0, feed: 0, fault: 0};
var joining = null, testing = {};
// client ids of the claims (C++ gateway evse_man.h): who holds the charger's state
var WHO = {65537: "you", 65538: "solar divert", 65540: "the timer", 65542: "the session limit", 65547: "MQTT", 65543: "an error", 65548: "the house power limit"};
var FAULTS = {
  4: ["Ventilation required", "The car asks for a ventilated charging area, which this charger does not offer.", "Charge in a ventilated place, or check the car's settings."],
  5: ["Diode check failed", "The pilot signal from the car looks wrong (often a damaged cable or plug).", "Unplug, check the plug and cable, and plug in again."],
  6: ["Earth leakage (GFCI) trip", "Current leaked to earth, so the charger switched off for safety.", "The charger retries by itself; if it keeps tripping, have the car and cable checked."],
  7: ["No ground", "The supply has no earth connection.", "Have an electrician check the charger's earth wiring."],
  8: ["Stuck relay", "The charger's relay did not open or close as told.", "Switch the charger off at the breaker and contact your installer."],
  9: ["GFCI self-test failed", "The earth leakage protection did not pass its own test.", "Switch the charger off and on at the breaker; if it stays, contact your installer."],
  10: ["Charger too hot", "The charger stopped because its temperature is too high.", "It resumes when it has cooled down. Give it shade and air."],
  11: ["Over current", "The car drew more current than offered.", "The charger retries by itself; if it repeats, lower the charge current."]
};
function $(id) { return document.getElementById(id); }
function q(sel, el) { return (el || document).querySelectorAll(sel); }
function show(el, on) { el.hidden = !on; }

function api(method, path, body, form) {
  var o = {method: method, headers: {"X-Requested-With": "OpenEVSE"}};
  if (body !== undefined) {
    o.body = form ? body : JSON.stringify(body);
    o.headers["Content-Type"] = form ? "application/x-www-form-urlencoded" : "application/json";
  }
  return fetch(path, o).then(function (r) {
    return r.text().then(function (t) {
      var j;
      try { j = JSON.parse(t); } catch (e) { j = {msg: t}; }
      if (r.status === 401) j.msg = "Login needed: reload the page to log in";
      if (!r.ok) { var err = new Error(j.msg || j.error || "HTTP " + r.status); err.j = j; throw err; }
      return j;
    });
  });
}
function enc(o) { return Object.keys(o).map(function (k) { return k + "=" + encodeURIComponent(o[k]); }).join("&"); }
function num(v) { return typeof v === "number" && isFinite(v); }
function fmt(v, d) { return num(v) ? v.toFixed(d) : "–"; }
function dur(s) {
  if (!num(s) || s < 0) return "–";
  s = Math.floor(s);
  var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  return d ? d + "d " + h + "h" : h ? h + "h " + m + "m" : m + "m " + (s % 60) + "s";
}
function hhmm(t) { var d = new Date(t); return ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2); }
function ago(s) { return s < 90 ? Math.round(s) + " s ago" : s < 5400 ? Math.round(s / 60) + " min ago" : Math.round(s / 3600) + " h ago"; }
function say(el, text, ok) { el.textContent = text; el.className = "msg " + (ok ? "ok" : "bad"); }
function esc(s) { return String(s).replace(/[&<>"]/g, function (c) { return "&#" + c.charCodeAt(0) + ";"; }); }
function now() { return Date.now(); }

// ---------------------------------------------------------------- what is true now
// a ping goes out after 2 s of quiet; no answer within 5 s more and the link is not live
var QUIET = 2000, PONG = 5000;
function live() { return ws && ws.readyState === 1 && T.msg && now() - T.msg < QUIET + PONG; }
function fault(st) { return st >= 4 && st <= 17; }
function feedSet() { return !!(C.mqtt_solar || C.mqtt_grid_ie) || (num(S.divert_update) && S.divert_update >= 0); }
// seconds since the last solar/grid sample (null: never), counted on locally between pushes
function feedAge() { return num(S.divert_update) && S.divert_update >= 0 ? S.divert_update + (now() - T.feed) / 1000 : null; }
function setting() { return OV.charge_current || C.max_current_soft || C.max_current_hard || 32; }
function userPaused() { return OV.state === "disabled"; }

// The state in words: [word, sub line, card class, reason line]
function words() {
  var st = S.state, why = "", who = TG.claims && TG.claims.state;
  if (!live()) return [T.msg ? "Reconnecting…" : "Connecting…", T.down ? "No answer from the gateway since " + hhmm(T.down) : "", "s-off", ""];
  if (S.evse_connected === 0) return ["Charger not responding", "since " + hhmm(T.evse) + ". Check the charger's power and the cable to this gateway.", "s-off", ""];
  if (fault(st)) {
    var f = FAULTS[st] || ["Charger fault (" + st + ")", "The charger reports a fault this gateway does not know.", "Switch the charger off and on at the breaker."];
    var n = {6: S.gfcicount, 7: S.nogndcount, 8: S.stuckcount}[st];
    return [f[0], f[1], "s-err", f[2] + (num(n) ? " Counted " + n + " time" + (n === 1 ? "" : "s") + " so far." : "") +
      " Since " + hhmm(T.fault) + "."];
  }
  if (st === 0 || st === undefined) return ["Starting…", "The charger is starting up", "s-off", ""];
  if (st === 1) return userPaused() ? ["Paused by you", "Tap Resume to allow charging when you plug in", "s-sleep", ""] : ["Ready", "Plug in your car", "s-ready", ""];
  if (st === 2) return ["Car full / not requesting", "The car is connected but is not asking for power", "s-conn", ""];
  if (st === 3) {
    var p = S.pilot, tgt = S.target_current, cls = "s-chg";
    if (num(p) && num(tgt) && p < tgt) {
      cls = "s-warn";
      why = "Reduced to " + p + " A" + (S.temp >= 600 ? ": charger hot (" + fmt(S.temp / 10, 0) + " °C)" : " by the charger (asked for " + tgt + " A)");
    }
    var sub = S.amp >= 500 ? "at " + fmt(S.amp / 1000, 1) + " A" : "the car is starting to draw power";
    if (S.divertmode === 2) {
      // Eco without solar data charges on at its 6 A fallback: that is not "from solar"
      var fa = feedAge();
      if (fa === null || S.divert_stale) {
        cls = "s-warn";
        sub += ", Eco at its minimum: no solar data";
        why = (why ? why + ". " : "") + "No solar data received (" + (fa === null ? "never" : ago(fa)) + "): check Services, Solar feed";
      } else sub += ", from solar (Eco)";
    }
    return ["Charging", sub, cls, why];
  }
  // sleeping or disabled: say who paused it
  if (userPaused() || who === 65537) return ["Paused by you", "Tap Resume to charge", "s-sleep", ""];
  if (S.divertmode === 2 && (who === 65538 || !who)) {
    var a = feedAge();
    if (a === null || S.divert_stale) return ["No solar data", "No solar data received (" + (a === null ? "never" : ago(a)) + "): check Services, Solar feed", "s-warn", ""];
    return ["Waiting for solar", "Charging starts when there is enough surplus (" + fmt(S.solar, 0) + " W solar)", "s-sleep", ""];
  }
  if (who === 65542 || (S.limit && who === undefined)) return ["Limit reached", "The session limit stopped charging", "s-sleep", ""];
  if (who) return ["Paused", "by " + (WHO[who] || "another app (client " + who + ")") + (S.vehicle ? "" : ". No car connected"), "s-sleep", ""];
  return ["Paused", S.vehicle ? "Car connected" : "No car connected", "s-sleep", ""];
}

// ---------------------------------------------------------------- rendering
function render() { if (!queued) { queued = true; requestAnimationFrame(draw); } }
function draw() {
  queued = false;
  var ok = live(), w = words(), st = S.state, t = now();
  $("link").className = ok ? "on" : "";
  $("link").setAttribute("aria-label", ok ? "Live" : "Not live");
  $("linkt").textContent = ok ? "Live" : T.msg ? "Not live" : "Connecting…";
  $("stword").textContent = w[0];
  $("stsub").textContent = w[1];
  $("streason").textContent = w[3];
  show($("streason"), !!w[3]);
  $("stcard").className = "card state " + w[2];
  var off = $("offline");
  show(off, !ok && !!T.msg);
  off.textContent = ok ? "" : "Values below are from " + hhmm(T.msg) + " and may be out of date.";
  $("vals").className = "grid" + (ok && S.evse_connected !== 0 ? "" : " stale");
  var chg = st === 3;
  $("v-pilot").textContent = fmt(S.pilot, 0);
  $("v-amp").textContent = chg ? fmt(S.amp / 1000, 1) : "0.0";
  $("v-power").textContent = chg ? fmt(S.power / 1000, 2) : "0.00";
  $("v-voltage").textContent = fmt(S.voltage, 0);
  var last = !S.vehicle;
  $("l-session").textContent = last ? "Last session" : "This session";
  $("l-elapsed").textContent = last ? "Last session time" : "Charging time";
  $("v-session").textContent = fmt(S.session_energy / 1000, 2);
  // the gateway's energy meter (energy.py) counts the running session into total_energy
  $("v-total").textContent = fmt(S.total_energy, 1);
  $("v-temp").textContent = num(S.temp) ? fmt(S.temp / 10, 1) : "–";
  var el = num(S.session_elapsed) ? S.session_elapsed : S.elapsed;
  $("v-elapsed").textContent = dur(el + (chg && ok ? (t - T.el) / 1000 : 0));
  // controls
  var b = $("b-toggle"), paused = userPaused(), stopped = S.status === "disabled" || st >= 254;
  var canStop = S.vehicle && !fault(st) && ok && S.evse_connected !== 0;
  show(b, paused || canStop);
  b.textContent = paused ? "Resume" : stopped ? "Start charging" : "Stop charging";
  b.className = "big" + (paused || stopped ? "" : " stop");
  show($("b-auto"), !!S.manual_override && !paused);
  $("ovr").textContent = paused ? "Paused by you, tap Resume." : S.manual_override ?
    "Your choice holds " + (OV.auto_release === false ? "until you go back to automatic." : "until the car is unplugged.") :
    S.vehicle ? "Automatic: " + (S.divertmode === 2 ? "solar divert decides." : "charges when the car asks.") : "No car connected.";
  $("keep").checked = OV.auto_release === false;
  q("#mode button").forEach(function (x) {
    var on = +x.dataset.m === (S.divertmode || 1);
    x.className = on ? "on" : ""; x.setAttribute("aria-pressed", on ? "true" : "false");
  });
  $("modesub").textContent = S.divertmode === 2 ? "Eco: charges from surplus solar. Back to Normal when the car is unplugged." : "Normal: charges at your setting.";
  if (document.activeElement !== $("cmode")) $("cmode").value = C.divert_enabled && C.charge_mode === "eco" ? "eco" : "fast";
  var cur = $("cur"), mn = C.min_current_hard || 6, mx = C.max_current_soft || C.max_current_hard || 32;
  cur.min = mn; cur.max = mx; $("curmin").textContent = mn + " A"; $("curmax").textContent = mx + " A";
  if (!dragging) { cur.value = Math.min(setting(), mx); $("curv").textContent = cur.value; }
  // divert: only once a feed is set; a dash where no data exists
  var fs = feedSet(), age = feedAge(), nodata = age === null || S.divert_stale;
  show($("dvcard"), fs);
  var solarFeed = C.mqtt_solar || (!C.mqtt_grid_ie && S.solar);
  $("v-solar").textContent = age !== null && solarFeed ? fmt(S.solar, 0) : "–";
  $("v-grid").textContent = age !== null && !solarFeed ? fmt(S.grid_ie, 0) : "–";
  $("v-rate").textContent = S.divert_active ? fmt(S.charge_rate, 0) : "–";
  $("dvstate").textContent = S.divertmode === 2 ? (nodata ? "· no data" : S.divert_active ? "· active" : "· waiting for solar") : "· off (Normal mode)";
  show($("dvnote"), nodata);
  $("dvnote").textContent = "No solar data received (" + (age === null ? "never" : ago(age)) + "): check Services, Solar feed.";
  shaperDraw();
  $("host").textContent = C.hostname || "";
  var pg = (location.hash || "#home").slice(1);
  if (pg === "system") { sysInfo(); otaInfo(); }
  if (pg === "wifi" || pg === "settings") wifiInfo();
  if (pg === "services" || pg === "settings") svcInfo();
  if (pg === "device") devInfo();
  if (pg === "limits") limInfo();
  if (pg === "home") chart();
  draw13(pg);
}

// ---------------------------------------------------------------- current shaper: begin
// The house power limit card (index.html #shcard): shown once a limit is set or the shaper is
// on; On/Off is POST /shaper (temporary, as the C++ gateway), the settings are form #f-shaper.
function shaperDraw() {
  var on = S.shaper === 1, has = on || C.current_shaper_max_pwr > 0, fresh = on && S.shaper_updated === true;
  show($("shcard"), !!has);
  if (!has) return;
  $("v-shlive").textContent = fresh ? fmt(S.shaper_live_pwr, 0) : "–";
  $("v-shmax").textContent = fmt(S.shaper_max_pwr || C.current_shaper_max_pwr || 0, 0);
  $("v-shcur").textContent = fresh && S.shaper_cur !== 255 ? fmt(S.shaper_cur, 0) : "–";
  $("shstate").textContent = !on ? "· off" : !fresh ? "· no data" : S.shaper_paused ? "· paused: no room for the car" : "· on";
  show($("shnote"), on && !fresh);
  $("shnote").textContent = "No house power received: the charge is " +
    (C.current_shaper_failsafe === "min" ? "held at the minimum" : "paused") + ". Check Services, House power limit.";
  q("#shaper button").forEach(function (x) {
    var b = (x.dataset.s === "1") === on;
    x.className = b ? "on" : ""; x.setAttribute("aria-pressed", b ? "true" : "false");
  });
}
q("#shaper button").forEach(function (x) {
  x.onclick = function () {
    var v = +x.dataset.s;
    api("POST", "/shaper", "shaper=" + v, true).then(function () { S.shaper = v; homeErr(); render(); }).catch(homeErr);
  };
});
// ---------------------------------------------------------------- current shaper: end

function sample() {
  if (!live()) return;
  var a = feedAge() !== null;
  H.push([S.state === 3 ? S.power || 0 : 0, a ? S.solar : null, a ? S.grid_ie : null]);
  if (H.length > 150) H.shift();  // 5 minutes at one sample per 2 s
}

function chart() {
  var c = $("chart"), r = window.devicePixelRatio || 1, w = c.clientWidth, h = 160;
  if (!w) return;
  if (c.width !== Math.round(w * r)) { c.width = Math.round(w * r); c.height = h * r; }
  var g = c.getContext("2d"), dark = matchMedia("(prefers-color-scheme:dark)").matches;
  g.setTransform(r, 0, 0, r, 0, 0);
  g.clearRect(0, 0, w, h);
  var lo = 0, hi = 1000, i, k, v;
  for (i = 0; i < H.length; i++) for (k = 0; k < 3; k++) { v = H[i][k]; if (v !== null) { hi = Math.max(hi, v); lo = Math.min(lo, v); } }
  var top = 14, bot = h - 16, y = function (v) { return bot - (v - lo) / (hi - lo) * (bot - top); };
  g.strokeStyle = "#9ca3af"; g.lineWidth = 1; g.beginPath(); g.moveTo(0, y(0)); g.lineTo(w, y(0)); g.stroke();
  g.fillStyle = dark ? "#d1d5db" : "#374151"; g.font = "12px sans-serif";
  g.fillText((hi / 1000).toFixed(1) + " kW", 4, 12);
  if (lo < 0) g.fillText((lo / 1000).toFixed(1) + " kW", 4, h - 4);
  var col = ["#15803d", "#ca8a04", "#1d4ed8"], dx = w / 149;
  for (k = 0; k < 3; k++) {
    g.strokeStyle = col[k]; g.lineWidth = 2; g.beginPath();
    var pen = false;
    for (i = 0; i < H.length; i++) {
      var x = w - (H.length - 1 - i) * dx;
      if (H[i][k] === null) { pen = false; continue; }
      if (pen) g.lineTo(x, y(H[i][k])); else g.moveTo(x, y(H[i][k]));
      pen = true;
    }
    g.stroke();
  }
}

function dl(id, rows) {
  var h = "";
  rows.forEach(function (r) { h += "<dt>" + r[0] + "</dt><dd>" + esc(r[1] === undefined || r[1] === null || r[1] === "" ? "–" : r[1]) + "</dd>"; });
  if ($(id).innerHTML !== h) $(id).innerHTML = h;
}
function upNow() { return num(S.uptime) ? S.uptime + (now() - T.up) / 1000 : null; }
function sysInfo() {
  var api = String(C.api_version || C.version || "").replace(/^v/, ""), fw = String(C.build || "").replace(/^mpy-/, "");
  dl("sys", [["Firmware", "gateway " + (fw || "?") + " (OpenEVSE API " + (api || "?") + ")"], ["Charger firmware", C.firmware],
    ["Running for", dur(upNow())], ["Network", (S.wifi_ip || S.ipaddress || "") + (S.ssid ? " on " + S.ssid : "")],
    ["Host name", C.hostname ? C.hostname + ".local" : ""]]);
  dl("sysx", [["Build", C.buildenv], ["Serial", C.wifi_serial], ["Radio mode", S.mode],
    ["Free memory", num(S.free_heap) ? Math.round(S.free_heap / 1024) + " KB (lowest " + Math.round((S.heap_min || 0) / 1024) + " KB)" : ""],
    ["Controller link", num(S.comm_sent) ? S.comm_success + " of " + S.comm_sent + " replies" : ""]]);
}
var WIFI = {setup: "Setup: not joined to a network yet", connecting: "Joining", joined: "Joined, getting an address",
  connected: "Connected", lost: "Connection lost, retrying", failed: "Could not join"};
function wifiErr(e) {
  e = e || "";
  return /password|auth/i.test(e) ? "Wrong password" : /not found|no ap/i.test(e) ? "Network not found" : /timeout/i.test(e) ? "No answer from the network (timeout)" : e;
}
function wifiInfo() {
  var st = S.wifi_state, host = (C.hostname || "openevse") + ".local";
  var line = (WIFI[st] || "") + (S.ssid && st !== "setup" ? " " + S.ssid : "") +
    (st === "connected" ? " (" + (S.wifi_ip || S.ipaddress) + (S.srssi ? ", signal " + S.srssi + " dBm" : "") + ")" : "") +
    (S.wifi_error ? ": " + wifiErr(S.wifi_error) : "");
  $("wifist").textContent = line;
  $("s-wifi").textContent = line;
  if (joining) {
    // judged only once this join has begun (the last attempt's error is still in /status)
    var m = $("m-wifi"), j = joining;
    if (st === "connecting" || st === "joined") j.seen = true;
    if (st === "connected" && S.ssid === j.ssid && (j.seen || S.wifi_ip)) {
      say(m, "Connected: open http://" + host + " (" + (S.wifi_ip || S.ipaddress) + ")", true); joining = null;
    } else if (j.seen && (st === "failed" || st === "lost") && S.wifi_error) {
      say(m, "Could not join " + j.ssid + ": " + wifiErr(S.wifi_error), false); joining = null;
    } else say(m, "Saved, joining " + j.ssid + "…", true);
  }
}
// a service's state in words: [text, class]
function mqttChip() {
  if (!C.mqtt_enabled) return ["off", ""];
  if (S.mqtt_connected) return ["connected", "ok"];
  var e = S.mqtt_error || "";
  if (!C.mqtt_server) return ["no host set", "bad"];
  if (/111|ECONNREFUSED|refused/i.test(e)) return ["refused: nothing listens on that port", "bad"];
  if (/rc=[45]/.test(e)) return ["wrong user name or password", "bad"];
  if (/Timeout|110|ETIMEDOUT/i.test(e)) return ["no answer (timeout)", "bad"];
  if (/-2|-3|gaierror|not found|EAI/i.test(e)) return ["host name not found", "bad"];
  return [e ? "not connected: " + e : "connecting…", e ? "bad" : ""];
}
function emonChip() {
  if (!C.emoncms_enabled) return ["off", ""];
  if (S.emoncms_connected) return ["connected", "ok"];
  var m = S.emoncms_message || "";
  if (/401|api ?key/i.test(m)) return ["HTTP 401: wrong API key", "bad"];
  return [m ? m : S.packets_sent ? "not connected" : "waiting to send", m || S.packets_sent ? "bad" : ""];
}
function chip(id, c) { var el = $(id); el.textContent = c[0]; el.className = "chip " + c[1]; }
function svcInfo() {
  var m = mqttChip(), e = emonChip();
  chip("ch-mqtt", m); chip("ch-emon", e);
  $("s-svc").textContent = "MQTT " + m[0] + ", Emoncms " + e[0];
  ["mqtt", "emon"].forEach(function (k) {
    var t = testing[k];
    if (!t) return;
    var c = k === "mqtt" ? m : e, msg = $("f-" + k).querySelector(".msg");
    if (c[1] === "ok") { say(msg, "Test: connected", true); testing[k] = 0; }
    else if (now() - t > 15000 || (c[1] === "bad" && now() - t > 3000)) { say(msg, "Test: " + c[0], false); testing[k] = 0; }
    else say(msg, "Testing…", true);
  });
}
function devInfo() {
  $("maxhw").textContent = "Between " + (C.min_current_hard || 6) + " and " + (C.max_current_hard || "?") + " A (the installation's rating). This is the most any setting, app or solar divert may use.";
  dl("trips", [["Earth leakage (GFCI)", S.gfcicount], ["No ground", S.nogndcount], ["Stuck relay", S.stuckcount]]);
}
var LT = {time: ["Minutes", 1, "min"], energy: ["kWh", 1000, "kWh"], soc: ["Battery %", 1, "%"], range: ["Range", 1, ""]};
function limInfo() {
  var t = $("ltype").value;
  $("lvl").textContent = LT[t][0];
  show($("lsoc"), t === "soc" && !num(S.battery_level));
  var l = LIM, txt = "No limit";
  if (l.type) {
    var v = l.value / LT[l.type][1], left = "";
    if (l.type === "time" && num(S.session_elapsed) && S.vehicle) left = " (" + dur(Math.max(0, l.value * 60 - S.session_elapsed)) + " to go)";
    if (l.type === "energy" && num(S.session_energy) && S.vehicle) left = " (" + fmt(Math.max(0, l.value - S.session_energy) / 1000, 2) + " kWh to go)";
    txt = "Stops at " + v + " " + LT[l.type][2] + (l.type === "time" ? " of this session" : "") + left +
      (l.auto_release === false ? "; kept for later sessions" : "; ends when the car is unplugged");
  }
  $("limnow").textContent = txt;
}

// ---------------------------------------------------------------- live data
var pinger = 0;
function connect() {
  var s = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
  ws = s;
  s.onmessage = function (e) {
    if (s !== ws) return;
    var d = JSON.parse(e.data), t = now();
    T.msg = t; T.down = 0;
    if (d.pong) { render(); return; }
    var reCfg = d.config_version !== undefined && d.config_version !== S.config_version;
    var reOv = d.override_version !== undefined && d.override_version !== S.override_version;
    var reTg = d.claims_version !== undefined && d.claims_version !== S.claims_version;
    var reLim = d.limit_version !== undefined && d.limit_version !== S.limit_version;
    if (d.evse_connected === 0 && S.evse_connected !== 0) T.evse = t;
    if (d.state !== undefined && fault(d.state) && !fault(S.state)) T.fault = t;
    if ("session_elapsed" in d || "elapsed" in d) T.el = t;
    if ("uptime" in d) T.up = t;
    if ("divert_update" in d) T.feed = t;
    ws13(d);
    Object.assign(S, d);
    if (reCfg) loadConfig();
    if (reOv) loadOverride();
    if (reTg) loadTarget();
    if (reLim) loadLimit();
    render();
  };
  s.onclose = function () { if (s === ws) { ws = null; if (!T.down) T.down = now(); render(); setTimeout(connect, 1000); } };
}
// A ping after 2 s of quiet; no answer (nor any other message) within 5 s: the link is not
// live. The socket is then dropped and opened again (a frozen gateway never closes it).
setInterval(function () {
  var t = now();
  if (ws && ws.readyState === 1) {
    if (T.msg && t - T.msg >= QUIET + PONG) {
      if (!T.down) T.down = T.msg;
      var old = ws; ws = null; old.onclose = null; try { old.close(); } catch (e) {}
      setTimeout(connect, 0);
    } else if (t - T.msg >= QUIET && t - pinger >= QUIET) { pinger = t; ws.send('{"ping":1}'); }
  } else if (ws && ws.readyState === 0 && t - (T.msg || t) > QUIET + PONG && t - pinger > 8000) {
    pinger = t;  // a connect that hangs (a frozen gateway): try again
    var o = ws; ws = null; o.onclose = null; try { o.close(); } catch (e) {}
    setTimeout(connect, 0);
  }
  render();
}, 1000);
setInterval(sample, 2000);

function loadConfig() {
  return api("GET", "/config").then(function (d) { C = d; fill(); render(); }).catch(function () {});
}
function loadOverride() {
  return api("GET", "/override").then(function (d) { OV = d || {}; render(); }).catch(function () {});
}
function loadTarget() {
  return api("GET", "/claims/target").then(function (d) { TG = d || {}; render(); }).catch(function () {});
}
function loadLimit() {
  return api("GET", "/limit").then(function (d) { LIM = d || {}; render(); }).catch(function () {});
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
  // the C++ gateway's "auto release": by default the choice ends with the session
  var body = {auto_release: !$("keep").checked};
  Object.keys(OV).forEach(function (k) { body[k] = OV[k]; });
  Object.keys(p).forEach(function (k) { body[k] = p[k]; });
  return api("POST", "/override", body).then(function () { homeErr(); return loadOverride(); }).catch(homeErr);
}
$("b-toggle").onclick = function () {
  if (userPaused()) {
    // Resume: drop the pause; a current the user set stays
    if (OV.charge_current) { var o = {}; Object.keys(OV).forEach(function (k) { if (k !== "state") o[k] = OV[k]; }); OV = o; setOverride({state: "clear"}); }
    else api("DELETE", "/override").then(function () { homeErr(); return loadOverride(); }).catch(homeErr);
    return;
  }
  var off = S.status === "disabled" || S.state >= 254;
  setOverride({state: off ? "active" : "disabled"});
};
$("b-auto").onclick = function () { api("DELETE", "/override").then(loadOverride).catch(homeErr); };
$("keep").onchange = function () { if (S.manual_override) setOverride({}); };
function setCur(v) {
  var c = $("cur");
  v = Math.max(+c.min, Math.min(+c.max, v));
  c.value = v; $("curv").textContent = v; OV.charge_current = v;
  setOverride({charge_current: v});
}
$("cur").oninput = function () { dragging = true; $("curv").textContent = this.value; };
$("cur").onchange = function () { dragging = false; setCur(+this.value); };
$("cur-").onclick = function () { setCur(+$("cur").value - 1); };
$("cur+").onclick = function () { setCur(+$("cur").value + 1); };
q("#mode button").forEach(function (b) {
  b.onclick = function () {
    var m = +b.dataset.m;
    api("POST", "/divertmode", "divertmode=" + m, true).then(function () { S.divertmode = m; homeErr(); render(); }).catch(homeErr);
  };
});
$("cmode").onchange = function () {
  var eco = this.value === "eco";
  api("POST", "/config", eco ? {divert_enabled: true, charge_mode: "eco"} : {charge_mode: "fast"}).then(function () { homeErr(); loadConfig(); }).catch(homeErr);
};

// ---------------------------------------------------------------- limits
$("ltype").onchange = render;
$("f-limit").onsubmit = function (ev) {
  ev.preventDefault();
  var msg = this.querySelector(".msg"), t = $("ltype").value, v = parseFloat($("lval").value.replace(",", "."));
  if (!(v > 0)) { say(msg, "Not set: enter a number above 0 for " + LT[t][0], false); $("lval").focus(); return; }
  say(msg, "Setting…", true);
  api("POST", "/limit", {type: t, value: Math.round(v * LT[t][1]), auto_release: !$("lkeep").checked})
    .then(function () { say(msg, "Limit set", true); loadLimit(); })
    .catch(function (e) { say(msg, "Not set: " + e.message, false); });
};
$("b-lclr").onclick = function () {
  var msg = $("f-limit").querySelector(".msg");
  api("DELETE", "/limit").then(function () { say(msg, "Limit removed", true); loadLimit(); }).catch(function (e) { say(msg, e.message, false); });
};

// ---------------------------------------------------------------- settings forms
// a server message names the key; the page shows the field's own label
function labelOf(el) { var l = el.closest("label"); return l ? l.firstChild.textContent.trim() : el.dataset.k; }
// checked here too, so the mistake is named before anything is sent
var VALID = {
  mqtt_server: [/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$|^$/, "a host name or address only (no mqtt://, no port, no spaces)"],
  emoncms_server: [/^(https?:\/\/)?[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:\d{1,5})?(\/\S*)?$|^$/, "a web address such as https://emoncms.org"],
  hostname: [/^[A-Za-z0-9]([A-Za-z0-9-]{0,30}[A-Za-z0-9])?$/, "letters, digits and hyphens only (up to 32)"],
  ap_pass: [/^$|^.{8,63}$/, "at least 8 characters, or empty for the default"]
};
function fieldErr(el, text) {
  el.classList.add("bad"); el.setAttribute("aria-invalid", "true");
  var s = document.createElement("small");
  s.className = "fe"; s.textContent = text;
  el.parentNode.appendChild(s);
  el.focus();
}
function saveForm(f, then) {
  var body = {}, msg = f.querySelector(".msg"), wrong = null;
  q("[data-k]", f).forEach(function (el) {
    var k = el.dataset.k, v;
    el.classList.remove("bad"); el.removeAttribute("aria-invalid");
    var fe = el.parentNode.querySelector(".fe");
    if (fe) fe.remove();
    if (el.type === "checkbox") v = el.checked;
    else if (el.type === "password" && el.value === MASK) return;
    else if (el.dataset.t === "i") v = /^-?\d+$/.test(el.value.trim()) ? parseInt(el.value, 10) : el.value;
    else v = el.value.trim();
    var chk = VALID[k];
    if (chk && !wrong && el.value !== MASK && !chk[0].test(v)) wrong = [el, labelOf(el) + ": " + chk[1]];
    body[k] = v;
  });
  if (wrong) { fieldErr(wrong[0], wrong[1]); say(msg, "Not saved: " + wrong[1], false); return; }
  say(msg, "Saving…", true);  // an earlier "Saved" must not stand for this request
  api("POST", "/config", body).then(function (r) {
    say(msg, r.msg === "no change" ? "No changes" : "Saved", true);
    loadConfig();
    if (then) then();
  }).catch(function (e) {
    var el = e.j && e.j.field && f.querySelector('[data-k="' + e.j.field + '"]'), text = e.message;
    if (el) {
      text = text.split(e.j.field).join(labelOf(el));
      fieldErr(el, text);
    }
    say(msg, "Not saved: " + text, false);
  });
}
q("form.cfg").forEach(function (f) {
  f.onsubmit = function (ev) {
    ev.preventDefault();
    saveForm(f, f.id === "f-admin" && $("f-admin").querySelector("[data-k=www_username]").value ? function () {
      say(f.querySelector(".msg"), "Saved. Reload the page: your browser will ask for this login.", true);
    } : null);
  };
  var t = f.querySelector(".test");
  if (t) t.onclick = function () { saveForm(f, function () { testing[f.dataset.svc] = now(); render(); }); };
});

$("b-scan").onclick = function () {
  var b = this, ul = $("nets");
  b.disabled = true; b.textContent = "Scanning…";
  api("GET", "/scan").then(function (list) {
    ul.innerHTML = "";
    list.forEach(function (n) {
      var li = document.createElement("li"), bt = document.createElement("button");
      bt.type = "button"; bt.className = "net";
      bt.innerHTML = "<span>" + esc(n.ssid) + (n.secure ? " (locked)" : "") + "</span><span>" + n.rssi + " dBm</span>";
      bt.onclick = function () { $("w-ssid").value = n.ssid; $("w-pass").focus(); };
      li.appendChild(bt); ul.appendChild(li);
    });
    if (!list.length) ul.innerHTML = "<li>No networks found</li>";
  }).catch(function (e) { ul.innerHTML = "<li>" + esc(e.message) + "</li>"; })
    .then(function () { b.disabled = false; b.textContent = "Scan for networks"; });
};
$("f-wifi").onsubmit = function (ev) {
  ev.preventDefault();
  var msg = $("m-wifi"), ssid = $("w-ssid").value.trim();
  if (!ssid) { say(msg, "Choose a network first", false); return; }
  api("POST", "/savenetwork", enc({ssid: ssid, pass: $("w-pass").value}), true)
    .then(function () { joining = {ssid: ssid}; say(msg, "Saved, joining " + ssid + "…", true); })
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
      .then(function (r) { out.textContent = r.cmd + "\n> " + (r.ret || r.error); })
      .catch(function (e) {
        if (!sure && e.j && e.j.error === "RAPI_RESPONSE_CONFIRM" &&
            confirm(cmd + " switches off a safety check of the charger. Send it?")) { send(true); return; }
        out.textContent = "Error: " + e.message;
      });
  }
  send(false);
};

// ================================================================ issue 13 pages
// Schedule, Time, Energy and Event log (firmware: scheduler.py, clock.py, energy.py,
// eventlog.py; docs/features.md). Hooks elsewhere: draw13 (draw), ws13 (live data), enter13 (route).
var DAYS = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"];
var SCH = null, PLAN = null, PLANT = 0, TM = {}, LG = {i: -1}, editing = null, TMT = 0;
T.tm = 0;  // when the clock keys last came
// a sensible list of zones as the C++ gateway stores them ("Location|POSIX rule"); "custom" for the rest
var ZONES = ["UTC|UTC0", "Europe/London|GMT0BST,M3.5.0/1,M10.5.0", "Europe/Lisbon|WET0WEST,M3.5.0/1,M10.5.0",
  "Europe/Paris|CET-1CEST,M3.5.0,M10.5.0/3", "Europe/Berlin|CET-1CEST,M3.5.0,M10.5.0/3", "Europe/Amsterdam|CET-1CEST,M3.5.0,M10.5.0/3",
  "Europe/Madrid|CET-1CEST,M3.5.0,M10.5.0/3", "Europe/Rome|CET-1CEST,M3.5.0,M10.5.0/3", "Europe/Stockholm|CET-1CEST,M3.5.0,M10.5.0/3",
  "Europe/Helsinki|EET-2EEST,M3.5.0/3,M10.5.0/4", "Europe/Athens|EET-2EEST,M3.5.0/3,M10.5.0/4", "Europe/Istanbul|<+03>-3",
  "Europe/Moscow|MSK-3", "Africa/Johannesburg|SAST-2", "Asia/Dubai|<+04>-4", "Asia/Kolkata|IST-5:30", "Asia/Shanghai|CST-8",
  "Asia/Singapore|<+08>-8", "Asia/Tokyo|JST-9", "Australia/Perth|AWST-8", "Australia/Adelaide|ACST-9:30ACDT,M10.1.0,M4.1.0/3",
  "Australia/Brisbane|AEST-10", "Australia/Sydney|AEST-10AEDT,M10.1.0,M4.1.0/3", "Pacific/Auckland|NZST-12NZDT,M9.5.0,M4.1.0/3",
  "Pacific/Honolulu|HST10", "America/Anchorage|AKST9AKDT,M3.2.0,M11.1.0", "America/Los_Angeles|PST8PDT,M3.2.0,M11.1.0",
  "America/Denver|MST7MDT,M3.2.0,M11.1.0", "America/Phoenix|MST7", "America/Chicago|CST6CDT,M3.2.0,M11.1.0",
  "America/New_York|EST5EDT,M3.2.0,M11.1.0", "America/Halifax|AST4ADT,M3.2.0,M11.1.0", "America/Sao_Paulo|<-03>3"];
function cap(s) { return s.charAt(0).toUpperCase() + s.slice(1); }
function hm(secs) { secs = ((secs % 86400) + 86400) % 86400; return ("0" + Math.floor(secs / 3600)).slice(-2) + ":" + ("0" + Math.floor(secs / 60) % 60).slice(-2); }
function dayList(ds) {
  var m = DAYS.map(function (d) { return ds.indexOf(d) >= 0; }), n = m.filter(Boolean).length;
  if (n === 7) return "every day";
  if (n === 5 && !m[0] && !m[6]) return "weekdays";
  if (n === 2 && m[0] && m[6]) return "weekends";
  // Monday first, as a week reads
  return [1, 2, 3, 4, 5, 6, 0].filter(function (i) { return m[i]; }).map(function (i) { return cap(DAYS[i].slice(0, 3)); }).join(" ");
}
// the charger's clock counts from 2000 until something sets it (clock.py: before 2021 = unset)
function clockOk() { return !!S.time && S.time.slice(0, 4) >= "2021"; }
function clockNote(id, what) { show($(id), !!S.time && !clockOk()); $(id).textContent = "The charger's clock is not set, so " + what + " (System, Time)."; }

// ---- schedule
function schedLoad() {
  return Promise.all([api("GET", "/schedule"), api("GET", "/schedule/plan")]).then(function (r) {
    SCH = r[0]; PLAN = r[1]; PLANT = now(); render();
  }).catch(function (e) { $("sc-next").textContent = "Could not load the schedule: " + e.message; });
}
function evWord(e) { return e.state === "active" ? "Start charging" : "Stop charging"; }
function nextWord() {
  var n = PLAN && PLAN.next_event;
  if (!SCH) return "Loading…";
  if (!n) return "No timers: the charger follows its other settings.";
  var left = PLAN.next_event_delay - (now() - PLANT) / 1000, c = PLAN.current_event;
  return "Next: " + evWord(n).toLowerCase() + " " + cap(n.day) + " " + hm(n.start_offset) +
    (n.diff ? " (timer " + hm(n.offset) + ", random start)" : "") + ", in " + dur(Math.max(0, left)) +
    ". In force now: " + evWord(c).toLowerCase() + " (timer of " + cap(c.day) + " " + hm(c.offset) + ").";
}
function schedDraw() {
  clockNote("sc-clock", "timers wait until it is");
  $("sc-next").textContent = clockOk() || !SCH ? nextWord() : "Timers are saved but not running.";
  var h = "";
  (SCH || []).forEach(function (e) {
    var t = e.time.slice(0, 5);
    h += '<li class="ev"><div><b>' + t + "</b> " + evWord(e) + "<small>" + esc(dayList(e.days)) +
      (e.current ? " · " + e.current + " A" : "") + '</small></div><button class="ghost" data-ed="' + e.id +
      '" aria-label="Edit timer ' + t + '">Edit</button><button class="ghost" data-del="' + e.id + '" aria-label="Delete timer ' + t + '">Delete</button></li>';
  });
  if (SCH && !SCH.length) h = "<li>No timers yet</li>";
  if ($("sc-list").innerHTML !== h) $("sc-list").innerHTML = h;
}
// the day buttons, Monday first
[1, 2, 3, 4, 5, 6, 0].forEach(function (i) {
  var b = document.createElement("button");
  b.type = "button"; b.dataset.d = DAYS[i]; b.textContent = cap(DAYS[i].slice(0, 2));
  b.setAttribute("aria-label", cap(DAYS[i])); b.setAttribute("aria-pressed", "false");
  b.onclick = function () { dayOn(b, b.getAttribute("aria-pressed") !== "true"); };
  $("sc-days").appendChild(b);
});
function dayOn(b, on) { b.setAttribute("aria-pressed", on ? "true" : "false"); b.className = on ? "on" : ""; }
function clearErr(f) {
  q(".fe", f).forEach(function (x) { x.remove(); });
  q("[aria-invalid]", f).forEach(function (x) { x.classList.remove("bad"); x.removeAttribute("aria-invalid"); });
}
// an error shown at its field: inside the field's label (or its fieldset)
function errAt(el, text) {
  el.classList.add("bad"); el.setAttribute("aria-invalid", "true");
  var s = document.createElement("small");
  s.className = "fe"; s.textContent = text;
  (el.tagName === "FIELDSET" ? el : el.parentNode).appendChild(s);
  if (el.focus) el.focus();
}
function schedEdit(e) {
  var f = $("f-sched");
  editing = e ? e.id : null;
  clearErr(f); say(f.querySelector(".msg"), "", true);
  $("sc-title").textContent = e ? "Edit timer " + e.time.slice(0, 5) : "New timer";
  $("sc-time").value = e ? e.time.slice(0, 5) : "";
  $("sc-state").value = e ? e.state : "active";
  $("sc-cur").value = e && e.current ? e.current : "";
  q("#sc-days button").forEach(function (b) { dayOn(b, !!e && e.days.indexOf(b.dataset.d) >= 0); });
  $("sc-state").onchange();
  show(f, true);
  $("sc-time").focus();
}
$("sc-state").onchange = function () { show($("sc-curl"), $("sc-state").value === "active"); };
$("sc-add").onclick = function () { schedEdit(null); };
$("sc-cancel").onclick = function () { show($("f-sched"), false); editing = null; };
$("sc-list").onclick = function (ev) {
  var b = ev.target.closest("button");
  if (!b) return;
  var id = +(b.dataset.ed || b.dataset.del), e = (SCH || []).filter(function (x) { return x.id === id; })[0];
  if (!e) return;
  if (b.dataset.ed) { schedEdit(e); return; }
  if (!confirm("Delete the timer at " + e.time.slice(0, 5) + " (" + evWord(e).toLowerCase() + ", " + dayList(e.days) + ")?")) return;
  api("DELETE", "/schedule/" + id).then(function () { say($("m-sc"), "Timer deleted", true); if (editing === id) $("sc-cancel").onclick(); schedLoad(); })
    .catch(function (er) { say($("m-sc"), "Not deleted: " + er.message, false); });
};
// the API's reason names the field first ("time must be HH:MM", "unknown day: x", "current must be ...")
var SCF = {time: "sc-time", state: "sc-state", days: "sc-days", unknown: "sc-days", current: "sc-cur"};
$("f-sched").onsubmit = function (ev) {
  ev.preventDefault();
  var f = this, msg = f.querySelector(".msg"), days = [];
  clearErr(f);
  q("#sc-days button").forEach(function (b) { if (b.getAttribute("aria-pressed") === "true") days.push(b.dataset.d); });
  if (!days.length) { errAt($("sc-days"), "Choose at least one day"); say(msg, "Not saved: choose at least one day", false); return; }
  var body = {state: $("sc-state").value, time: $("sc-time").value, days: days}, c = $("sc-cur").value.trim();
  if (editing !== null) body.id = editing;
  if (c && body.state === "active") body.current = /^\d+$/.test(c) ? +c : c;
  say(msg, "Saving…", true);
  api("POST", editing !== null ? "/schedule/" + editing : "/schedule", body).then(function () {
    show(f, false); editing = null;
    say($("m-sc"), "Timer saved", true);
    schedLoad();
  }).catch(function (e) {
    var el = $(SCF[e.message.split(" ")[0]] || "");
    if (el) errAt(el, cap(e.message));
    say(msg, "Not saved: " + e.message, false);
  });
};

// ---- time
function timeLoad() { return api("GET", "/time").then(function (d) { TM = d; TMT = now(); render(); }).catch(function () {}); }
function zoneFill() {
  var sel = $("tz-sel"), z = C.time_zone || "";
  if (!sel.options.length) {
    ZONES.forEach(function (v) { sel.add(new Option(v.split("|")[0].replace(/_/g, " ").replace("/", ": "), v)); });
    sel.add(new Option("Other (POSIX rule)", "custom"));
  }
  // filled when the saved values change, never over what the user is editing
  var key = [z, C.sntp_enabled, C.sntp_hostname].join("|");
  if (TZD || key === TZK) return;
  TZK = key;
  sel.value = ZONES.indexOf(z) >= 0 ? z : "custom";
  if (sel.value === "custom") $("tz-custom").value = z;
  show($("tz-cl"), sel.value === "custom");
  $("tm-sntp").checked = !!C.sntp_enabled;
  $("tm-host").value = C.sntp_hostname || "";
}
var TZK = null, TZD = false;  // the values last filled in; the user has changed the form
$("f-time").oninput = $("f-time").onchange = function () { TZD = true; };
$("tz-sel").onchange = function () { show($("tz-cl"), this.value === "custom"); if (this.value === "custom") $("tz-custom").focus(); };
// the device's clock now, counted on locally from the last push: [UTC ms, offset s]
function devNow() {
  var t = Date.parse(S.time || ""), o = /^([+-])(\d\d)(\d\d)$/.exec(S.offset || "");
  if (!num(t)) return null;
  return [t + now() - T.tm, o ? (o[1] === "-" ? -1 : 1) * (o[2] * 3600 + o[3] * 60) : 0];
}
function stamp(ms) { return new Date(ms).toISOString().replace("T", " ").slice(0, 19); }
function timeDraw() {
  var d = devNow(), src = {sntp: "from the time server", manual: "set by hand", evse: "from the charger's clock"}[TM.time_source] || "";
  var ok = clockOk(), synced = ok && TM.time_source === "sntp";
  chip("ch-time", !S.time ? ["…", ""] : !ok ? ["not set", "bad"] : synced ? ["synced", "ok"] : [src || "set", ""]);
  var diff = d && ok ? Math.round((d[0] - now()) / 1000) : null;
  dl("tm", [["Local time", d ? stamp(d[0] + d[1] * 1000) + " (UTC" + S.offset + ")" : ""], ["UTC", d ? stamp(d[0]) : ""],
    ["Set", ok ? cap(src || "yes") : "No: the clock counts from 2000 until it is set"],
    ["Time server", C.sntp_enabled ? (C.sntp_hostname || "") + (TM.ntp_last_sync ? ", last sync " + TM.ntp_last_sync.replace("T", " ").replace("Z", " UTC") : ", not synced yet") +
      (TM.ntp_error ? " (" + TM.ntp_error + ")" : "") : "off"],
    ["This browser", new Date().toString().slice(0, 24) + (diff === null ? "" : ", " + (Math.abs(diff) < 2 ? "same time" : dur(Math.abs(diff)) + " " + (diff > 0 ? "ahead" : "behind")))]]);
  $("tm-browser").textContent = C.sntp_enabled ? "Set from this browser (turns the time server off)" : "Set from this browser";
  show($("tm-sync"), !!C.sntp_enabled);
  zoneFill();
}
$("tm-browser").onclick = function () {
  // a manual time would be replaced at the next sync: the firmware takes it only with SNTP off
  var t = new Date().toISOString().slice(0, 19) + "Z";
  api("POST", "/time", {sntp_enabled: false, time: t}).then(function () { say($("m-tmset"), "Time set to " + t.replace("T", " ").replace("Z", " UTC"), true); TZD = false; loadConfig(); timeLoad(); })
    .catch(function (e) { say($("m-tmset"), "Not set: " + e.message, false); });
};
var TMF = {time_zone: "tz-sel", sntp_hostname: "tm-host", sntp_enabled: "tm-sntp"};
$("f-time").onsubmit = function (ev) {
  ev.preventDefault();
  var f = this, msg = f.querySelector(".msg"), z = $("tz-sel").value;
  clearErr(f);
  if (z === "custom") z = $("tz-custom").value.trim();
  say(msg, "Saving…", true);
  api("POST", "/config", {time_zone: z, sntp_enabled: $("tm-sntp").checked, sntp_hostname: $("tm-host").value.trim()}).then(function (r) {
    say(msg, r.msg === "no change" ? "No changes" : "Saved", true); TZD = false; TZK = null; loadConfig(); timeLoad();
  }).catch(function (e) {
    var k = e.j && e.j.field, el = $(k === "time_zone" && $("tz-sel").value === "custom" ? "tz-custom" : TMF[k] || "");
    if (el) errAt(el, e.message);
    say(msg, "Not saved: " + e.message, false);
  });
};
$("tm-sync").onclick = function () {
  var msg = $("f-time").querySelector(".msg");
  api("POST", "/time", {sync_now: true}).then(function () { say(msg, "Asking the time server…", true); setTimeout(timeLoad, 4000); })
    .catch(function (e) { say(msg, e.message, false); });
};

// ---- energy (kWh in /status; session_energy in Wh)
function enDraw() {
  clockNote("en-clock", "today, week, month and year do not roll over until it is");
  $("en").className = "grid" + (live() ? "" : " stale");  // grey, as on Home, when not live
  $("en-sl").textContent = S.vehicle ? "This session" : "Last session";
  $("en-session").textContent = fmt(S.session_energy / 1000, 2);
  ["day", "week", "month", "year"].forEach(function (k) { $("en-" + k).textContent = fmt(S["total_" + k], 2); });
  $("en-total").textContent = fmt(S.total_energy, 2);
  $("en-sw").textContent = num(S.total_switches) ? "Charging sessions started: " + S.total_switches : "";
}
function enReset(hard) {
  var m = $("m-en");
  if (!confirm(hard ? "Reset everything, also the total of " + fmt(S.total_energy, 1) + " kWh? This cannot be undone." :
    "Reset today, week, month and year to 0? The total stays.")) { say(m, "Nothing reset", true); return; }
  api("DELETE", "/emeter", {hard: hard ? 1 : 0, "import": 0}).then(function () { say(m, hard ? "Everything reset" : "Periods reset", true); })
    .catch(function (e) { say(m, "Not reset: " + e.message, false); });
}
$("en-reset").onclick = function () { enReset(false); };
$("en-hard").onclick = function () { enReset(true); };

// ---- event log: /logs {min, max} blocks, newest first
var EVST = {0: "Starting", 1: "Ready (no car)", 2: "Car connected", 3: "Charging", 254: "Sleeping", 255: "Disabled"};
// The last load asked for wins (a click on Older must not be undone by a reload still in
// flight); LG.busy keeps the automatic reload out while a load is under way.
function logLoad(i) {
  var my = LG.seq = (LG.seq || 0) + 1;
  LG.busy = true;
  return api("GET", "/logs").then(function (x) {
    if (my !== LG.seq) return;
    LG.min = x.min; LG.max = x.max;
    if (!num(i) || i > x.max || i < x.min) i = x.max;
    return api("GET", "/logs/" + i).then(function (list) {
      if (my !== LG.seq) return;
      LG.i = i; LG.list = list.reverse(); LG.busy = false; logDraw(); say($("m-lg"), "", true);
    });
  }).catch(function (e) { if (my === LG.seq) { LG.busy = false; say($("m-lg"), "Could not read the log: " + e.message, false); } });
}
function logDraw() {
  var h = "";
  (LG.list || []).forEach(function (e) {
    var st = e.evseState, w = e.message ? cap(e.message) : EVST[st] || (FAULTS[st] ? FAULTS[st][0] : "State " + st);
    var t = Date.parse(e.time), when = num(t) ? new Date(t).toString().slice(0, 24) : e.time;
    h += '<li class="lg ' + e.type + '"><b>' + esc(w) + "</b> <small>" + esc(when) + "</small><span>" + esc(cap(e.type)) +
      (e.message ? " · charger " + String(EVST[st] || "state " + st).toLowerCase() : "") + " · " + (e.managerState === "disabled" ? "paused" : "allowed") +
      " · " + e.pilot + " A · " + fmt(e.energy / 1000, 2) + " kWh" + (e.elapsed ? " · " + dur(e.elapsed) : "") + "</span></li>";
  });
  if (LG.list && !LG.list.length) h = "<li>No events in this block</li>";
  $("lg").innerHTML = h;
  var n = LG.max - LG.min + 1;
  $("lg-page").textContent = num(n) ? "page " + (LG.max - LG.i + 1) + " of " + n : "";
  $("lg-new").disabled = !(LG.i < LG.max);
  $("lg-old").disabled = !(LG.i > LG.min);
}
$("lg-new").onclick = function () { logLoad(LG.i + 1); };
$("lg-old").onclick = function () { logLoad(LG.i - 1); };
$("lg-ref").onclick = function () { logLoad(LG.i); };

// ---- hooks
function pageNow() { return (location.hash || "#home").slice(1); }
function draw13(pg) {
  if (pg === "schedule") schedDraw();
  if (pg === "limits") $("s-sched").textContent = !SCH ? "" : !SCH.length ? "none" : !clockOk() ? "clock not set" : PLAN.next_event ? "next " + cap(PLAN.next_event.day.slice(0, 3)) + " " + hm(PLAN.next_event.start_offset) : "";
  if (pg === "time") timeDraw();
  if (pg === "system") { var d = devNow(); $("s-time").textContent = !S.time ? "" : clockOk() && d ? stamp(d[0] + d[1] * 1000).slice(11, 16) : "not set"; }
  if (pg === "energy") enDraw();
  if (pg === "home") $("s-energy").textContent = num(S.total_day) ? "today " + fmt(S.total_day, 1) + " kWh" : "";
}
function ws13(d) {
  var pg = pageNow();
  if ("time" in d) { T.tm = now(); if (pg === "time") timeLoad(); }
  if ((d.schedule_version !== undefined && d.schedule_version !== S.schedule_version) ||
      (d.schedule_plan_version !== undefined && d.schedule_plan_version !== S.schedule_plan_version)) {
    if (pg === "schedule" || pg === "limits") schedLoad(); else SCH = null;
  }
  // a state change is a new log entry: show it when the newest page is open
  // (judged when the timer fires: the user may have paged older meanwhile)
  if (d.state !== undefined && d.state !== S.state && pg === "logs") setTimeout(function () {
    if (pageNow() === "logs" && !LG.busy && LG.i === LG.max) logLoad();
  }, 300);
}
function enter13(p) {
  if (p === "schedule" || (p === "limits" && !SCH)) schedLoad();
  if (p === "time") { TZD = false; TZK = null; timeLoad(); }
  if (p === "logs") logLoad();
}

// ---------------------------------------------------------------- pages
function route() {
  var p = (location.hash || "#home").slice(1);
  if (!$("p-" + p)) p = "home";
  var up = $("p-" + p).dataset.up || p;
  q("main > section").forEach(function (s) { s.hidden = s.id !== "p-" + p; });
  q("nav a").forEach(function (a) {
    var on = a.getAttribute("href") === "#" + up;
    a.className = on ? "on" : "";
    if (on) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  });
  if (p === "limits") loadLimit();
  enter13(p);
  render();
}
window.onhashchange = route;
window.onresize = render;
route();
loadConfig();
loadOverride();
loadTarget();
loadLimit();
connect();

// ---------------------------------------------------------------- firmware update (OTA)
// POST /update as the C++ gateway's page does (multipart, one file part). The bar shows the
// bytes sent, then the gateway's own write progress (WS ota_progress); the answer is "OK"
// (the gateway restarts) or "Error: <reason>". After the restart /status ota_msg says whether
// the new firmware was kept or rolled back.
var otaBusy = false;
function otaInfo() {
  var p = $("ota-prog"), m = $("m-ota");
  if (S.ota_update && num(S.ota_progress)) { p.hidden = false; p.value = S.ota_progress; }
  if (!otaBusy && S.ota_msg && !m.textContent) say(m, S.ota_msg, S.ota_msg.indexOf("Error") < 0 && S.ota_msg.indexOf("rolled back") < 0);
}
$("f-ota").onsubmit = function (e) {
  e.preventDefault();
  var f = $("ota-file").files[0], m = $("m-ota"), p = $("ota-prog");
  if (!f) { say(m, "Choose a bundle file first", false); return; }
  if (otaBusy) return;
  var fd = new FormData(), x = new XMLHttpRequest();
  fd.append("firmware", f, f.name);
  otaBusy = true; p.hidden = false; p.value = 0;
  say(m, "Uploading " + f.name + "…", true);
  x.open("POST", "/update");
  x.setRequestHeader("X-Requested-With", "OpenEVSE");
  x.upload.onprogress = function (ev) { if (ev.lengthComputable) p.value = Math.round(ev.loaded * 100 / ev.total); };
  x.onload = function () {
    otaBusy = false;
    if (x.status === 200) { p.value = 100; say(m, "Updated: the gateway restarts into the new firmware", true); }
    else say(m, x.status === 401 ? "Login needed: reload the page to log in" : (x.responseText || "HTTP " + x.status), false);
  };
  x.onerror = function () { otaBusy = false; say(m, "Upload failed: the connection dropped", false); };
  x.send(fd);
};
