# WiFi manager: join the configured network; if that fails (or none is set), open the
# access point OpenEVSE_xxxx (password openevse) with a captive DNS, and keep retrying
# the home network in the background. The radio comes from board.wlan().
import asyncio

from compat import sleep_ms, ticks_diff, ticks_ms, wait_for_ms

AP_PASSWORD = "openevse"
AP_IP = "192.168.4.1"
JOIN_TIMEOUT_MS = 15000
RETRY_MS = 60000


class WifiManager:
    def __init__(self, gw):
        self.gw = gw
        self.sta, self.ap = gw.board.wlan()
        self.mode = "STA"
        self.ip = "0.0.0.0"
        self.ssid = ""
        self._dns = None
        self._kick = asyncio.Event()
        self.last_error = ""
        gw.config.on_change.append(self._config_changed)

    def _config_changed(self, keys):
        if "ssid" in keys or "pass" in keys:
            self._kick.set()

    def request_mode(self, mode):
        """$WF from the controller: "00"/"02" open the access point, "01" client only."""
        if mode in ("00", "02"):
            self._open_ap()
        elif mode == "01" and self.sta.isconnected():
            self._close_ap()
            self.mode = "STA"
        self.gw.bus.publish(self.status())

    def ap_ssid(self):
        return self.gw.config.get("ap_ssid") or "OpenEVSE_" + self.gw.serial[-4:].lower()

    def scan(self):
        """List of {ssid, rssi, secure, channel}, strongest first. Blocks ~2 s on the chip."""
        self.sta.active(True)
        seen = {}
        for ssid, bssid, ch, rssi, sec, hidden in self.sta.scan():
            name = ssid.decode() if isinstance(ssid, bytes) else ssid
            if name and (name not in seen or seen[name]["rssi"] < rssi):
                seen[name] = {"ssid": name, "rssi": rssi, "secure": sec != 0, "channel": ch}
        out = list(seen.values())
        out.sort(key=lambda n: -n["rssi"])
        return out

    async def join(self, ssid, password):
        """Try to join; returns True once connected (within JOIN_TIMEOUT_MS)."""
        self.sta.active(True)
        self.sta.connect(ssid, password)
        t0 = ticks_ms()
        while ticks_diff(ticks_ms(), t0) < JOIN_TIMEOUT_MS:
            if self.sta.isconnected():
                self.ssid = ssid
                self.ip = self.sta.ifconfig()[0]
                return True
            st = self.sta.status()
            if st in (201, 202, 203, 204):  # no AP, wrong password, handshake/assoc fail
                self.last_error = "wrong password" if st == 202 else "network not found"
                return False
            await sleep_ms(250)
        self.last_error = "timeout"
        return False

    def _open_ap(self):
        if self.mode in ("AP", "STA+AP"):
            return
        self.ap.active(True)
        try:
            self.ap.config(essid=self.ap_ssid(), password=self.gw.config.get("ap_pass") or AP_PASSWORD,
                           authmode=3)
        except (TypeError, ValueError, OSError):
            self.ap.config(essid=self.ap_ssid(), password=AP_PASSWORD)
        if self.sta.isconnected():
            self.mode = "STA+AP"
        else:
            self.mode = "AP"
            self.ip = AP_IP
        print("wifi: access point", self.ap_ssid(), "at", AP_IP)
        if self._dns is None:
            from net import dns

            self._dns = asyncio.create_task(dns.serve(AP_IP, self.gw.board.dns_port))

    def _close_ap(self):
        if self._dns is not None:
            self._dns.cancel()
            self._dns = None
        self.ap.active(False)

    async def run(self):
        while True:
            ssid = self.gw.config.get("ssid")
            if ssid and not self.sta.isconnected():
                ok = await self.join(ssid, self.gw.config.get("pass"))
                if ok:
                    print("wifi: joined", ssid, "ip", self.ip)
                    self._close_ap()
                    self.mode = "STA"
                    self.gw.bus.publish(self.status())
                else:
                    print("wifi: could not join", ssid, self.last_error)
            if not self.sta.isconnected():
                self._open_ap()
                self.gw.bus.publish(self.status())
            self._kick.clear()
            try:
                await wait_for_ms(self._kick.wait(), RETRY_MS)
            except asyncio.TimeoutError:
                pass

    def status(self):
        up = self.sta.isconnected()
        rssi = self.sta.status("rssi") if up else 0
        return {
            "mode": self.mode,
            "wifi_client_connected": 1 if up else 0,
            "net_connected": 1 if up else 0,
            "ipaddress": self.ip,
            "macaddress": ":".join("%02x" % b for b in self.gw.board.unique_id()),
            "srssi": rssi,
            "ssid": self.ssid,
        }
