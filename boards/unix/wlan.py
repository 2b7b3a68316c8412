# Simulated ESP32 radio for the PC: the network.WLAN methods the WiFi manager uses,
# with networks from a JSON file (SIM_WLAN: a list, or {"networks": [...]}) or a small
# default list. Joining checks the password the way an access point would; the PC's
# loopback stands in for the IP. The file is re-read: a network with "up": false is a
# router outage (the station loses the link until it is up again; tests/system/faults.py).
import json
import os

STA_IF = 0
AP_IF = 1
STAT_IDLE = 0
STAT_CONNECTING = 1
STAT_WRONG_PASSWORD = 202
STAT_NO_AP_FOUND = 201
STAT_GOT_IP = 1010

_DEFAULT = [
    {"ssid": "HomeNetwork", "rssi": -52, "security": 3, "channel": 6, "password": "correct horse"},
    {"ssid": "Neighbour", "rssi": -80, "security": 3, "channel": 11, "password": "x"},
    {"ssid": "CafeOpen", "rssi": -71, "security": 0, "channel": 1, "password": ""},
]


def _networks():
    p = os.getenv("SIM_WLAN")
    if p:
        try:
            with open(p) as f:
                d = json.load(f)
            return d["networks"] if isinstance(d, dict) else d
        except (OSError, ValueError, KeyError):
            pass
    return _DEFAULT


def _up(ssid):
    for n in _networks():
        if n["ssid"] == ssid:
            return n.get("up", True)
    return False


class WLAN:
    def __init__(self, interface):
        self.interface = interface
        self._active = False
        self._status = STAT_IDLE
        self._ssid = ""
        self._cfg = {"essid": "", "password": "", "mac": b"\xa1\xb2\xc3\xd4\xe5\xf6"}

    def active(self, on=None):
        if on is None:
            return self._active
        self._active = bool(on)
        if not on:
            self._status = STAT_IDLE

    def scan(self):
        return [
            (n["ssid"].encode(), b"\x00" * 6, n.get("channel", 1), n.get("rssi", -60),
             n.get("security", 3), False)
            for n in _networks()
        ]

    def connect(self, ssid, key=""):
        self._ssid = ssid
        for n in _networks():
            if n["ssid"] == ssid and n.get("up", True):
                ok = n.get("password", "") == key
                self._status = STAT_GOT_IP if ok else STAT_WRONG_PASSWORD
                return
        self._status = STAT_NO_AP_FOUND

    def disconnect(self):
        self._status = STAT_IDLE

    def status(self, param=None):
        if param == "rssi":
            for n in _networks():
                if n["ssid"] == self._ssid:
                    return n.get("rssi", -60)
            return 0
        return self._status

    def isconnected(self):
        if self.interface == AP_IF:
            return self._active
        return self._status == STAT_GOT_IP and _up(self._ssid)

    def ifconfig(self, cfg=None):
        if self.interface == AP_IF:
            return ("192.168.4.1", "255.255.255.0", "192.168.4.1", "192.168.4.1")
        if self._status == STAT_GOT_IP:
            return ("127.0.0.1", "255.0.0.0", "127.0.0.1", "127.0.0.1")
        return ("0.0.0.0", "0.0.0.0", "0.0.0.0", "0.0.0.0")

    def config(self, *args, **kw):
        if kw:
            self._cfg.update(kw)
            return None
        return self._cfg.get(args[0])


_pair = None


def get():
    global _pair
    if _pair is None:
        _pair = (WLAN(STA_IF), WLAN(AP_IF))
    return _pair
