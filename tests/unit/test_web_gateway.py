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
    gw.version = "5.1.0"
    app = create_app(gw)
    app.restart_delay_ms = 0
    return gw, Client(app)


def test_gateway_config_get_has_client_keys():
    gw, c = _setup()

    async def t():
        r = await c.get("/config")
        d = r.json
        assert d["version"] == "v5.1.0" and d["wifi_serial"] == "A1B2C3D4E5F6"
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
