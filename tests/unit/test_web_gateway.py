# The web routes over the firmware's real Gateway, Config, Claims and Bus (no UART:
# model/rapi absent), so the contract between web/app.py and the core is checked too.
import asyncio


import claims as C
from config import Config
from events import Bus
from gateway import Gateway
from web.app import create_app
from webclient import Client


class _Board:
    BUILDENV = "micropython_test"
    static_dir = "firmware/web/static"


def _setup():
    cfg = Config(None, defaults={"hostname": "openevse-test"})
    cl = C.Claims(lambda: (6, 32))
    gw = Gateway(_Board(), cfg, Bus(), cl)
    gw.serial = "A1B2C3D4E5F6"
    gw.version = "dev"
    gw.build = "mpy-0.2.0"
    app = create_app(gw)
    app.restart_delay_ms = 0
    return gw, Client(app)


def test_gateway_config_get_has_client_keys():
    gw, c = _setup()

    async def t():
        r = await c.get("/config")
        d = r.json
        # not a C++ release number: Home Assistant must not offer those as updates
        assert d["version"] == "dev" and d["build"] == "mpy-0.2.0" and d["api_version"] == "5.1.0"
        assert d["wifi_serial"] == "A1B2C3D4E5F6"
        assert d["buildenv"] == "micropython_test" and d["protocol"] == "-"
        assert d["min_current_hard"] == 6 and "max_current_hard" in d and d["service"] in (1, 2)
        assert d["hostname"] == "openevse-test"

    asyncio.run(t())


def test_gateway_config_post_validation():
    gw, c = _setup()

    async def t():
        r = await c.post("/config", body={"mqtt_server": "emonpi", "mqtt_port": "18x3"})
        assert r.status_code == 400 and r.json["field"] == "mqtt_port"
        assert gw.config.get("mqtt_server") == ""
        r = await c.post("/config", body={"mqtt_server": "emonpi", "mqtt_port": 1884, "mqtt_pass": "pw"})
        assert r.status_code == 200 and r.json["msg"] == "done" and r.json["config_version"] == gw.config.version
        r = await c.get("/config")
        assert r.json["mqtt_pass"] == "_DUMMY_PASSWORD" and r.json["mqtt_port"] == 1884
        r = await c.post("/config", body={"charge_mode": "turbo"})
        assert r.status_code == 400 and r.json["field"] == "charge_mode"

    asyncio.run(t())


def test_gateway_override_claims_rapi_status():
    gw, c = _setup()

    async def t():
        r = await c.post("/override", body={"state": "disabled", "charge_current": 50})
        assert r.status_code == 201
        r = await c.get("/claims/target")
        assert r.json["properties"]["state"] == "disabled"
        assert r.json["properties"]["charge_current"] == 32  # clamped to the configured max
        assert r.json["claims"]["state"] == C.CLIENT_MANUAL
        s = (await c.get("/status")).json
        assert s["manual_override"] == 1 and s["override_version"] >= 2
        r = await c.delete("/override")
        assert r.json == {"msg": "Deleted"}
        r = await c.get("/r?json=1&rapi=$SC+20")
        assert r.status_code == 400 and r.json["error"] == "RAPI_RESPONSE_BLOCKED"
        r = await c.get("/r?json=1&rapi=$GS")
        assert r.status_code == 500 and r.json["error"] == "RAPI_RESPONSE_TIMEOUT"  # no controller
        r = await c.post("/status", body={"voltage": 20})
        assert r.status_code == 400
        r = await c.post("/limit", body={"type": "time", "value": 90})
        assert r.status_code == 201 and (await c.get("/status")).json["limit"] is True

    asyncio.run(t())


# every key of the v5.1.2 /config fixture of python-openevse-http (reference api-clients.md
# 1.7) with the JSON type it has there: str, int, float, bool, list
V5_CONFIG = {
    "mqtt_supported_protocols": list, "http_supported_protocols": list, "buildenv": str,
    "version": str, "wifi_serial": str, "protocol": str, "espinfo": str, "espflash": int,
    "firmware": str, "evse_serial": str, "diode_check": bool, "gfci_check": bool,
    "ground_check": bool, "relay_check": bool, "vent_check": bool, "temp_check": bool,
    "max_current_soft": int, "service": int, "scale": int, "offset": int,
    "min_current_hard": int, "max_current_hard": int, "ssid": str, "pass": str, "ap_ssid": str,
    "ap_pass": str, "lang": str, "www_username": str, "www_password": str,
    "www_certificate_id": str, "hostname": str, "sntp_hostname": str, "time_zone": str,
    "limit_default_type": str, "limit_default_value": int, "emoncms_server": str,
    "emoncms_node": str, "emoncms_apikey": str, "emoncms_fingerprint": str, "mqtt_server": str,
    "mqtt_port": int, "mqtt_topic": str, "mqtt_user": str, "mqtt_pass": str,
    "mqtt_certificate_id": str, "mqtt_solar": str, "mqtt_grid_ie": str, "mqtt_vrms": str,
    "mqtt_live_pwr": str, "mqtt_vehicle_soc": str, "mqtt_vehicle_range": str,
    "mqtt_vehicle_eta": str, "mqtt_announce_topic": str, "ocpp_server": str,
    "ocpp_chargeBoxId": str, "ocpp_authkey": str, "ocpp_idtag": str, "ohm": str,
    "divert_type": int, "divert_PV_ratio": float, "divert_attack_smoothing_time": int,
    "divert_decay_smoothing_time": int, "divert_min_charge_time": int,
    "current_shaper_max_pwr": int, "current_shaper_smoothing_time": int,
    "current_shaper_min_pause_time": int, "current_shaper_data_maxinterval": int,
    "vehicle_data_src": int, "tesla_access_token": str, "tesla_refresh_token": str,
    "tesla_created_at": int, "tesla_expires_in": int, "tesla_vehicle_id": str,
    "rfid_storage": str, "led_brightness": int, "scheduler_start_window": int, "flags": int,
    "flags_changed": int, "emoncms_enabled": bool, "mqtt_enabled": bool,
    "mqtt_reject_unauthorized": bool, "mqtt_retained": bool, "ohm_enabled": bool,
    "sntp_enabled": bool, "tesla_enabled": bool, "divert_enabled": bool,
    "current_shaper_enabled": bool, "pause_uses_disabled": bool,
    "mqtt_vehicle_range_miles": bool, "ocpp_enabled": bool, "ocpp_auth_auto": bool,
    "ocpp_auth_offline": bool, "ocpp_suspend_evse": bool, "ocpp_energize_plug": bool,
    "rfid_enabled": bool, "factory_write_lock": bool, "is_threephase": bool,
    "wizard_passed": bool, "default_state": bool, "mqtt_protocol": str, "charge_mode": str,
}


def test_gateway_config_has_every_key_of_the_v5_firmware_with_its_type():
    gw, c = _setup()
    gw.config.update({"divert_enabled": True, "charge_mode": "eco"})

    async def t():
        d = (await c.get("/config")).json
        missing = [k for k in V5_CONFIG if k not in d]
        assert not missing, missing
        wrong = [k for k, ty in V5_CONFIG.items()
                 if not isinstance(d[k], ty) or (ty is int and isinstance(d[k], bool))]
        assert not wrong, [(k, d[k]) for k in wrong]
        assert d["flags"] & (1 << 9) and d["flags"] & (1 << 10)  # divert_enabled, eco
        for k in ("diodet", "gfcit", "groundt", "relayt", "ventt", "tempt"):  # the v2 names too
            assert d[k] in (0, 1), k

    asyncio.run(t())


def test_gateway_charger_setting_without_a_controller_is_refused_not_dropped():
    gw, c = _setup()

    async def t():
        v = gw.config.version
        r = await c.post("/config", body={"service": 1, "hostname": "evse"})
        assert r.status_code == 400 and r.json["field"] == "service"
        assert "not connected" in r.json["msg"]  # and nothing of the request saved
        r = await c.post("/config", body={"diodet": 2})
        assert r.status_code == 400 and r.json["field"] == "diodet"
        assert gw.config.version == v and gw.config.get("hostname") == "openevse-test"
        r = await c.post("/config", body={"service": 2, "mqtt_port": "x"})
        assert r.status_code == 400 and r.json["field"] == "mqtt_port"  # checked first

    asyncio.run(t())


def test_gateway_routes_every_charger_key_to_the_controller():
    import gateway

    gw, c = _setup()
    good = {"service": 2, "scale": 220, "offset": 0, "max_current_hard": 30, "max_current_soft": 16}

    async def t():
        for k in gateway.CHARGER_KEYS:
            r = await c.post("/config", body={k: good.get(k, 1)})
            # written to the controller, which is missing here: never saved as "no change"
            assert r.status_code == 400 and r.json["field"] == k, (k, r.json)

    asyncio.run(t())
