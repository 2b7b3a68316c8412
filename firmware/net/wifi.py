# WiFi manager, the resident part: a state machine polled every T["poll"] ms (docs/wifi.md).
# It reads the radio on every pass (sta.isconnected(), ap.active()) and never trusts what it
# did last: the ESP32 driver reconnects by itself after connect(), so the link can come and go
# without us. The rare jobs (start a join, give up, open or close the access point, scan) live
# in net/wifi_ops.py, imported for the job and dropped after, so their code is not resident.
from compat import drop, sleep_ms, ticks_diff, ticks_ms

# Timings (ms); a board may change them (board.wifi_ms).
T = {
    "poll": 500,
    "join": 15000,  # a join attempt: no IP by then is a failure
    "lost": 30000,  # a dropped link may come back by itself (the driver retries) this long
    "retry": 10000,  # first retry after a failure; doubles up to retry_max
    "retry_max": 300000,
    "shown": 3000,  # the AP stays up this long after a phone on it was shown the new address
    "handover": 300000,  # ... and at most this long after the join
    "scan_fresh": 15000,  # a /scan within this of the last one answers from the cache
}


def failure(code):
    """The driver's sta.status() as a final error, or "" (network_wlan.c network_wlan_status:
    202 for auth fail and 205; 201 / 210-212 no AP found; 1001 for anything else while a
    connect is requested, which is how a wrong WPA2 password usually looks)."""
    if code == 202:
        return "wrong password"
    if code in (201, 210, 211, 212):
        return "network not found"
    return ""


class WifiManager:
    def __init__(self, gw):
        self.gw = gw
        b = gw.board
        self.sta, self.ap = b.wlan()
        self.t = dict(T)
        self.t.update(getattr(b, "wifi_ms", None) or {})
        self.ap_ip = getattr(b, "ap_ip", "192.168.4.1")
        self.state = "start"
        self.error = ""
        self.ssid = ""  # the network being joined, or joined
        self.mode = "STA"
        self.ip = "0.0.0.0"
        self.sta_ip = ""
        self.new = True  # start (again) from the settings on the next pass
        self.due = 0  # when the current state's timer runs out (ticks)
        self.fails = 0  # failed joins in a row (backoff)
        self.shown = None  # when a phone on the AP was shown the new address (ticks)
        self.ap_forced = False  # the controller asked for the AP ($WF)
        self.nets = None  # scan cache: [(ssid, rssi, secure, channel)], strongest first
        self.scan_at = None
        self._dns = None
        self._pub = None
        gw.config.on_change.append(self._config_changed)

    def _config_changed(self, keys):
        if "ssid" in keys or "pass" in keys:
            self.new = True  # applied on the next pass, connected or not
        if "hostname" in keys:
            self.op("hostname")

    def op(self, name, *args):
        from net import wifi_ops

        try:
            return getattr(wifi_ops, name)(self, *args)
        finally:
            drop("net.wifi_ops")

    def set(self, state, due=0, error=None):
        self.state = state
        self.due = due
        if error is not None:
            self.error = error

    # -- the state machine (one pass; tests call it with their own clock) ---------------
    def step(self, now):
        sta_up = self.sta.isconnected()
        st = self.state
        if self.new:
            self.new = False
            self.op("start", now, sta_up)
        elif st == "connecting":
            if sta_up:
                self.op("joined", now)
            else:
                code = self.sta.status()
                if code == 202:
                    self.op("failed", now, "wrong password")
                elif ticks_diff(now, self.due) >= 0:
                    self.op("failed", now, failure(code) or "timeout")
        elif st in ("joined", "connected"):
            if not sta_up:
                # the driver is reconnecting by itself (connect() is still requested)
                print("wifi: link to", self.ssid, "lost")
                self.sta_ip = ""
                self.set("lost", now + self.t["lost"])
            elif st == "joined" and self._handed_over(now):
                if not self.ap_forced:
                    self.op("close_ap")
                self.set("connected")
        elif st == "lost":
            if sta_up:
                self.op("joined", now)
            elif ticks_diff(now, self.due) >= 0:
                self.op("failed", now, "link lost: " + (failure(self.sta.status()) or "no answer"))
        elif sta_up:  # setup or failed, yet the radio has a link (a soft reset, the REPL)
            self.op("joined", now)
        elif st == "failed":
            # retry when due; while a phone uses the portal, up to retry_max later (each
            # attempt scans the channels, and the AP shares the radio)
            if ticks_diff(now, self.due) >= 0 and (
                    not self.ap.isconnected() or
                    ticks_diff(now, self.due) >= self.t["retry_max"]):
                self.op("retry", now)
        self._derive(self.sta.isconnected())

    def _handed_over(self, now):
        if self.ap_forced:
            return True  # the AP stays (the controller asked for it); nothing to hand over
        if not self.ap.active() or not self.ap.isconnected():
            return True  # nobody on the AP to tell
        if self.shown is None:
            web = getattr(self.gw, "web", None)
            if web is not None and web.ap_peers():
                self.shown = now  # an open WebSocket from the AP gets the new address pushed
        if self.shown is not None and ticks_diff(now, self.shown) >= self.t["shown"]:
            return True
        return ticks_diff(now, self.due) >= 0

    def address_shown(self, now=None):
        """A client on the AP was sent the status with the new address (web/app.py)."""
        if self.state == "joined" and self.shown is None:
            self.shown = ticks_ms() if now is None else now

    def setup_open(self):
        """True while the gateway has no home network and the AP is up: the first-setup
        case, where the portal answers without HTTP auth (read from the radio, not a flag)."""
        return self.ap.active() and not self.sta.isconnected()

    def _derive(self, sta_up):
        ap_up = self.ap.active()
        self.mode = "STA+AP" if sta_up and ap_up else ("AP" if ap_up else "STA")
        if not sta_up:
            self.sta_ip = ""
        elif not self.sta_ip:
            self.sta_ip = self.sta.ifconfig()[0]
        self.ip = self.sta_ip or (self.ap_ip if ap_up else "0.0.0.0")
        key = (self.mode, self.ip, self.state, self.error)
        if key != self._pub:
            self._pub = key
            self.gw.bus.publish(self.status())

    # -- the task ----------------------------------------------------------------------
    async def run(self):
        while True:
            try:
                self.step(ticks_ms())
            except OSError as e:  # the driver refused something: report it, go on
                print("wifi:", repr(e))
                self.error = "radio: " + str(e)
            self._captive_dns()
            await sleep_ms(self.t["poll"])

    def _captive_dns(self):
        """The captive DNS runs exactly while the AP is up."""
        up = self.ap.active()
        if up and self._dns is None:
            import asyncio

            from net import dns

            self._dns = asyncio.create_task(dns.serve(self.ap_ip, self.gw.board.dns_port,
                                                      self.ap_ip))
        elif not up and self._dns is not None:
            self._dns.cancel()
            self._dns = None

    def request_mode(self, mode):
        """$WF from the controller: "00"/"02" open the access point, "01" client only."""
        self.op("request_mode", mode)
        self._derive(self.sta.isconnected())

    async def scan(self, now=None):
        """[{ssid, rssi, secure, channel}], strongest first. A fresh cache answers at once;
        during a join the cache answers too (the driver returns [] while connecting)."""
        if now is None:
            now = ticks_ms()
        if self.state == "connecting" or (
                self.scan_at is not None and
                ticks_diff(now, self.scan_at) < self.t["scan_fresh"]):
            return self._list()
        await sleep_ms(0)  # let what is queued go out: the scan blocks the loop (2-4 s)
        self.op("scan", now)
        return self._list()

    def _list(self):
        return [{"ssid": n[0], "rssi": n[1], "secure": n[2], "channel": n[3]}
                for n in self.nets or ()]

    def status(self):
        up = self.sta.isconnected()
        rssi = 0
        if up:
            try:
                rssi = self.sta.status("rssi")
            except OSError:
                pass
        return {
            "mode": self.mode,
            "wifi_client_connected": 1 if up else 0,
            "net_connected": 1 if up else 0,
            "ipaddress": self.ip,
            "macaddress": ":".join("%02x" % b for b in self.gw.board.unique_id()),
            "srssi": rssi,
            "ssid": self.ssid,
            "wifi_state": self.state,
            "wifi_error": self.error,
            "wifi_ip": self.sta_ip,
        }
