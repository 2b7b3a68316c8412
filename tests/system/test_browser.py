"""Headless Chromium at a phone viewport (390x844) drives the web UI served by the real
firmware (MicroPython unix port) talking RAPI to the virtual EVSE. One Chromium and one rig
for the whole module; each test leaves the charger as it found it (no car, Normal mode).
Screenshots of every page go to build/screenshots (docs/screenshots with `make screenshots`).

test_item_N checks item N of issue 14 ("a UI that never lies and always says why"): each
fails on the UI before that issue."""
import json
import os
import shutil
import signal
import time

from test_web_support import ROOT, Browser, Firmware, http

SHOTS = os.environ.get("SCREENSHOT_DIR") or os.path.join(ROOT, "build", "screenshots")
os.makedirs(SHOTS, exist_ok=True)
FW = None
B = None
# short divert timings so a solar start takes seconds, not the default minute
CONFIG = {"divert_start_time": 0, "divert_stale_time": 10}
# the radio model's default networks (boards/unix/wlan.py), with a wrong password found out
# in about 2 s instead of 12 (the page's words are under test here, not the driver's timing)
WLAN = {"networks": [
    {"ssid": "HomeNetwork", "rssi": -52, "security": 3, "channel": 6, "password": "correct horse"},
    {"ssid": "Neighbour", "rssi": -80, "security": 3, "channel": 11, "password": "x"},
    {"ssid": "CafeOpen", "rssi": -71, "security": 0, "channel": 1, "password": ""}],
    "wrong_ms": 500, "auth_fail_ms": 300}


def setup_module(module):
    global FW, B
    if not shutil.which("chromium") and not os.path.exists("/usr/bin/chromium"):
        raise RuntimeError("chromium is not installed (make deps)")
    FW = Firmware(ev=False, config=CONFIG, wlan=WLAN)
    B = Browser(390, 844)
    B.goto(FW.base + "/")
    B.wait("document.getElementById('link').className === 'on'")


def teardown_module(module):
    if B is not None:
        B.quit()
    if FW is not None:
        FW.stop()


def wait_for(fn, timeout=15, what="condition"):
    t0 = time.time()
    last = None
    while time.time() - t0 < timeout:
        try:
            last = fn()
        except (OSError, ValueError) as e:
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.2)
    raise AssertionError("timed out waiting for %s (last %r)" % (what, last))


def page(name):
    B.js("location.hash = '#%s'" % name)
    B.wait("!document.getElementById('p-%s').hidden" % name)


def _text_wait(sel, ok, want, timeout):
    t0 = time.time()
    got = None
    while time.time() - t0 < timeout:
        got = B.js("(function(e){return e ? e.textContent : null})(document.querySelector(%s))"
                   % json.dumps(sel))
        if got is not None and ok(got):
            return got
        time.sleep(0.1)
    raise AssertionError("%s: wanted %r, got %r (stsub %r)" % (sel, want, got, B.text("#stsub")))


def text_is(sel, want, timeout=15):
    return _text_wait(sel, lambda t: t == want, want, timeout)


def text_has(sel, part, timeout=15):
    return _text_wait(sel, lambda t: part in t, part, timeout)


def visible(sel):
    return B.js("(function(e){return !!e && !e.hidden && e.offsetParent !== null})(document.querySelector(%s))"
                % json.dumps(sel))


def status():
    return http("GET", FW.base + "/status")[1]


def shot(name):
    B.screenshot(os.path.join(SHOTS, name + ".png"))


def unplug_normal():
    """Back to the starting point: no car, Normal mode, no override, Home page."""
    http("POST", FW.base + "/divertmode", "divertmode=1",
         headers={"Content-Type": "application/x-www-form-urlencoded"})
    http("DELETE", FW.base + "/override")
    FW.plug(False)
    wait_for(lambda: FW.sim_state()["state"] == 1, what="EVSE ready (no car)")
    page("home")
    text_is("#stword", "Ready", 20)


def plug_charging():
    FW.plug(True)
    text_is("#stword", "Charging", 20)


def drawing():
    B.wait("parseFloat(document.getElementById('v-amp').textContent) > 1", timeout=20)


# ---------------------------------------------------------------- Home: words and states
def test_item_8_words_fit_the_state_and_timers_tick():
    text_is("#stword", "Ready")
    assert B.text("#stsub") == "Plug in your car"
    assert B.js("document.querySelector('[id=v-tempmax]')") is None  # "Max temp" dropped
    assert B.text("#l-session") == "Last session"
    shot("dashboard-ready")
    plug_charging()
    text_is("#l-session", "This session")
    B.wait("parseFloat(document.getElementById('v-amp').textContent) > 1", timeout=20)
    # the charging time counts on between pushes (the controller reports it every 10 s)
    a = B.text("#v-elapsed")
    B.wait("document.getElementById('v-elapsed').textContent !== %s" % json.dumps(a), timeout=4)
    # a car that stops asking: "Car full / not requesting", not "Sleeping"
    FW.sim.set_ev(full=True)
    text_is("#stword", "Car full / not requesting", 20)
    FW.sim.set_ev(full=False)
    text_is("#stword", "Charging", 20)
    B.wait("parseFloat(document.getElementById('v-amp').textContent) > 1", timeout=20)
    # the total counts the running session in: the gateway's meter (energy.py) already does,
    # the page adds nothing (test_energy_page_* checks this with a larger session)
    st = status()
    want = "%.1f" % st["total_energy"]
    assert abs(float(B.text("#v-total")) - float(want)) <= 0.1, (B.text("#v-total"), want)
    shot("dashboard-charging")


def test_item_4_override_released_at_unplug_and_stop_hidden_without_car():
    # charging from the previous test: Stop, then "Paused by you" with Resume
    B.click("#b-toggle")
    text_is("#stword", "Paused by you")
    text_is("#b-toggle", "Resume")
    assert "tap Resume" in B.text("#ovr")
    ov = http("GET", FW.base + "/override")[1]
    assert ov.get("auto_release") is True, ov  # released at the end of the session by default
    shot("dashboard-paused")
    FW.plug(False)
    wait_for(lambda: status()["manual_override"] == 0, what="override released at unplug")
    text_is("#stword", "Ready", 20)
    assert not visible("#b-toggle")  # no car: nothing to stop
    FW.plug(True)  # the next session is not dead
    text_is("#stword", "Charging", 20)
    unplug_normal()


def test_item_6_throttling_shown_and_setting_kept_apart():
    plug_charging()
    B.wait("document.getElementById('curv').textContent === '32'")
    FW.sim.set_temps([700, 700, 700])  # 70 C: the controller halves the current
    try:
        text_has("#streason", "Reduced to 16 A: charger hot (70 °C)", 40)
        assert "s-warn" in B.js("document.getElementById('stcard').className")  # not green
        assert B.text("#curv") == "32"  # the user's setting stays; the charger offers 16
        assert B.text("#v-pilot") == "16"
        drawing()
        shot("dashboard-hot")
    finally:
        FW.sim.set_temps([250, 260, -2560])
    B.wait("document.getElementById('streason').hidden", timeout=40)
    unplug_normal()


def test_item_7_faults_explained_with_counters():
    plug_charging()
    FW.sim.force_fault(6)
    try:
        text_is("#stword", "Earth leakage (GFCI) trip", 20)
        assert "leaked to earth" in B.text("#stsub")
        text_has("#streason", "Counted ")
        assert "retries by itself" in B.text("#streason")
        assert not visible("#b-toggle")  # no Stop during a fault
        shot("dashboard-fault")
    finally:
        FW.sim.force_fault(0)
    text_is("#stword", "Charging", 20)
    unplug_normal()


def test_item_3_eco_without_feed_data_says_so():
    plug_charging()
    B.click("#mode button[data-m='2']")
    B.wait("document.querySelector('#mode button[data-m=\"2\"]').getAttribute('aria-pressed') === 'true'")
    # no feed at all: Eco adopts the running charge at its 6 A fallback (issue 11 defect 9);
    # the card must not call that solar, and says why; no divert card
    text_has("#stsub", "Eco at its minimum: no solar data", 30)
    assert B.text("#stword") == "Charging" and "from solar" not in B.text("#stsub")
    text_has("#streason", "No solar data received (never): check Services, Solar feed")
    assert "s-warn" in B.js("document.getElementById('stcard').className")
    assert not visible("#dvcard")
    shot("dashboard-eco-nodata")


def test_item_1_divert_state_pushed_live():
    # Eco from the previous test; a solar feed as a form, as `curl -d solar=7000` posts it
    B.js("window.__marker = 1")
    code, body = http("POST", FW.base + "/status", "solar=7000",
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert code == 200, body
    B.wait("!document.getElementById('dvcard').hidden")
    text_is("#v-solar", "7000")
    assert B.text("#v-grid") == "–"  # no grid feed: a dash, not 0 W
    # divert starts charging; its state reaches the page over the WebSocket alone
    text_is("#dvstate", "· active", 30)
    text_is("#stword", "Charging", 20)
    B.wait("parseInt(document.getElementById('v-rate').textContent) >= 6", timeout=10)
    assert B.js("window.__marker") == 1  # no reload: pushed
    assert "from solar" in B.text("#stsub")
    drawing()
    time.sleep(2)  # a chart sample or two
    shot("dashboard-eco")


def test_item_5_eco_kept_across_gateway_restart_until_unplug():
    assert status()["divertmode"] == 2
    # settings saved from the page survive the same restart (one restart for both checks)
    page("services")
    B.fill("[data-k=mqtt_port]", "1884")
    B.fill("[data-k=mqtt_topic]", "emon/openevse")
    B.fill("[data-k=mqtt_pass]", "emonpimqtt2016")
    B.click("#f-mqtt button[type=submit]")
    text_is("#f-mqtt .msg", "Saved")
    FW.restart()
    B.goto(FW.base + "/#services")
    B.wait("document.getElementById('link').className === 'on'", timeout=20)
    B.wait("document.querySelector('[data-k=mqtt_port]').value === '1884'", timeout=20)
    assert B.js("document.querySelector('[data-k=mqtt_topic]').value") == "emon/openevse"
    assert B.js("document.querySelector('[data-k=mqtt_pass]').value") != "emonpimqtt2016"  # masked
    page("home")
    wait_for(lambda: status()["divertmode"] == 2 and status()["state"] in (3, 254),
             what="Eco after the restart")
    B.wait("document.querySelector('#mode button.on').dataset.m === '2'")
    # the default mode at start is offered (charge_mode)
    assert B.js("[].map.call(document.querySelectorAll('#cmode option'), function(o){return o.value}).join()") == "fast,eco"
    FW.plug(False)
    wait_for(lambda: status()["divertmode"] == 1, what="Normal after unplug")
    B.wait("document.querySelector('#mode button.on').dataset.m === '1'")
    unplug_normal()


def test_item_2_offline_shown_not_live():
    # the controller goes silent: the gateway knows, the page says so
    FW.sim.set_faults(silent=True)
    try:
        text_is("#stword", "Charger not responding", 20)
        assert B.text("#stsub").startswith("since ")
        assert "stale" in B.js("document.getElementById('vals').className")
    finally:
        FW.sim.set_faults(silent=False)
    text_is("#stword", "Ready", 30)
    # the gateway itself freezes: no pong within ~5 s -> not live, grey, "Reconnecting"
    os.kill(FW.fw.pid, signal.SIGSTOP)
    try:
        B.wait("document.getElementById('link').className === ''", timeout=10)
        text_is("#stword", "Reconnecting…", 5)
        assert "No answer from the gateway since" in B.text("#stsub")
        assert B.js("document.getElementById('link').getAttribute('aria-label')") == "Not live"
        assert visible("#offline")
        shot("dashboard-offline")
    finally:
        os.kill(FW.fw.pid, signal.SIGCONT)
    B.wait("document.getElementById('link').className === 'on'", timeout=20)
    text_is("#stword", "Ready", 10)


# ---------------------------------------------------------------- pages
def test_item_12_charge_limits_page():
    page("limits")
    B.js("document.getElementById('ltype').value = 'time'; document.getElementById('ltype').dispatchEvent(new Event('change'))")
    B.fill("#lval", "30")
    B.click("#f-limit button[type=submit]")
    text_is("#f-limit .msg", "Limit set")
    lim = http("GET", FW.base + "/limit")[1]
    assert lim == {"type": "time", "value": 30, "auto_release": True}, lim
    text_has("#limnow", "Stops at 30 min")
    shot("limits")
    B.click("#b-lclr")
    text_is("#limnow", "No limit")
    assert http("GET", FW.base + "/limit")[1] == {}


def test_item_13_network_and_device_page():
    page("settings")
    B.click("a[href='#device']")
    B.wait("!document.getElementById('p-device').hidden")
    B.wait("document.querySelector('[data-k=max_current_soft]').value === '32'")
    assert B.js("document.querySelector('[data-k=hostname]').value").startswith("openevse-")
    text_has("#trips", "Earth leakage (GFCI)")
    B.fill("[data-k=ap_ssid]", "MyCharger")
    B.click("#f-net button[type=submit]")
    text_is("#f-net .msg", "Saved")
    B.fill("[data-k=max_current_soft]", "24")
    B.click("#f-dev button[type=submit]")
    text_is("#f-dev .msg", "Saved", 20)
    cfg = http("GET", FW.base + "/config")[1]
    assert cfg["ap_ssid"] == "MyCharger" and cfg["max_current_soft"] == 24
    shot("device")
    B.fill("[data-k=max_current_soft]", "32")
    B.click("#f-dev button[type=submit]")
    wait_for(lambda: http("GET", FW.base + "/config")[1]["max_current_soft"] == 32, what="32 A again")


def test_item_10_service_status_chips_and_labels():
    page("services")
    B.wait("document.querySelector('[data-k=mqtt_port]').value === '1884'")
    before = http("GET", FW.base + "/config")[1]
    # a URL where a host name belongs: named at the field before anything is sent
    B.fill("[data-k=mqtt_server]", "mqtt://emonpi:1883")
    B.click("#f-mqtt button[type=submit]")
    text_has("#f-mqtt .fe", "Host: a host name or address only")
    # a bad value: the message names the field by its label, nothing is saved
    B.fill("[data-k=mqtt_server]", "127.0.0.1")
    B.fill("[data-k=mqtt_port]", "18x3")
    B.click("#f-mqtt button[type=submit]")
    B.wait("document.querySelector('#f-mqtt .fe') !== null")
    err = B.text("#f-mqtt .fe")
    assert err.startswith("Port ") and "mqtt_port" not in err, err
    assert B.js("document.querySelector('[data-k=mqtt_port]').getAttribute('aria-invalid')") == "true"
    assert "Not saved" in B.text("#f-mqtt .msg")
    cfg = http("GET", FW.base + "/config")[1]
    assert (cfg["mqtt_server"], cfg["mqtt_port"]) == (before["mqtt_server"], before["mqtt_port"])
    shot("services-error")
    # a closed port: "refused", not the same as a working broker
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    closed = s.getsockname()[1]
    s.close()
    B.js("document.querySelector('[data-k=mqtt_enabled]').checked = true")
    B.fill("[data-k=mqtt_port]", str(closed))
    B.click("#f-mqtt .test")
    text_has("#ch-mqtt", "refused", 30)
    text_has("#f-mqtt .msg", "Test: refused", 10)
    shot("services")
    B.js("document.querySelector('[data-k=mqtt_enabled]').checked = false")
    B.click("#f-mqtt button[type=submit]")
    text_is("#ch-mqtt", "off")


def test_item_11_login_warned_and_styled_401():
    page("settings")
    B.click("a[href='#admin']")
    B.wait("!document.getElementById('p-admin').hidden")
    assert "browser asks for this user name and password" in B.text("#f-admin")
    assert "first setup" in B.text("#f-admin")
    shot("admin")
    http("POST", FW.base + "/config", {"www_username": "admin", "www_password": "pw"})
    try:
        # what a browser shows when its login prompt is cancelled
        code, body = http("GET", FW.base + "/")
        assert code == 401 and "Login needed" in body and 'href="/"' in body, (code, body[:200])
        # headless Chromium cancels the prompt without rendering: the page is shown as served
        B.goto("about:blank")
        B.js("document.open(); document.write(%s); document.close()" % json.dumps(body))
        assert B.text("h1") == "Login needed"
        assert B.js("document.querySelector('a').getAttribute('href')") == "/"
        assert not B.js(AUDIT), B.js(AUDIT)  # readable, a 44 px way back
        shot("login-needed")
    finally:
        import base64
        auth = "Basic " + base64.b64encode(b"admin:pw").decode()
        http("POST", FW.base + "/config", {"www_username": "", "www_password": ""},
             headers={"Authorization": auth})
    B.goto(FW.base + "/")
    B.wait("document.getElementById('link').className === 'on'", timeout=20)


def test_item_9_wifi_join_state_and_errors():
    page("wifi")
    B.click("#b-scan")
    B.wait("document.querySelectorAll('#nets button').length > 0", timeout=20)
    B.js("document.querySelector('#nets button').click()")
    assert B.js("document.getElementById('w-ssid').value") == "HomeNetwork"
    B.fill("#w-pass", "wrong one")
    B.click("#f-wifi button[type=submit]")
    text_has("#m-wifi", "Could not join HomeNetwork: Wrong password", 40)
    shot("wifi-wrong")
    B.fill("#w-pass", "correct horse")
    B.click("#f-wifi button[type=submit]")
    text_has("#m-wifi", "Connected: open http://openevse-", 40)
    m = B.text("#m-wifi")
    assert ".local (" in m and status()["wifi_ip"] in m, m
    shot("wifi")


# ---------------------------------------------------------------- controls that drive the EVSE
def test_current_slider_steppers_change_evse():
    page("home")
    plug_charging()
    B.fill("#cur", "10")
    wait_for(lambda: FW.sim_state()["current_a"] == 10, what="pilot 10 A on the virtual EVSE")
    text_is("#v-pilot", "10")
    B.click("#cur\\+")
    wait_for(lambda: FW.sim_state()["current_a"] == 11, what="pilot 11 A after +")
    assert B.text("#curv") == "11"
    B.click("#b-auto")
    wait_for(lambda: FW.sim_state()["current_a"] == 32, what="back to 32 A")
    unplug_normal()


def test_system_page_names_firmware_and_rapi():
    page("system")
    text_has("#sys", "gateway ")
    assert "(OpenEVSE API 5.1.0)" in B.text("#sys")
    B.js("document.querySelector('#p-system details').open = true")
    B.fill("#rapi", "$GV")
    B.click("#f-rapi button[type=submit]")
    text_has("#rapiout", "$OK")
    shot("system")
    page("settings")
    shot("settings")
    assert not B.console, B.console


def test_system_page_firmware_update_says_why_a_bundle_is_refused():
    # a bundle whose image is damaged (its SHA-256 does not match): the page uploads it as the
    # C++ gateway's page does (multipart), shows the progress, and the gateway's reason
    import hashlib
    import struct

    page("system")
    img = b"MPIM" + bytes(8000)
    head = (b"OEVSEOTA" + bytes([1, 0, 0, 0]) + struct.pack("<I", len(img))
            + hashlib.sha256(img + b"x").digest() + b"unix".ljust(16, b"\0"))
    import tempfile

    path = os.path.join(tempfile.mkdtemp(prefix="oevse-ui-"), "damaged.bundle")
    with open(path, "wb") as f:
        f.write(head + img)
    B.click("#f-ota button[type=submit]")
    text_is("#m-ota", "Choose a bundle file first")
    root = B.call("DOM.getDocument")["root"]["nodeId"]
    node = B.call("DOM.querySelector", nodeId=root, selector="#ota-file")["nodeId"]
    B.call("DOM.setFileInputFiles", files=[os.path.abspath(path)], nodeId=node)
    B.click("#f-ota button[type=submit]")
    text_is("#m-ota", "Error: SHA-256 mismatch: the image is damaged")
    assert B.js("document.getElementById('m-ota').className") == "msg bad"
    assert visible("#ota-prog") and B.js("document.getElementById('ota-prog').value") == 100
    shot("system-update")
    assert not B.console, B.console


# ---------------------------------------------------------------- accessibility (item 15)
AUDIT = r"""
(function(){
  function rgb(s){var m=s.match(/[\d.]+/g);return m?m.map(Number):[0,0,0,0];}
  function lum(c){var a=c.slice(0,3).map(function(v){v/=255;return v<=0.03928?v/12.92:Math.pow((v+0.055)/1.055,2.4);});
    return 0.2126*a[0]+0.7152*a[1]+0.0722*a[2];}
  function bg(el){var stack=[];for(var e=el;e;e=e.parentElement){var c=rgb(getComputedStyle(e).backgroundColor);
    if(c.length<4)c[3]=1;if(c[3]>0)stack.push(c);if(c[3]>=1)break;}
    var out=[255,255,255];if(!stack.length||stack[stack.length-1][3]<1)out=rgb(getComputedStyle(document.body).backgroundColor);
    for(var i=stack.length-1;i>=0;i--){var c=stack[i],a=c[3];out=[0,1,2].map(function(k){return c[k]*a+out[k]*(1-a);});}
    return out;}
  var bad=[];
  document.querySelectorAll('body *').forEach(function(el){
    if(el.offsetParent===null&&getComputedStyle(el).position!=='fixed')return;
    var own=[].some.call(el.childNodes,function(n){return n.nodeType===3&&n.textContent.trim();});
    if(own){var cs=getComputedStyle(el);if(cs.visibility==='hidden'||+cs.opacity<1)return;
      var fg=rgb(cs.color),b=bg(el);if(fg.length>3&&fg[3]<1)fg=[0,1,2].map(function(k){return fg[k]*fg[3]+b[k]*(1-fg[3]);});
      var l1=lum(fg),l2=lum(b),r=(Math.max(l1,l2)+0.05)/(Math.min(l1,l2)+0.05);
      if(r<4.5)bad.push('contrast '+r.toFixed(2)+' '+el.tagName+'#'+el.id+'.'+el.className+' "'+el.textContent.trim().slice(0,30)+'"');}
    var tap=el.matches('button,a,select,input:not([type=checkbox]),summary,label.ck');
    if(tap){var r2=el.getBoundingClientRect();if(r2.width&&(r2.height<44||r2.width<44))
      bad.push('target '+Math.round(r2.width)+'x'+Math.round(r2.height)+' '+el.tagName+'#'+el.id+' "'+el.textContent.trim().slice(0,20)+'"');}
  });
  return bad;
})()
"""
PAGES = ("home", "limits", "settings", "wifi", "services", "device", "admin", "system",
         "schedule", "time", "energy", "logs")  # the last four: issue 13


def test_item_15_contrast_and_tap_targets_every_page_light_and_dark():
    page("home")
    plug_charging()
    problems = []
    try:
        for scheme in ("light", "dark"):
            B.call("Emulation.setEmulatedMedia", features=[{"name": "prefers-color-scheme", "value": scheme}])
            for p in PAGES:
                page(p)
                if p == "system":
                    B.js("document.querySelector('#p-system details').open = true")
                time.sleep(0.1)
                problems += ["%s/%s: %s" % (scheme, p, x) for x in B.js(AUDIT)]
            if scheme == "dark":
                page("home")
                shot("dashboard-dark")
    finally:
        B.call("Emulation.setEmulatedMedia", features=[])
    assert not problems, "\n".join(problems)
    # ARIA: pressed state of the mode buttons, a live region for the state, the live dot
    assert B.js("document.getElementById('stcard').getAttribute('aria-live')") == "polite"
    assert B.js("document.querySelector('#mode button.on').getAttribute('aria-pressed')") == "true"
    assert B.js("document.getElementById('link').getAttribute('aria-label')") == "Live"
    assert B.js("document.querySelector('nav a.on').getAttribute('aria-current')") == "page"


def test_item_15_desktop_layout_uses_the_width():
    B.call("Emulation.setDeviceMetricsOverride", width=1280, height=800, deviceScaleFactor=1, mobile=False)
    B.size = (1280, 800)
    try:
        page("home")
        time.sleep(0.3)
        nav_w = B.js("document.querySelector('nav').getBoundingClientRect().width")
        assert nav_w <= 1000, nav_w  # not a 1280 px tab bar
        # Home in two columns: controls beside the state, not below it
        left = B.js("document.getElementById('ctl').getBoundingClientRect().left")
        assert left > 500, left
        main_w = B.js("document.querySelector('main').getBoundingClientRect().width")
        assert main_w > 900, main_w
        drawing()
        shot("desktop")
    finally:
        B.size = (390, 844)
        B.call("Emulation.setDeviceMetricsOverride", width=390, height=844, deviceScaleFactor=1, mobile=True)
    unplug_normal()


def test_item_16_page_small_and_offline():
    path = os.path.join(ROOT, "firmware", "web", "static", "index.html.gz")
    total = sum(os.path.getsize(os.path.join(os.path.dirname(path), n))
                for n in os.listdir(os.path.dirname(path)) if n.endswith(".gz"))
    print("web UI: %d bytes gzipped (budget 30720)" % total)
    assert total <= 30 * 1024
    import gzip
    with gzip.open(path, "rt", encoding="utf-8") as f:
        html = f.read()
    # no external resources: nothing fetched from another origin
    import re
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "@import" not in html and "url(http" not in html



# ================================================================ issue 13 pages
# Schedule, energy, event log and time pages against the firmware's features (docs/features.md),
# on the module's rig. The time test runs last: it moves the clock from the virtual EVSE's RTC
# (2025-01-01) to this browser's time.
def audit_here():
    """The contrast and tap-target audit on the page as it is now, light and dark."""
    problems = []
    try:
        for scheme in ("light", "dark"):
            B.call("Emulation.setEmulatedMedia", features=[{"name": "prefers-color-scheme", "value": scheme}])
            time.sleep(0.1)
            problems += ["%s: %s" % (scheme, x) for x in B.js(AUDIT)]
    finally:
        B.call("Emulation.setEmulatedMedia", features=[])
    assert not problems, "\n".join(problems)


def record_confirms(answer=True):
    B.js("window.__c = []; window.confirm = function (m) { __c.push(m); return %s }" % json.dumps(answer))


def hm(secs):
    secs %= 86400
    return "%02d:%02d" % (secs // 3600, secs // 60 % 60)


def test_schedule_page_add_edit_delete_a_timer():
    page("limits")
    B.click("a[href='#schedule']")
    B.wait("!document.getElementById('p-schedule').hidden")
    text_is("#sc-list", "No timers yet")
    text_is("#sc-next", "No timers: the charger follows its other settings.")
    B.click("#sc-add")
    B.wait("!document.getElementById('f-sched').hidden")
    # no day: refused at the days before anything is sent; no time: the API's reason at the time
    B.click("#f-sched button[type=submit]")
    text_is("#sc-days .fe", "Choose at least one day")
    B.click("#sc-days button[data-d=monday]")
    B.click("#f-sched button[type=submit]")
    text_has("#f-sched label .fe", "Time must be HH:MM")
    assert B.js("document.getElementById('sc-time').getAttribute('aria-invalid')") == "true"
    assert B.js("document.querySelectorAll('#f-sched .fe').length") == 1  # the old error went
    B.fill("#sc-time", "22:00")
    B.click("#sc-days button[data-d=wednesday]")
    # the API refuses 90 A: its reason is shown at the current field, nothing is saved
    B.fill("#sc-cur", "90")
    B.click("#f-sched button[type=submit]")
    text_has("#sc-curl .fe", "Current must be 6..80 A")
    assert B.js("document.getElementById('sc-cur').getAttribute('aria-invalid')") == "true"
    assert "Not saved" in B.text("#f-sched .msg")
    assert http("GET", FW.base + "/schedule")[1] == []
    shot("schedule-error")
    B.fill("#sc-cur", "16")
    B.click("#f-sched button[type=submit]")
    text_is("#m-sc", "Timer saved")
    try:
        evs = http("GET", FW.base + "/schedule")[1]
        assert len(evs) == 1, evs
        ev = evs[0]
        assert (ev["time"], sorted(ev["days"]), ev["state"], ev["current"]) == \
            ("22:00:00", ["monday", "wednesday"], "active", 16), ev
        plan = http("GET", FW.base + "/schedule/plan")[1]
        nxt = plan["next_event"]
        assert nxt["id"] == ev["id"] and nxt["state"] == "active", plan
        # the page names the next planned start, random offset included
        text_has("#sc-next", "Next: start charging %s %s" % (nxt["day"].capitalize(), hm(nxt["start_offset"])))
        text_has("#sc-list", "22:00 Start charging")
        assert "Mon Wed · 16 A" in B.text("#sc-list"), B.text("#sc-list")
        shot("schedule")
        audit_here()
        # edit: the same timer becomes a stop timer (no current)
        B.click("#sc-list button[data-ed='%d']" % ev["id"])
        B.wait("document.getElementById('sc-time').value === '22:00'")
        assert B.js("document.querySelector('#sc-days button[data-d=monday]').getAttribute('aria-pressed')") == "true"
        B.js("var s = document.getElementById('sc-state'); s.value = 'disabled'; s.dispatchEvent(new Event('change', {bubbles: true}))")
        assert not visible("#sc-cur")
        audit_here()  # the form open
        B.click("#f-sched button[type=submit]")
        wait_for(lambda: http("GET", FW.base + "/schedule")[1][0]["state"] == "disabled", what="edited timer")
        ev2 = http("GET", FW.base + "/schedule")[1]
        assert len(ev2) == 1 and ev2[0]["id"] == ev["id"] and "current" not in ev2[0], ev2
        text_has("#sc-list", "22:00 Stop charging")
        text_has("#sc-next", "Next: stop charging")
        # delete, after a confirmation that names the timer
        record_confirms(True)
        B.click("#sc-list button[data-del='%d']" % ev["id"])
        text_is("#m-sc", "Timer deleted")
        assert "22:00" in B.js("window.__c[0]"), B.js("window.__c")
    finally:
        for e in http("GET", FW.base + "/schedule")[1]:
            http("DELETE", FW.base + "/schedule/%d" % e["id"])
    assert http("GET", FW.base + "/schedule")[1] == []
    assert http("GET", FW.base + "/schedule/plan")[1]["next_event"] is False
    text_is("#sc-list", "No timers yet")


def test_energy_page_matches_status_and_reset_after_confirming():
    page("home")
    plug_charging()
    # 0.3 kWh more on the virtual EVSE's session meter (as if charged 3 minutes longer), so
    # the figures show in 2 decimals without a long charge. Home's total is the meter's, which
    # already holds the running session (it was once added twice)
    with FW.sim.lock:
        FW.sim.controller.session_ws_acc += 300 * 3600 * 10 ** 9
    wait_for(lambda: status()["session_energy"] >= 300 and status()["total_day"] >= 0.3, timeout=20,
             what="the session's 0.3 kWh counted")
    wait_for(lambda: B.text("#v-total") == "%.1f" % status()["total_energy"], what="Home's total = /status")
    FW.plug(False)  # stopped: the figures hold still for the comparison
    text_is("#stword", "Ready", 20)
    B.click("a[href='#energy']")
    B.wait("!document.getElementById('p-energy').hidden")

    def same():
        st = status()
        want = {"en-day": "%.2f" % st["total_day"], "en-week": "%.2f" % st["total_week"],
                "en-month": "%.2f" % st["total_month"], "en-year": "%.2f" % st["total_year"],
                "en-total": "%.2f" % st["total_energy"], "en-session": "%.2f" % (st["session_energy"] / 1000)}
        got = {k: B.text("#" + k) for k in want}
        return (got == want and st) or None
    st = wait_for(same, what="the page's energy = /status")
    assert float(B.text("#en-day")) > 0
    assert B.text("#en-sl") == "Last session"
    shot("energy")
    audit_here()
    # cancelled: nothing reset
    record_confirms(False)
    B.click("#en-reset")
    text_is("#m-en", "Nothing reset")
    assert "today, week, month and year" in B.js("window.__c[0]")
    assert status()["total_day"] == st["total_day"]
    # confirmed: the periods are 0 in /status and on the page, the total stays
    record_confirms(True)
    B.click("#en-reset")
    text_is("#m-en", "Periods reset")
    wait_for(lambda: status()["total_day"] == 0 and status()["total_year"] == 0, what="periods reset")
    text_is("#en-day", "0.00")
    text_is("#en-year", "0.00")
    assert status()["total_energy"] == st["total_energy"] > 0
    assert B.text("#en-total") == "%.2f" % st["total_energy"]
    unplug_normal()


def test_event_log_page_shows_a_plug_in_newest_first():
    page("system")
    B.click("a[href='#logs']")
    B.wait("!document.getElementById('p-logs').hidden")
    B.wait("document.querySelectorAll('#lg li.lg').length > 0")
    before = http("GET", FW.base + "/logs")[1]
    FW.plug(True)
    wait_for(lambda: FW.sim_state()["state"] == 3, what="charging")
    # the page reloads its newest block on a state change: the plug-in is at the top
    text_has("#lg li:first-child b", "Charging", 20)
    idx = http("GET", FW.base + "/logs")[1]
    newest = http("GET", FW.base + "/logs/%d" % idx["max"])[1][-1]
    assert newest["evseState"] == 3 and idx["events"] > before["events"], (newest, idx, before)
    top = B.text("#lg li:first-child")
    assert "Information" in top and "%d A" % newest["pilot"] in top and "allowed" in top, top
    shot("logs")
    audit_here()
    # paging through the blocks: older, then back to the newest
    FW.plug(False)
    wait_for(lambda: FW.sim_state()["state"] == 1, what="ready")
    n = 0
    while http("GET", FW.base + "/logs")[1]["max"] == http("GET", FW.base + "/logs")[1]["min"] and n < 20:
        FW.plug(n % 2 == 0)  # more events until there is a second block (run on its own)
        wait_for(lambda: FW.sim_state()["state"] == (3 if n % 2 == 0 else 1), what="state")
        n += 1
    B.js("document.getElementById('lg').innerHTML = ''")  # so the refreshed list is told apart
    B.click("#lg-ref")
    B.wait("document.querySelectorAll('#lg li.lg').length > 0")
    idx = http("GET", FW.base + "/logs")[1]
    text_is("#lg-page", "page 1 of %d" % (idx["max"] - idx["min"] + 1))
    assert B.js("document.getElementById('lg-new').disabled") is True
    first = B.text("#lg li:first-child")
    B.click("#lg-old")
    text_is("#lg-page", "page 2 of %d" % (idx["max"] - idx["min"] + 1))
    older = http("GET", FW.base + "/logs/%d" % (idx["max"] - 1))[1]
    assert B.js("document.querySelectorAll('#lg li.lg').length") == len(older)
    B.click("#lg-new")
    text_is("#lg-page", "page 1 of %d" % (idx["max"] - idx["min"] + 1))
    B.wait("document.querySelector('#lg li:first-child').textContent === %s" % json.dumps(first))
    unplug_normal()


def test_time_page_zone_sntp_and_time_from_this_browser():
    page("system")
    B.click("a[href='#time']")
    B.wait("!document.getElementById('p-time').hidden")
    text_has("#tm", "Local time")
    text_is("#ch-time", "from the charger's clock")  # the virtual EVSE's RTC ($GT at connect)
    assert B.js("document.getElementById('tz-sel').value") == "Europe/London|GMT0BST,M3.5.0/1,M10.5.0"
    assert not visible("#tz-custom")
    # a custom rule the firmware refuses: the reason at the field, nothing changed
    B.js("var s = document.getElementById('tz-sel'); s.value = 'custom'; s.dispatchEvent(new Event('change', {bubbles: true}))")
    assert visible("#tz-custom")
    B.fill("#tz-custom", "not a zone")
    B.js("draw()")  # a redraw (once a second) keeps what the user is editing
    assert visible("#tz-custom") and B.js("document.getElementById('tz-custom').value") == "not a zone"
    B.click("#f-time button[type=submit]")
    text_has("#tz-cl .fe", "time_zone must be a POSIX TZ rule")
    assert "Not saved" in B.text("#f-time .msg")
    assert http("GET", FW.base + "/config")[1]["time_zone"] == "Europe/London|GMT0BST,M3.5.0/1,M10.5.0"
    # a zone from the list: /config and local_time follow (1 January: CET, +0100)
    off0 = status()["offset"]
    B.js("var s = document.getElementById('tz-sel'); s.value = 'Europe/Berlin|CET-1CEST,M3.5.0,M10.5.0/3'; "
         "s.dispatchEvent(new Event('change', {bubbles: true}))")
    B.click("#f-time button[type=submit]")
    text_is("#f-time .msg", "Saved")
    assert http("GET", FW.base + "/config")[1]["time_zone"] == "Europe/Berlin|CET-1CEST,M3.5.0,M10.5.0/3"
    st = wait_for(lambda: status()["offset"] != off0 and status(), what="a new offset")
    assert st["local_time"].endswith(st["offset"]), st
    want = {"+0100": "+0100", "+0200": "+0200"}[st["offset"]]  # winter or summer in Berlin
    text_has("#tm", "(UTC%s)" % want)
    # every zone the page offers is one the firmware takes
    zones = B.js("[].map.call(document.querySelectorAll('#tz-sel option'), function (o) { return o.value })")
    assert len(zones) > 20 and zones[-1] == "custom"
    for z in zones[:-1]:
        code, body = http("POST", FW.base + "/time", {"time_zone": z, "time": "2026-06-01T10:00:00Z",
                                                       "sntp_enabled": True})
        assert code == 200, (z, body)
    http("POST", FW.base + "/config", {"time_zone": "Europe/Berlin|CET-1CEST,M3.5.0,M10.5.0/3"})
    # set from this browser: SNTP off (a sync would undo it), the browser's time taken
    assert "turns the time server off" in B.text("#tm-browser")
    assert visible("#tm-sync")
    B.click("#tm-browser")
    text_has("#m-tmset", "Time set to ")
    t = wait_for(lambda: (lambda d: d["time_source"] == "manual" and d)(http("GET", FW.base + "/time")[1]),
                 what="manual time")
    assert t["sntp_enabled"] is False and t["time_valid"] is True, t
    import calendar
    dev = calendar.timegm(time.strptime(t["time"], "%Y-%m-%dT%H:%M:%SZ"))
    assert abs(dev - time.time()) < 10, (t, time.time())
    text_is("#ch-time", "set by hand")
    B.wait("!document.getElementById('tm-sntp').checked")
    assert not visible("#tm-sync")
    text_is("#tm-browser", "Set from this browser")
    shot("time")
    audit_here()
    # SNTP back on, with a server name: saved in /config
    B.click("#tm-sntp")
    assert B.js("document.getElementById('tm-sntp').checked") is True
    B.fill("#tm-host", "localhost")
    B.click("#f-time button[type=submit]")
    text_is("#f-time .msg", "Saved")
    cfg = http("GET", FW.base + "/config")[1]
    assert cfg["sntp_enabled"] is True and cfg["sntp_hostname"] == "localhost", cfg
    http("POST", FW.base + "/config", {"time_zone": "Europe/London|GMT0BST,M3.5.0/1,M10.5.0",
                                       "sntp_hostname": "pool.ntp.org"})
    assert not B.console, B.console
