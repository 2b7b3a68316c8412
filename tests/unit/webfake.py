# A small fake Gateway for the web tests.
# It implements the gw contract the web layer relies on (docs/web.md) with the real
# claims.Claims, config.Config and events.Bus, and a tiny virtual EVSE.

import claims
from config import Config
from events import Bus
from rapi import guard

MASK = "_DUMMY_PASSWORD"
# The settings the fake starts from; validation, masking and saving are the firmware's own
# (config.Config), so what the web tests see of settings is what the gateway does.
DEFAULTS = {
    "hostname": "openevse-7b2c",
    "emoncms_node": "openevse-7b2c",
    "mqtt_topic": "openevse-7b2c",
    "max_current_soft": 32,
}


class FakeAp:
    def __init__(self):
        self.on = False

    def active(self):
        return self.on


class FakeWifi:
    """The parts of net.wifi.WifiManager the web uses. sta_up / ap.on stand for the radio."""

    def __init__(self):
        self.mode = "STA"
        self.joined = None
        self.ap = FakeAp()
        self.sta_up = True
        self.sta_ip = "192.168.1.50"
        self.state = "connected"
        self.shown = 0

    def setup_open(self):
        return self.ap.on and not self.sta_up

    def address_shown(self):
        self.shown += 1

    def scan(self):
        return [
            {"ssid": "HomeNet", "rssi": -52, "bssid": "aa:bb:cc:dd:ee:01", "channel": 6, "secure": 3},
            {"ssid": "Neighbour", "rssi": -80, "bssid": "aa:bb:cc:dd:ee:02", "channel": 11, "secure": 3},
            {"ssid": "Cafe", "rssi": -71, "bssid": "aa:bb:cc:dd:ee:03", "channel": 1, "secure": 0},
        ]

    def connect(self, ssid, pw):
        self.joined = (ssid, pw)


class VirtualEvse:
    """Just enough of a controller: plug in/out, sleep/active, pilot set with $SC."""

    def __init__(self):
        self.vehicle = 0
        self.enabled = True
        self.pilot = 32
        self.session_wh = 0.0
        self.total_wh = 1234500.0
        self.rapi_log = []

    def state(self):
        if not self.enabled:
            return 254
        if not self.vehicle:
            return 1
        return 3


class FakeGateway:
    def __init__(self, data_dir=None):
        self.bus = Bus()
        self.config = Config(data_dir + "/config.json" if data_dir else None, DEFAULTS)
        self.config.load()
        self.config.on_change.append(self._config_changed)
        self.serial = "9C9C1FE57B2C"
        self.version = "5.1.0"
        self.claims = claims.Claims(self._limits)
        self.claims.on_change = self.apply
        self.wifi = FakeWifi()
        self.evse = VirtualEvse()
        self.divertmode = 2 if self.config.get("divert_enabled") and self.config.get("charge_mode") == "eco" else 1
        self.feeds = {"solar": 0, "grid_ie": 0, "voltage": 240}
        self.limit = None
        self.restarts = []
        self.resets = 0
        self.uptime = 0
        self.extra = {}
        self.apply()

    def _limits(self):
        return 6, min(32, self.config.get("max_current_soft"))

    def _config_changed(self, keys):
        self.bus.publish({"config_version": self.config.version})
        if "max_current_soft" in keys:
            self.apply()

    # --- gw contract -------------------------------------------------------------------
    def apply(self):
        props, _ = self.claims.target()
        ev = self.evse
        changes = {}
        enabled = props["state"] == "active"
        if enabled != ev.enabled:
            ev.enabled = enabled
            ev.rapi_log.append("$FE" if enabled else "$FS")
        if props["charge_current"] != ev.pilot:
            ev.pilot = props["charge_current"]
            ev.rapi_log.append("$SC %d V" % ev.pilot)
        changes.update(self._evse_fields())
        changes["claims_version"] = self.claims.version
        self.bus.publish(changes)

    def _evse_fields(self):
        ev = self.evse
        st = ev.state()
        amp = ev.pilot * 1000 if st == 3 else 0
        v = self.feeds["voltage"]
        return {
            "state": st,
            "status": "active" if ev.enabled else "disabled",
            "vehicle": ev.vehicle,
            "pilot": ev.pilot,
            "amp": amp,
            "voltage": v,
            "power": amp * v // 1000,
            "manual_override": 1 if self.claims.get(claims.CLIENT_MANUAL) else 0,
            "max_current": self.claims.target()[0]["max_current"],
        }

    def status(self):
        ev = self.evse
        d = {
            "mode": self.wifi.mode,
            "wifi_client_connected": 1,
            "eth_connected": 0,
            "net_connected": 1,
            "ipaddress": "192.168.1.50",
            "macaddress": "9C:9C:1F:E5:7B:2C",
            "srssi": -58,
            "emoncms_connected": 0,
            "mqtt_connected": 0,
            "ocpp_connected": 0,
            "evse_connected": 1,
            "rapi_connected": 1,
            "comm_sent": 10,
            "comm_success": 10,
            "free_heap": 61234,
            "freeram": 61234,
            "uptime": self.uptime,
            "time": "2026-11-23T19:00:00Z",
            "local_time": "2026-11-23T19:00:00+0000",
            "offset": "+0000",
            "temp": 312,
            "temp_max": 350,
            "temp1": 312,
            "temp2": False,
            "temp3": False,
            "temp4": False,
            "flags": 0,
            "colour": 2,
            "elapsed": 0,
            "session_elapsed": 0,
            "session_energy": int(ev.session_wh),
            "total_energy": ev.total_wh / 1000,
            "total_day": 0,
            "total_week": 0,
            "total_month": 0,
            "total_year": 0,
            "wattsec": int(ev.session_wh * 3600),
            "watthour": int(ev.total_wh),
            "gfcicount": 0,
            "nogndcount": 0,
            "stuckcount": 0,
            "divertmode": self.divertmode,
            "solar": self.feeds["solar"],
            "grid_ie": self.feeds["grid_ie"],
            "charge_rate": 0,
            "divert_update": 0,
            "divert_active": self.divertmode == 2,
            "shaper": 0,
            "shaper_live_pwr": 0,
            "shaper_cur": 0,
            "shaper_updated": False,
            "service_level": 2,
            "limit": self.limit is not None,
            "ota_update": 0,
            "config_version": self.config.version,
            "claims_version": self.claims.version,
            "override_version": self.claims.version,
            "schedule_version": 0,
            "schedule_plan_version": 0,
            "limit_version": 0,
            "vehicle_state_update": 0,
            "tesla_vehicle_count": False,
            "tesla_vehicle_id": False,
            "tesla_vehicle_name": False,
        }
        d.update(self._evse_fields())
        d.update(self.extra)
        return d

    def set_divert_mode(self, mode):
        if mode in ("1", "2"):
            mode = int(mode)
        if mode not in (1, 2):
            raise ValueError("divertmode must be 1 or 2")
        self.divertmode = mode
        self.bus.publish({"divertmode": mode, "divert_active": mode == 2})

    def divert_feed(self, kind, value):
        if kind not in self.feeds:
            raise ValueError("unknown feed " + kind)
        self.feeds[kind] = value
        self.bus.publish({kind: value, "divert_update": 0})

    def status_input(self, key, value):
        self.extra[key] = value

    def rapi_allowed(self, cmd, dev=True):
        if dev and self.config.get("developer_mode"):
            return True
        return cmd.startswith("$G") or cmd in ("$F0", "$FB") or cmd.startswith("$FB ")

    async def rapi_passthrough(self, cmd, confirmed=False):
        if cmd == "$XX":
            return False, "RAPI_RESPONSE_TIMEOUT"
        if not self.rapi_allowed(cmd):
            return False, "RAPI_RESPONSE_BLOCKED"
        if not confirmed and guard.safety_off(cmd):
            return False, "RAPI_RESPONSE_CONFIRM"
        self.evse.rapi_log.append(cmd)
        if cmd == "$GV":
            return True, "$OK 8.2.1 5.1.0^xx"
        if cmd.startswith("$GS"):
            return True, "$OK %x 0 %x 0^xx" % (self.evse.state(), self.evse.state())
        return True, "$OK^20"

    def override_get(self):
        return self.claims.props(claims.CLIENT_MANUAL) or {}

    def override_set(self, props):
        self.claims.set(claims.CLIENT_MANUAL, claims.MANUAL, props)
        self.bus.publish({"override_version": self.claims.version})

    def override_toggle(self):
        p = self.override_get()
        if p:
            self.override_clear()
        else:
            st = self.claims.target()[0]["state"]
            self.override_set({"state": "disabled" if st == "active" else "active"})

    def override_clear(self):
        return self.claims.release(claims.CLIENT_MANUAL)

    def limit_get(self):
        return dict(self.limit) if self.limit else {}

    def limit_set(self, d):
        self.limit = dict(d)

    def limit_clear(self):
        had = self.limit is not None
        self.limit = None
        return had

    def restart(self, device):
        self.restarts.append(device)

    def factory_reset(self):
        self.resets += 1

    # --- simulation --------------------------------------------------------------------
    def plug(self, on):
        self.evse.vehicle = 1 if on else 0
        if not on:
            self.evse.session_wh = 0
            self.claims.release_auto()
        self.apply()

    def tick(self, seconds=1):
        self.uptime += seconds
        f = self._evse_fields()
        if f["state"] == 3:
            self.evse.session_wh += f["power"] * seconds / 3600
            self.evse.total_wh += f["power"] * seconds / 3600
        self.bus.publish(
            {
                "uptime": self.uptime,
                "amp": f["amp"],
                "power": f["power"],
                "session_energy": int(self.evse.session_wh),
                "total_energy": self.evse.total_wh / 1000,
                "solar": self.feeds["solar"],
                "grid_ie": self.feeds["grid_ie"],
            }
        )

