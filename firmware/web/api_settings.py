# web/api_settings.py: /config (settings plus the read-only keys the OpenEVSE clients need),
# /savenetwork and /scan. Used rarely: web/app.py imports it per request and drops it after.
from web.server import Stream, json_pieces

MASK = "_DUMMY_PASSWORD"
TEXT = {"Content-Type": "text/plain"}
# Keys of the C++ gateway's /config (v5.1) for features this gateway does not have, with their
# neutral values and types, so that clients which read them (Home Assistant's sntp_hostname,
# scheduler_start_window, the OCPP / Tesla switches ...) find them.
ABSENT = {
    "espinfo": "MicroPython", "espflash": 4194304, "lang": "en", "www_certificate_id": "",
    "limit_default_type": "", "limit_default_value": 0,
    "mqtt_certificate_id": "", "mqtt_reject_unauthorized": True,
    "mqtt_vehicle_soc": "", "mqtt_vehicle_range": "", "mqtt_vehicle_eta": "",
    "ocpp_server": "", "ocpp_chargeBoxId": "", "ocpp_authkey": "", "ocpp_idtag": "DefaultIdTag",
    "ocpp_enabled": False, "ocpp_auth_auto": False, "ocpp_auth_offline": False,
    "ocpp_suspend_evse": False, "ocpp_energize_plug": False, "ohm": "", "ohm_enabled": False,
    "divert_PV_ratio": 1.1, "divert_attack_smoothing_time": 20, "divert_decay_smoothing_time": 600,
    "divert_min_charge_time": 600, "vehicle_data_src": 0, "tesla_enabled": False,
    "tesla_access_token": "", "tesla_refresh_token": "", "tesla_created_at": 0,
    "tesla_expires_in": 0, "tesla_vehicle_id": "", "rfid_storage": "",
    "flags_changed": 0, "factory_write_lock": False,
    "wizard_passed": True, "default_state": True,
}
# the C++ gateway's flags word: bit -> the setting it mirrors (app_config.cpp)
FLAG_BITS = ((0, "emoncms_enabled"), (1, "mqtt_enabled"), (3, "sntp_enabled"),
             (9, "divert_enabled"), (13, "pause_uses_disabled"), (17, "mqtt_vehicle_range_miles"),
             (18, "rfid_enabled"), (19, "current_shaper_enabled"), (20, "mqtt_retained"),
             (24, "is_threephase"))


def _error(e):
    field = getattr(e, "field", None)
    if field is None and not isinstance(e, ValueError):
        raise e
    d = {"msg": getattr(e, "msg", None) or str(e)}
    if field:
        d["field"] = field
    return d, 400


def config_info(gw):
    """Read-only /config keys the OpenEVSE clients need (HA's test_and_get wants wifi_serial,
    version gates want a semver >= 5.0.0). Anything the config already has wins."""
    info = getattr(gw, "config_info", None)
    if info is not None:
        return info()
    m = getattr(gw, "model", None)
    board = getattr(gw, "board", None)
    ver = str(getattr(gw, "version", "dev"))  # "dev": see startup.VERSION
    flags = getattr(m, "flags", 0) or 0
    return {
        "version": ver if ver[:1] in "vd" else "v" + ver,
        "api_version": getattr(gw, "api", "5.1.0"),
        "wifi_serial": getattr(gw, "serial", ""),
        "buildenv": getattr(board, "BUILDENV", "micropython"),
        "build": getattr(gw, "build", ""),
        "firmware": getattr(m, "fw", "") or "-",
        "protocol": "-",
        "evse_serial": "",
        "mqtt_supported_protocols": ["mqtt"],
        "http_supported_protocols": ["http"],
        "min_current_hard": getattr(m, "min_a", 6),
        "max_current_hard": getattr(m, "hw_max_a", 32),
        "max_current_soft": getattr(m, "max_a", 32),
        "service": 2 if (m is None or flags & 1) else 1,
        "scale": getattr(m, "scale", 220),
        "offset": getattr(m, "offset", 0),
        "diode_check": not flags & 0x02,
        "vent_check": not flags & 0x04,
        "ground_check": not flags & 0x08,
        "relay_check": not flags & 0x10,
        "gfci_check": not flags & 0x200,
        "temp_check": not flags & 0x400,
        "diodet": 1 if flags & 0x02 else 0,
        "ventt": 1 if flags & 0x04 else 0,
        "groundt": 1 if flags & 0x08 else 0,
        "relayt": 1 if flags & 0x10 else 0,
        "gfcit": 1 if flags & 0x200 else 0,
        "tempt": 1 if flags & 0x400 else 0,
    }


async def config_get(app, req):
    d = app.gw.config.public()
    for k, v in config_info(app.gw).items():
        if k not in d:
            d[k] = v
    f = 1 << 26  # default_state: active
    for bit, k in FLAG_BITS:
        if d.get(k):
            f |= 1 << bit
    if d.get("charge_mode") == "eco":
        f |= 1 << 10
    d["flags"] = f
    for k, v in ABSENT.items():
        if k not in d:
            d[k] = v
    return Stream(json_pieces(d.items()))


async def config_post(app, req):
    gw = app.gw
    if req.header("x-storage") == "factory":
        return {"msg": "Factory settings locked"}, 423
    d = req.json()
    if not isinstance(d, dict):
        return {"msg": "Could not parse JSON"}, 400
    for k in list(d):
        if d[k] == MASK:  # the masked secret posted back: leave it unchanged
            del d[k]
    up = getattr(gw, "update_settings", None)  # the Gateway; test fakes have config only
    try:
        changed = await up(d) if up is not None else gw.config.update(d)
    except Exception as e:
        return _error(e)
    out = {"config_version": getattr(gw.config, "version", 0),
           "msg": "done" if changed else "no change"}
    ignored = []  # not settings (a typo, or a read-only key such as max_current): say so
    for k in d:
        try:
            gw.config.get(k)
        except KeyError:
            ignored.append(k)
    if ignored:
        out["ignored"] = ignored
    return out


async def save_network(app, req):
    gw = app.gw
    p = req.params()
    ssid = p.get("ssid", "")
    if not ssid:
        return "No SSID", 400, TEXT
    pw = p.get("pass", "")
    d = {"ssid": ssid}
    if pw != MASK:
        d["pass"] = pw
    try:
        gw.config.update(d)
    except Exception as e:
        return _error(e)
    connect = getattr(gw.wifi, "connect", None)  # else the WiFi manager reacts to the change
    if connect is not None:
        app.later(connect, ssid, app.cfg("pass", ""))
    return "saved", 200, TEXT


async def scan(app, req):
    nets = app.gw.wifi.scan()
    if hasattr(nets, "send"):
        nets = await nets
    return list(nets or [])
