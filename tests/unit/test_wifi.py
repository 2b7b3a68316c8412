# The radio model (boards/unix/wlan.py, the ESP32 driver's behaviour) and the WiFi manager
# (net/wifi.py + net/wifi_ops.py) on it, with a test clock: no real time passes, a scan
# "blocks" by moving the clock. Runs under CPython and MicroPython.
import asyncio

import wlan
from config import Config
from events import Bus
from net.wifi import WifiManager

HOME = {"ssid": "HomeNetwork", "rssi": -52, "security": 3, "channel": 6, "password": "correct horse"}


class Clock:
    def __init__(self):
        self.t = 100000

    def __call__(self):
        return self.t

    def sleep(self, ms):
        self.t += ms


def _radio(nets=None, **world):
    c = Clock()
    wlan.clock = c
    wlan.sleep = c.sleep
    world["networks"] = nets if nets is not None else [dict(HOME)]
    wlan.reset(world)
    return c


def _done():
    wlan.clock = None
    wlan.sleep = None
    wlan.reset()


def _world():
    return wlan.driver().world


def _err(fn, *a):
    try:
        fn(*a)
    except OSError as e:
        return str(e)
    return None


class _Board:
    ap_ip = "127.0.4.1"
    dns_port = 0
    wifi_ms = {}

    def wlan(self):
        return wlan.get()

    def hostname(self, name):
        wlan.hostname(name)

    def unique_id(self):
        return b"\xa1\xb2\xc3\xd4\xe5\xf6"


class _Gw:
    def __init__(self, settings=None):
        self.board = _Board()
        self.config = Config(None, defaults={"hostname": "openevse-e5f6"})
        if settings:
            self.config.update(settings)
        self.bus = Bus()
        self.serial = "A1B2C3D4E5F6"


def _manager(settings=None):
    gw = _Gw(settings)
    m = WifiManager(gw)
    return gw, m


def _run(m, c, ms, until=None):
    """Poll passes every 500 ms for up to ms; stop early once until(m) holds."""
    end = c.t + ms
    while c.t < end:
        c.t += 500
        m.step(c.t)
        if until is not None and until(m):
            return True
    return until is None


# ---------------------------------------------------------------- the radio model
def test_radio_connect_while_connecting_raises_and_driver_retries_for_ever():
    c = _radio()
    try:
        sta, ap = wlan.get()
        assert _err(sta.connect, "x", "y") == "Wifi Not Started"
        sta.active(True)
        sta.connect("NoSuchNetwork", "pw")
        assert sta.status() == wlan.STAT_CONNECTING
        assert _err(sta.connect, "NoSuchNetwork", "pw") == "Wifi Internal Error"
        c.t += 2000
        assert sta.status() == 201  # no AP found, and the driver keeps trying
        n = wlan.driver().counts["attempts"]
        c.t += 20000
        assert sta.status() == 201 and wlan.driver().counts["attempts"] > n + 5
        assert _err(sta.connect, "HomeNetwork", "correct horse") == "Wifi Internal Error"
        # ... but the new credentials were stored first: the driver's next retry uses them
        c.t += 5000
        assert sta.isconnected() and sta.status() == 1010
        sta.disconnect()
        assert sta.status() == 1000 and not sta.isconnected()
        n = wlan.driver().counts["attempts"]
        c.t += 20000
        assert wlan.driver().counts["attempts"] == n  # no more retries after disconnect()
        sta.connect("HomeNetwork", "correct horse")  # fine after disconnect()
    finally:
        _done()


def test_radio_wrong_password_reads_connecting_then_sometimes_202():
    c = _radio()
    try:
        sta, _ = wlan.get()
        sta.active(True)
        sta.connect("HomeNetwork", "wrong")
        seen = []
        for _ in range(40):
            c.t += 500
            seen.append(sta.status())
        assert seen[0] == 1001 and 202 in seen
        i = seen.index(202)
        assert i > 10 and set(seen[:i]) == {1001}  # reason 15 (handshake timeout): "connecting"
        assert 1001 in seen[i:]  # the driver goes on retrying: the next reason 15 hides it again
        assert 203 not in seen and 204 not in seen and 1010 not in seen
        _world()["networks"][0]["wrong"] = [202]
        sta.disconnect()
        sta.connect("HomeNetwork", "wrong")
        c.t += 2500
        assert sta.status() == 202
        sta.disconnect()
        sta.connect("HomeNetwork", "")  # a WPA2 network without a password
        c.t += 2000
        assert sta.status() == 210
    finally:
        _done()


def test_radio_scan_blocks_and_is_empty_while_connecting():
    c = _radio([dict(HOME)], extra=30)
    try:
        sta, ap = wlan.get()
        assert _err(sta.scan) == "STA must be active"
        sta.active(True)
        t0 = c.t
        nets = sta.scan()
        assert c.t - t0 >= 1500  # the process was blocked for the scan
        assert len(nets) == 31 and nets[0][0] == b"HomeNetwork" and len(nets[0]) == 6
        sta.connect("HomeNetwork", "wrong")
        t0 = c.t
        assert sta.scan() == [] and c.t == t0  # refused at once, no error
        assert wlan.driver().counts["empty_scans"] == 1
    finally:
        _done()


def test_radio_outage_and_return_reconnects_by_itself():
    c = _radio()
    try:
        sta, _ = wlan.get()
        sta.active(True)
        sta.connect("HomeNetwork", "correct horse")
        c.t += 2000
        assert sta.isconnected() and sta.ifconfig()[0] == "127.0.0.1"
        _world()["networks"][0]["up"] = False
        sta.isconnected()
        c.t += 1000
        assert sta.isconnected()  # beacons missed, not yet timed out
        c.t += 3000
        assert not sta.isconnected() and sta.status() == 1001  # beacon timeout: reconnecting
        c.t += 3000
        assert sta.status() == 201
        _world()["networks"][0]["up"] = True
        c.t += 4000
        assert sta.isconnected()  # the driver's own retry, nobody called connect()
        assert _err(sta.status, "stations") == "AP required"
    finally:
        _done()


def test_radio_ap_isconnected_means_a_station_is_associated():
    _radio(stations=1)
    try:
        sta, ap = wlan.get()
        assert not ap.active() and not ap.isconnected()
        ap.active(True)
        ap.config(essid="OpenEVSE_e5f6", password="openevse", authmode=3)
        assert ap.active() and ap.isconnected() and len(ap.status("stations")) == 1
        _world()["stations"] = 0
        assert ap.active() and not ap.isconnected()
        assert _err(ap.status, "rssi") == "STA required"
        assert ap.config("essid") == "OpenEVSE_e5f6"
        try:
            sta.config(essid="x")
            raise AssertionError("essid is an AP setting")
        except OSError as e:
            assert str(e) == "AP required"
    finally:
        _done()


def test_radio_hostname_reaches_dhcp_and_mdns_only_if_set_before():
    c = _radio()
    try:
        sta, _ = wlan.get()
        sta.active(True)
        sta.connect("HomeNetwork", "correct horse")
        c.t += 2000
        wlan.hostname("openevse-late")
        assert wlan.driver().mdns_hostname == "mpy-esp32"  # taken at the first GOT_IP
        wlan.reset(_world())
        wlan.hostname("openevse-e5f6")
        sta, _ = wlan.get()
        sta.active(True)
        sta.connect("HomeNetwork", "correct horse")
        c.t += 2000
        assert sta.isconnected()
        d = wlan.driver()
        assert d.netif_hostname == "openevse-e5f6" and d.mdns_hostname == "openevse-e5f6"
    finally:
        _done()


# ---------------------------------------------------------------- the manager
def test_first_setup_wrong_then_right_password_then_handover():
    c = _radio(stations=1)
    try:
        gw, m = _manager()
        sta, ap = wlan.get()
        m.step(c.t)
        assert m.state == "setup" and ap.active() and m.mode == "AP" and m.setup_open()
        assert wlan.hostname() == "openevse-e5f6"
        nets = asyncio.run(m.scan(c.t))
        assert nets[0]["ssid"] == "HomeNetwork" and nets[0]["secure"]
        _world()["networks"][0]["wrong"] = [202]
        gw.config.update({"ssid": "HomeNetwork", "pass": "wrong"})
        assert _run(m, c, 10000, lambda m: m.state == "failed")
        assert m.error == "wrong password" and ap.active() and m.mode == "AP"
        assert not wlan.driver().requested  # disconnect() after the failed join
        gw.config.update({"pass": "correct horse"})
        assert _run(m, c, 5000, lambda m: m.state == "joined")
        assert m.mode == "STA+AP"
        assert m.sta_ip == "127.0.0.1" and m.status()["wifi_ip"] == "127.0.0.1"
        assert not m.setup_open()  # joined: auth is back on, even for the phone on the AP
        _run(m, c, 5000)
        assert m.state == "joined" and ap.active()  # a phone is on the AP: wait for it
        m.address_shown(c.t)
        _run(m, c, 2000)
        assert m.state == "joined"
        _run(m, c, 1500)
        assert m.state == "connected" and not ap.active() and m.mode == "STA"
        assert m.error == "" and wlan.driver().counts["internal_errors"] == 0
    finally:
        _done()


def test_join_without_a_phone_on_the_ap_closes_it_at_once():
    c = _radio()
    try:
        gw, m = _manager({"ssid": "HomeNetwork", "pass": "correct horse"})
        assert _run(m, c, 5000, lambda m: m.state == "connected")
        assert not wlan.get()[1].active() and m.mode == "STA"
    finally:
        _done()


def test_timeout_and_not_found_are_reported_as_such():
    c = _radio()
    try:
        gw, m = _manager()
        m.step(c.t)
        asyncio.run(m.scan(c.t))
        _world()["networks"][0]["wrong"] = [15]
        gw.config.update({"ssid": "HomeNetwork", "pass": "wrong"})
        assert _run(m, c, 20000, lambda m: m.state == "failed")
        assert m.error.startswith("timeout") and "password" in m.error  # in range: say so
        gw.config.update({"ssid": "Nowhere"})
        assert _run(m, c, 20000, lambda m: m.state == "failed")
        assert m.error == "network not found"
    finally:
        _done()


def test_router_outage_short_and_long_mode_ap_and_auth_follow_the_radio():
    c = _radio()
    try:
        gw, m = _manager({"ssid": "HomeNetwork", "pass": "correct horse"})
        ap = wlan.get()[1]
        assert _run(m, c, 5000, lambda m: m.state == "connected")
        _world()["networks"][0]["up"] = False
        assert _run(m, c, 6000, lambda m: m.state == "lost")
        assert m.mode == "STA" and not ap.active() and not m.setup_open()
        _world()["networks"][0]["up"] = True
        assert _run(m, c, 6000, lambda m: m.state == "connected")  # the driver's own reconnect
        assert not ap.active()
        # a long one: the AP opens as a fallback, the manager retries with a backoff
        _world()["networks"][0]["up"] = False
        assert _run(m, c, 40000, lambda m: m.state == "failed")
        assert ap.active() and m.mode == "AP" and m.setup_open() and m.error.startswith("link lost")
        _world()["networks"][0]["up"] = True
        assert _run(m, c, 15000, lambda m: m.state == "connected")
        assert not ap.active() and m.mode == "STA" and not m.setup_open() and m.error == ""
        assert wlan.driver().counts["internal_errors"] == 0
    finally:
        _done()


def test_mode_follows_a_link_the_driver_restored_while_the_ap_is_up():
    c = _radio()
    try:
        gw, m = _manager()
        sta, ap = wlan.get()
        m.step(c.t)
        assert m.mode == "AP"
        sta.connect("HomeNetwork", "correct horse")  # not the manager: the driver (or a soft reset)
        c.t += 2000
        m.step(c.t)
        assert m.mode == "STA+AP" and m.ip == "127.0.0.1"
        assert not m.setup_open()
        _run(m, c, 1000)
        assert m.state == "connected" and not ap.active() and m.mode == "STA"  # nobody on the AP
    finally:
        _done()


def test_credentials_changed_while_connected_apply_at_once():
    c = _radio([dict(HOME), {"ssid": "Upstairs", "rssi": -60, "security": 3, "password": "pw2pw2pw"}])
    try:
        gw, m = _manager({"ssid": "HomeNetwork", "pass": "correct horse"})
        assert _run(m, c, 5000, lambda m: m.state == "connected")
        gw.config.update({"ssid": "Upstairs", "pass": "pw2pw2pw"})
        m.step(c.t)
        assert m.state == "connecting" and m.ssid == "Upstairs"
        assert _run(m, c, 5000, lambda m: m.state == "connected")
        assert wlan.driver().joined == "Upstairs" and wlan.driver().counts["internal_errors"] == 0
    finally:
        _done()


def test_twenty_outages_in_a_row():
    c = _radio()
    try:
        gw, m = _manager({"ssid": "HomeNetwork", "pass": "correct horse"})
        assert _run(m, c, 5000, lambda m: m.state == "connected")
        for i in range(20):
            _world()["networks"][0]["up"] = False
            _run(m, c, 8000 if i % 2 else 45000)
            _world()["networks"][0]["up"] = True
            assert _run(m, c, 330000, lambda m: m.state == "connected"), (i, m.state, m.error)
        assert wlan.driver().counts["internal_errors"] == 0 and not wlan.get()[1].active()
    finally:
        _done()


def test_scan_answers_from_the_cache_while_joining_and_resumes_a_lost_link():
    c = _radio(extra=40)
    try:
        gw, m = _manager({"ssid": "HomeNetwork", "pass": "correct horse"})
        m.step(c.t)
        assert m.state == "connecting"
        assert asyncio.run(m.scan(c.t)) == []  # nothing cached yet; the driver is not asked
        assert wlan.driver().counts["scans"] == 0
        assert _run(m, c, 5000, lambda m: m.state == "connected")
        nets = asyncio.run(m.scan(c.t))
        assert len(nets) == 20 and nets[0]["rssi"] >= nets[-1]["rssi"]  # capped, strongest first
        n = wlan.driver().counts["scans"]
        assert asyncio.run(m.scan(c.t)) == nets and wlan.driver().counts["scans"] == n  # fresh
        _world()["networks"][0]["up"] = False
        assert _run(m, c, 6000, lambda m: m.state == "lost")
        c.t += 20000
        nets = asyncio.run(m.scan(c.t))  # stale: scans, stopping the driver's reconnect first
        assert nets and wlan.driver().counts["empty_scans"] == 0 and m.state == "failed"
        _world()["networks"][0]["up"] = True
        assert _run(m, c, 5000, lambda m: m.state == "connected")
    finally:
        _done()


def test_controller_asks_for_the_ap_and_it_stays_after_a_join():
    c = _radio(stations=1)
    try:
        gw, m = _manager()
        ap = wlan.get()[1]
        m.step(c.t)
        gw.config.update({"ssid": "HomeNetwork", "pass": "correct horse"})
        assert _run(m, c, 5000, lambda m: m.state == "joined")  # handing over to the phone
        m.request_mode("02")  # $WF 02 from the controller's menu meanwhile
        m.address_shown(c.t)
        _run(m, c, 5000)
        assert m.state == "connected" and ap.active() and m.mode == "STA+AP"
        m.request_mode("01")
        assert not ap.active() and m.mode == "STA"
    finally:
        _done()
