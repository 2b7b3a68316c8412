# The ESP32's radio for the PC: network.WLAN as MicroPython v1.28.0's ESP32 port implements it
# (ports/esp32/network_wlan.c, network_common.c, modnetwork.h), so the firmware meets the same
# driver here as on the chip. What is modelled, with the driver code it comes from:
#
#  * connect() stores the credentials (esp_wifi_set_config), copies network.hostname() to the
#    netif, calls esp_wifi_connect() and sets wifi_sta_connect_requested. From then on the
#    event handler calls esp_wifi_connect() again on EVERY WIFI_EVENT_STA_DISCONNECTED, for
#    ever (conf_wifi_sta_reconnects 0 = unlimited; config(reconnects=n) bounds it), until
#    disconnect() clears the flag.
#  * esp_wifi_connect() while the station is connecting fails with ESP_ERR_WIFI_CONN, raised as
#    OSError("Wifi Internal Error") (esp_exceptions_helper; MicroPython issue 17661). The new
#    credentials were already stored by then, so the driver's next retry uses them.
#  * status() is the driver's decision chain: 1010 with an IP; the last disconnect reason if it
#    is 201 / 210 / 211 / 212 (no AP found) or 202 (auth fail; 205 is reported as 202); 1000
#    after disconnect() (reason 8, ASSOC_LEAVE); 1001 while a connect is requested (any other
#    reason: a wrong WPA2 password mostly ends in reason 15, 4-way handshake timeout, so it reads
#    as "connecting" for ever); else the raw reason. 203 / 204 never come back.
#  * scan() needs the STA interface, blocks the caller for the whole active scan (the C call
#    holds the MicroPython thread: the asyncio loop stops), and returns [] when
#    esp_wifi_scan_start() refuses, which it does while the station is connecting.
#  * isconnected() on the AP interface means "a station is associated"
#    (esp_wifi_ap_get_sta_list), not "the AP is up"; active() is the AP's own state.
#  * The chip's mDNS responder takes network.hostname() once, at the first IP_EVENT_STA_GOT_IP
#    (mdns_init + mdns_hostname_set); the DHCP name is what the netif had at connect().
#
# The world around the radio is a scenario the tests control: a JSON file named by SIM_WLAN,
# re-read while the firmware runs, with "networks" (ssid, rssi, security, channel, password,
# "up": false for a router outage, "wrong": the disconnect reasons a wrong password produces in
# turn), "extra" (that many neighbours' networks), "stations" (phones associated with our AP),
# and the timings below by name in lower case ("scan_ms", "beacon_ms", ...). SIM_WLAN_STATE names a file where the radio's own view is written (for tests).
# Time: the driver's events happen when their time has come, evaluated on each call.
import json
import os
import time

STA_IF = 0
AP_IF = 1
STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010
# wifi_err_reason_t (ESP-IDF esp_wifi_types.h)
R_ASSOC_LEAVE = 8
R_4WAY_HANDSHAKE_TIMEOUT = 15
R_BEACON_TIMEOUT = 200
R_NO_AP_FOUND = 201
R_AUTH_FAIL = 202
R_CONNECTION_FAIL = 205
R_NO_AP_FOUND_W_COMPATIBLE_SECURITY = 210
R_NO_AP_FOUND_IN_AUTHMODE_THRESHOLD = 211
R_NO_AP_FOUND_IN_RSSI_THRESHOLD = 212

# Timing (ms), from the IDF defaults: an active scan dwells up to 120 ms on each of 13
# channels; with the AP up or the STA joined it returns to the home channel between them.
SCAN_MS = 2000
SCAN_HOME_MS = 1000
SEARCH_MS = 1600  # a connect attempt's scan for the SSID, when it is not there
JOIN_MS = 1500  # scan, auth, assoc, 4-way handshake, DHCP
WRONG_MS = 3500  # a wrong WPA2 password: the 4-way handshake times out (reason 15)
AUTH_FAIL_MS = 2000  # ... or the AP says so (reason 202)
BEACON_MS = 3000  # the router gone: beacon timeout
WEAK_RSSI = -85  # at or below: two attempts of three are not answered
AP_IP = os.getenv("AP_IP") or "127.0.4.1"  # as boards/unix/board.py
STA_IP = "127.0.0.1"  # the home network is this PC's loopback

DEFAULT = {"networks": [
    {"ssid": "HomeNetwork", "rssi": -52, "security": 3, "channel": 6, "password": "correct horse"},
    {"ssid": "Neighbour", "rssi": -80, "security": 3, "channel": 11, "password": "x"},
    {"ssid": "CafeOpen", "rssi": -71, "security": 0, "channel": 1, "password": ""},
]}

# test hooks: a clock and a sleep (defaults: the real ones)
clock = None
sleep = None


def _now():
    if clock is not None:
        return clock()
    if hasattr(time, "ticks_ms"):
        return time.ticks_ms()
    return int(time.monotonic() * 1000)


def _after(a, b):
    """a is at or after b (tick arithmetic)."""
    if hasattr(time, "ticks_diff") and clock is None:
        return time.ticks_diff(a, b) >= 0
    return a - b >= 0


def _block(ms):
    if sleep is not None:
        sleep(ms)
    elif hasattr(time, "sleep_ms"):
        time.sleep_ms(ms)
    else:
        time.sleep(ms / 1000)


class _Driver:
    """The driver's state: the statics of network_wlan.c, plus the world's scenario."""

    def __init__(self, scenario=None):
        self.mode = 0  # bit 1 STA, bit 2 AP (WIFI_MODE_*)
        self.requested = False  # wifi_sta_connect_requested
        self.connected = False  # wifi_sta_connected (has an IP)
        self.reason = 0  # wifi_sta_disconn_reason
        self.conf_reconnects = 0
        self.reconnects = 0
        self.cfg = ("", "")  # the STA config: ssid, password
        self.att = None  # the connect attempt under way: (end ms, 0 = joined, or a reason)
        self.joined = ""
        self.lost_at = None
        self.ap_cfg = {"essid": "", "password": "", "authmode": 0, "channel": 1}
        self.hostname = "mpy-esp32"  # MICROPY_PY_NETWORK_HOSTNAME_DEFAULT
        self.netif_hostname = ""
        self.mdns_hostname = ""
        self.n_wrong = 0
        self.n_weak = 0
        self.counts = {"connects": 0, "disconnects": 0, "internal_errors": 0, "scans": 0,
                       "empty_scans": 0, "attempts": 0, "ap_starts": 0}
        self.scan_windows = []  # (start, end) of the last scans: a scan blocks the process
        self.world = scenario
        self._raw = None
        self._read_at = None
        self._dumped = None

    # -- the world ---------------------------------------------------------------
    def load(self, now):
        p = os.getenv("SIM_WLAN")
        if not p or (self._read_at is not None and not _after(now, self._read_at + 100)):
            if self.world is None:
                self.world = DEFAULT
            return
        self._read_at = now
        try:
            with open(p) as f:
                raw = f.read()
        except OSError:
            raw = None
        if raw == self._raw and self.world is not None:
            return
        self._raw = raw
        try:
            w = json.loads(raw) if raw else DEFAULT
        except ValueError:
            return  # half-written by the test: keep the last one
        self.world = {"networks": w} if isinstance(w, list) else w

    def networks(self):
        nets = list(self.world.get("networks", ()))
        for i in range(self.world.get("extra", 0)):
            nets.append({"ssid": "Neighbour-%02d" % i, "rssi": -60 - (i * 7) % 35,
                         "security": 3, "channel": 1 + i % 13, "password": "-"})
        return nets

    def net(self, ssid):
        for n in self.networks():
            if n.get("ssid") == ssid and n.get("up", True):
                return n
        return None

    def ms(self, name, default):
        return self.world.get(name, default)

    def stations(self):
        return self.world.get("stations", 0) if self.mode & 2 else 0

    # -- the driver's timeline -----------------------------------------------------
    def plan(self, t):
        """esp_wifi_connect() at t with the stored config: (end, outcome) of the attempt."""
        self.counts["attempts"] += 1
        ssid, key = self.cfg
        n = self.net(ssid)
        search = self.ms("search_ms", SEARCH_MS)
        if n is None:
            return t + search, R_NO_AP_FOUND
        sec = n.get("security", 3)
        if sec and not key:
            return t + search, R_NO_AP_FOUND_W_COMPATIBLE_SECURITY
        if sec and key != n.get("password", ""):
            seq = n.get("wrong") or (R_4WAY_HANDSHAKE_TIMEOUT, R_4WAY_HANDSHAKE_TIMEOUT,
                                     R_4WAY_HANDSHAKE_TIMEOUT, R_AUTH_FAIL)
            r = seq[self.n_wrong % len(seq)]
            self.n_wrong += 1
            return t + (self.ms("wrong_ms", WRONG_MS) if r == R_4WAY_HANDSHAKE_TIMEOUT else
                        self.ms("auth_fail_ms", AUTH_FAIL_MS)), r
        if n.get("rssi", -60) <= WEAK_RSSI:
            self.n_weak += 1
            if self.n_weak % 3:
                return t + search, R_NO_AP_FOUND
        return t + n.get("join_ms", self.ms("join_ms", JOIN_MS)), 0

    def disconnected(self, t, reason):
        """WIFI_EVENT_STA_DISCONNECTED at t (network_wlan_wifi_event_handler)."""
        self.reason = reason
        self.connected = False
        self.att = None
        if self.requested and self.mode & 1:
            if self.conf_reconnects:
                self.reconnects += 1
                if self.reconnects >= self.conf_reconnects:
                    return
            self.att = self.plan(t)

    def advance(self):
        now = _now()
        self.load(now)
        if self.connected:
            if self.net(self.joined) is None:
                if self.lost_at is None:
                    self.lost_at = now
                if _after(now, self.lost_at + self.ms("beacon_ms", BEACON_MS)):
                    self.lost_at = None
                    self.disconnected(now, R_BEACON_TIMEOUT)
            else:
                self.lost_at = None
        for _ in range(1000):  # the reconnect loop may have run many times since the last call
            if self.att is None or not _after(now, self.att[0]):
                break
            t, r = self.att
            if r:
                self.disconnected(t, r)
                continue
            self.att = None
            self.connected = True
            self.reason = 0
            self.joined = self.cfg[0]
            if not self.mdns_hostname:
                self.mdns_hostname = self.hostname  # mdns_init at the first GOT_IP only
        self.dump()
        return now

    def drop(self, reason):
        """The link ends at our request (disconnect, STA off)."""
        if self.connected or self.att is not None:
            self.connected = False
            self.att = None
            self.reason = reason
            self.counts["disconnects"] += 1

    def status(self):
        if self.connected:
            return STAT_GOT_IP
        r = self.reason
        if r in (R_NO_AP_FOUND, R_NO_AP_FOUND_IN_RSSI_THRESHOLD,
                 R_NO_AP_FOUND_IN_AUTHMODE_THRESHOLD, R_NO_AP_FOUND_W_COMPATIBLE_SECURITY):
            return r
        if r in (R_AUTH_FAIL, R_CONNECTION_FAIL):
            return R_AUTH_FAIL
        if r == R_ASSOC_LEAVE:
            return STAT_IDLE
        if self.requested and (self.conf_reconnects == 0 or
                               self.reconnects < self.conf_reconnects):
            return STAT_CONNECTING
        if r == 0:
            return STAT_IDLE
        return r

    def dump(self):
        p = os.getenv("SIM_WLAN_STATE")
        if not p:
            return
        d = {"sta_active": bool(self.mode & 1), "ap_active": bool(self.mode & 2),
             "connected": self.connected, "requested": self.requested,
             "connecting": self.att is not None, "status": self.status(),
             "joined": self.joined if self.connected else "", "stations": self.stations(),
             "ap_essid": self.ap_cfg.get("essid", ""), "hostname": self.hostname,
             "dhcp_hostname": self.netif_hostname, "mdns_hostname": self.mdns_hostname}
        d.update(self.counts)
        s = json.dumps(d)
        if s == self._dumped:
            return
        self._dumped = s
        try:
            with open(p + ".tmp", "w") as f:
                f.write(s)
            os.rename(p + ".tmp", p)
        except OSError:
            pass


_d = None


def driver():
    global _d
    if _d is None:
        _d = _Driver()
    return _d


def reset(scenario=None):
    """A fresh radio (tests): scenario is the world's dict, else SIM_WLAN or DEFAULT."""
    global _d, _pair
    _d = _Driver(scenario)
    _pair = None


def hostname(name=None):
    """network.hostname(): the name DHCP and the chip's mDNS responder use."""
    d = driver()
    d.advance()
    if name is None:
        return d.hostname
    if len(name) > 32:  # MICROPY_PY_NETWORK_HOSTNAME_MAX_LEN
        raise ValueError()
    d.hostname = name
    d.dump()


class WLAN:
    def __init__(self, interface=STA_IF):
        if interface not in (STA_IF, AP_IF):
            raise ValueError("invalid WLAN interface identifier")
        self.interface = interface

    def _need(self, iface):
        if self.interface != iface:
            raise OSError("STA required" if iface == STA_IF else "AP required")

    def active(self, on=None):
        d = driver()
        d.advance()
        bit = 1 if self.interface == STA_IF else 2
        if on is not None:
            was = d.mode
            d.mode = d.mode | bit if on else d.mode & ~bit
            if bit == 1 and not on:
                d.drop(R_ASSOC_LEAVE)
            if bit == 1 and on and not was & 1:
                d.reconnects = 0  # WIFI_EVENT_STA_START
            if bit == 2 and on and not was & 2:
                d.counts["ap_starts"] += 1
            d.dump()
        return bool(d.mode & bit)

    def connect(self, ssid=None, key=None, bssid=None):
        d = driver()
        now = d.advance()
        if not d.mode:
            raise OSError("Wifi Not Started")
        if not d.mode & 1:
            raise OSError("Wifi Invalid Mode")
        if ssid is not None:  # a fresh wifi_config_t: what is not given is empty
            d.cfg = (ssid, key or "")
        d.netif_hostname = d.hostname
        d.reconnects = 0
        if d.att is not None:  # esp_wifi_connect(): "sta is connecting, return error"
            d.counts["internal_errors"] += 1
            d.dump()
            raise OSError("Wifi Internal Error")
        if d.connected:  # re-association: the old link ends first
            d.connected = False
            d.reason = R_ASSOC_LEAVE
        d.counts["connects"] += 1
        d.att = d.plan(now)
        d.requested = True
        d.dump()

    def disconnect(self):
        d = driver()
        d.advance()
        if not d.mode:
            raise OSError("Wifi Not Started")
        d.requested = False
        d.drop(R_ASSOC_LEAVE)
        d.dump()

    def status(self, param=None):
        d = driver()
        d.advance()
        if param is None:
            return d.status() if self.interface == STA_IF else None
        if param == "stations":
            self._need(AP_IF)
            return [(bytes((0x5C, 0xCF, 0x7F, 0, 0, i + 2)),) for i in range(d.stations())]
        if param == "rssi":
            self._need(STA_IF)
            if not d.connected:
                raise OSError("Wifi Not Connected")  # esp_wifi_sta_get_ap_info
            n = d.net(d.joined)
            return n.get("rssi", -60) if n else -90
        raise ValueError("unknown status param")

    def isconnected(self):
        d = driver()
        d.advance()
        if self.interface == STA_IF:
            return d.connected
        return d.stations() != 0

    def scan(self):
        d = driver()
        d.advance()
        if not d.mode & 1:
            raise OSError("STA must be active")
        d.counts["scans"] += 1
        if d.att is not None:  # esp_wifi_scan_start() refuses while connecting: no error
            d.counts["empty_scans"] += 1
            d.dump()
            return []
        ms = d.ms("scan_ms", SCAN_MS)
        if d.connected or d.mode & 2:
            ms += d.ms("scan_home_ms", SCAN_HOME_MS)
        t0 = _now()
        _block(ms)
        d.scan_windows = (d.scan_windows + [(t0, _now())])[-8:]
        out = []
        for i, n in enumerate(d.networks()):
            if n.get("up", True):
                out.append((n["ssid"].encode(), bytes((0x10, 0, 0, 0, 0, i & 255)),
                            n.get("channel", 1), n.get("rssi", -60), n.get("security", 3),
                            False))
        d.dump()
        return out

    def ifconfig(self, cfg=None):
        d = driver()
        d.advance()
        if cfg is not None:
            return None
        if self.interface == AP_IF:
            return (AP_IP, "255.255.255.0", AP_IP, AP_IP)
        if d.connected:
            return (STA_IP, "255.0.0.0", STA_IP, STA_IP)
        return ("0.0.0.0", "0.0.0.0", "0.0.0.0", "0.0.0.0")

    def config(self, *args, **kw):
        d = driver()
        if args and kw:
            raise TypeError("either pos or kw args are allowed")
        if kw:
            for k in kw:
                v = kw[k]
                if k in ("ssid", "essid", "password", "key", "authmode", "security", "hidden",
                         "max_clients"):
                    self._need(AP_IF)
                    d.ap_cfg[{"ssid": "essid", "key": "password",
                              "security": "authmode"}.get(k, k)] = v
                elif k == "reconnects":
                    self._need(STA_IF)
                    d.conf_reconnects = 0 if v == -1 else v + 1
                elif k in ("hostname", "dhcp_hostname"):
                    hostname(v)
                elif k in ("channel", "txpower", "pm", "protocol", "mac"):
                    pass
                else:
                    raise ValueError("unknown config param")
            d.dump()
            return None
        if len(args) != 1:
            raise TypeError("can query only one param")
        k = args[0]
        if k == "mac":
            return b"\xa1\xb2\xc3\xd4\xe5" + (b"\xf6" if self.interface == STA_IF else b"\xf7")
        if k in ("ssid", "essid"):
            return d.cfg[0] if self.interface == STA_IF else d.ap_cfg["essid"]
        if k in ("authmode", "security", "hidden", "max_clients"):
            self._need(AP_IF)
            return d.ap_cfg.get(k, 0)
        if k == "channel":
            return d.ap_cfg.get("channel", 1)
        if k in ("hostname", "dhcp_hostname"):
            return d.hostname
        if k == "reconnects":
            return d.conf_reconnects - 1
        raise ValueError("unknown config param")


_pair = None


def get():
    """(sta, ap), like network.WLAN(network.STA_IF) and network.WLAN(network.AP_IF)."""
    global _pair
    if _pair is None:
        _pair = (WLAN(STA_IF), WLAN(AP_IF))
    return _pair
