"""The house power limit (current shaper) in the web UI, headless Chromium at 390x844 against the
real firmware and the virtual EVSE: the card shows the live house power pushed over the
WebSocket, On/Off reaches the gateway, the settings form saves and reports a bad value."""
import os
import shutil

from harness import wait_for
from test_web_support import ROOT, Browser, Firmware, http

SHOTS = os.environ.get("SCREENSHOT_DIR") or os.path.join(ROOT, "build", "screenshots")


def test_shaper_card_and_settings():
    if not shutil.which("chromium") and not os.path.exists("/usr/bin/chromium"):
        raise RuntimeError("chromium is not installed (make deps)")
    os.makedirs(SHOTS, exist_ok=True)
    fw = Firmware(ev=True, config={"current_shaper_max_pwr": 7200,
                                   "current_shaper_data_maxinterval": 30})
    b = Browser(390, 844)
    try:
        b.goto(fw.base + "/")
        b.wait("document.getElementById('link').className === 'on'")
        b.wait("!document.getElementById('shcard').hidden")  # a limit is set: the card shows
        assert b.text("#shstate") == "· off" and b.text("#v-shmax") == "7200"
        b.click("#shaper button[data-s='1']")
        wait_for(lambda: http("GET", fw.base + "/status")[1]["shaper"] == 1, 10, what="shaper on")
        # no data yet: the card says so and why
        b.wait("document.getElementById('shstate').textContent === '· no data'")
        assert "paused" in b.text("#shnote")
        b.js("window.__marker = 1")
        code, body = http("POST", fw.base + "/status", {"shaper_live_pwr": 2400})
        assert code == 200, body
        b.wait("document.getElementById('v-shlive').textContent === '2400'")
        # (7200 - 2400) / 240 V = 20 A of room (the EV draws nothing yet: paused)
        b.wait("document.getElementById('v-shcur').textContent === '20'")
        assert b.text("#shstate") == "· on"
        assert b.js("window.__marker") == 1  # pushed, no reload
        b.screenshot(os.path.join(SHOTS, "dashboard-shaper.png"))
        b.click("#shaper button[data-s='0']")
        wait_for(lambda: http("GET", fw.base + "/status")[1]["shaper"] == 0, 10, what="shaper off")
        b.wait("document.getElementById('shstate').textContent === '· off'")

        # the settings form (Settings > Services)
        b.js("location.hash = '#services'")
        b.wait("!document.getElementById('p-services').hidden")
        b.wait("document.querySelector('[data-k=current_shaper_max_pwr]').value === '7200'")
        b.js("document.querySelector('[data-k=current_shaper_max_pwr]').value = '99999999'")
        b.js("document.querySelector('#f-shaper button[type=submit]').click()")
        b.wait("document.querySelector('#f-shaper .msg').textContent.indexOf('Not saved') === 0")
        b.js("document.querySelector('[data-k=current_shaper_max_pwr]').value = '9000'")
        b.js("document.querySelector('[data-k=current_shaper_failsafe]').value = 'min'")
        b.js("document.querySelector('#f-shaper button[type=submit]').click()")
        wait_for(lambda: http("GET", fw.base + "/config")[1]["current_shaper_max_pwr"] == 9000, 10,
                 what="limit saved")
        assert http("GET", fw.base + "/config")[1]["current_shaper_failsafe"] == "min"
        b.screenshot(os.path.join(SHOTS, "services-shaper.png"))
        # the page fits the phone's width
        assert b.js("document.documentElement.scrollWidth <= 390")
    finally:
        b.quit()
        fw.stop()
