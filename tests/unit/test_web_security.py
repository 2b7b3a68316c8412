# Attacks and careless clients against the web API over the firmware's real Gateway, Config
# and Claims (issue 11): cross-site requests, JSON under other content types, RAPI over GET,
# safety checks switched off, a full claims table, methods other than the documented ones,
# header injection through settings, inputs that used to give 500. Every test here failed
# before its fix (except the method table, which proves the server's 405). Runs under CPython
# (pytest) and MicroPython (tests/run_mpy.py).
import asyncio
import binascii

import claims as C
from config import Config
from events import Bus
from gateway import Gateway
from rapi import codec
from web.app import ROUTES, create_app
from webclient import Client

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
EVIL = "http://evil.example"


class _Board:
    BUILDENV = "micropython_test"
    static_dir = "firmware/web/static"


class FakeRapi:
    """Answers every command $OK and remembers it."""

    def __init__(self):
        self.cmds = []
        self.sent = self.success = 0  # the counters /status shows

    async def command(self, cmd):
        codec.encode(cmd)  # as rapi.client: ValueError for what cannot be framed
        self.cmds.append(cmd)
        return codec.Line(codec.KIND_OK, "OK", [], 0, "$OK")


class FakeModel:
    """An EV plugged in, not charging."""

    vehicle = True
    charging = False
    amp_ma = 0
    voltage_mv = 240000
    state = 254

    def limits(self):
        return 6, 32


def _setup(**cfg):
    from divert.service import DivertService

    config = Config(None, defaults={"hostname": "openevse-test"})
    if cfg:
        config.update(cfg)
    gw = Gateway(_Board(), config, Bus(), C.Claims(lambda: (6, 32)), FakeModel(), FakeRapi())
    gw.divert = DivertService(gw)
    gw.serial = "A1B2C3D4E5F6"
    gw.version = "5.1.0"
    gw.restarts = []
    gw.restart_hook = gw.restarts.append
    app = create_app(gw)
    app.restart_delay_ms = 0
    return gw, Client(app)


def run(coro):
    return asyncio.run(coro)


def _snapshot(gw):
    return (dict(gw.config._v), gw.claims.list(), gw.limit_get(), list(gw.rapi.cmds), list(gw.restarts))


# (method, path, body, headers): one request per acting route, as a page could send it
def _acting_requests():
    return [
        ("POST", "/config", '{"developer_mode": true}', {"Content-Type": "application/json"}),
        ("POST", "/override", '{"state": "active"}', {"Content-Type": "application/json"}),
        ("PATCH", "/override", None, {}),
        ("DELETE", "/override", None, {}),
        ("POST", "/claims/20", '{"state": "active"}', {"Content-Type": "application/json"}),
        ("DELETE", "/claims/20", None, {}),
        ("POST", "/limit", '{"type": "time", "value": 5}', {"Content-Type": "application/json"}),
        ("DELETE", "/limit", None, {}),
        ("POST", "/divertmode", "divertmode=2", {"Content-Type": "text/plain"}),
        ("GET", "/divertmode?divertmode=2", None, {}),
        ("POST", "/status", '{"grid_ie": -5000}', {"Content-Type": "application/json"}),
        ("POST", "/savenetwork", "ssid=Evil&pass=x", FORM),
        ("GET", "/savenetwork?ssid=Evil", None, {}),
        ("POST", "/r", "json=1&rapi=$FF+G+0&confirm=1", FORM),
        ("GET", "/r?json=1&rapi=$FB+1", None, {}),
        ("POST", "/restart", '{"device": "evse"}', {"Content-Type": "application/json"}),
        ("GET", "/restart", None, {"X-Requested-With": "x"}),
        ("POST", "/reset", None, {"X-Requested-With": "x"}),
    ]


def test_cross_site_requests_are_refused_on_every_acting_route():
    async def t():
        for origin in ({"Origin": EVIL}, {"Origin": "null"}, {"Referer": EVIL + "/page"},
                       {"Sec-Fetch-Site": "cross-site"},
                       {"Origin": "http://127.0.0.1:8123"}):  # another port is another site
            gw, c = _setup(developer_mode=True)
            before = _snapshot(gw)
            for method, path, body, headers in _acting_requests():
                h = dict(headers)
                h.update(origin)
                r = await c.request(method, path, body, h)
                assert r.status_code == 403, (origin, method, path, r.status_code, r.body)
                assert r.json == {"msg": "cross-site request refused"}
            await asyncio.sleep(0.01)  # restarts would run now
            assert _snapshot(gw) == before, origin
            assert gw.divert_mode() == 1 and gw.override_version == 1
            # the WebSocket with the live status is not for other sites either
            r = await c.get("/ws", headers={"Origin": EVIL, "Upgrade": "websocket",
                                            "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                                            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
            assert r.status_code == 403

    run(t())


def test_reads_and_our_own_page_and_api_clients_still_work():
    async def t():
        gw, c = _setup()
        # a link from another site to the UI or a read: fine (the page cannot read the answer)
        assert (await c.get("/status", headers={"Sec-Fetch-Site": "cross-site"})).status_code == 200
        # the UI's own requests: same origin
        own = {"Origin": "http://127.0.0.1", "Sec-Fetch-Site": "same-origin"}
        r = await c.post("/override", body={"state": "disabled"}, headers=own)
        assert r.status_code == 201
        r = await c.post("/divertmode", body="divertmode=1", headers={"Referer": "http://127.0.0.1/#home",
                                                                        "Content-Type": FORM["Content-Type"]})
        assert r.status_code == 200
        # python-openevse-http (HA): JSON with application/json, forms as text/plain, no Origin
        ha = {"X-Requested-With": "OpenEVSE"}
        r = await c.post("/claims/20", body={"state": "active", "auto_release": True}, headers=ha)
        assert r.json == {"msg": "done"}
        h = dict(ha)
        h["Content-Type"] = "text/plain; charset=utf-8"
        assert (await c.post("/divertmode", body="divertmode=1", headers=h)).status_code == 200
        h["Content-Type"] = FORM["Content-Type"]
        r = await c.post("/r?json=1&", body="rapi=%24GS", headers=h)
        assert r.status_code == 200 and gw.rapi.cmds[-1] == "$GS"
        # evcc and node-openevse: GET /r for reads and the display
        assert (await c.get("/r?json=1&rapi=%24G7")).status_code == 200
        assert (await c.get("/r?json=1&rapi=$FB%207")).status_code == 200
        assert gw.rapi.cmds[-2:] == ["$G7", "$FB 7"]

    run(t())


def test_json_needs_the_json_content_type():
    async def t():
        gw, c = _setup()
        for ct in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                   "text/plain; charset=application/json", ""):
            h = {"Content-Type": ct} if ct else {}
            for body in ('{"developer_mode": true}', '  [1]', '\n{"developer_mode": true}'):
                r = await c.post("/config", body=body, headers=h)
                assert r.status_code == 415, (ct, body, r.status_code)
                assert "application/json" in r.json["msg"]
            r = await c.post("/override", body='{"state": "disabled"}', headers=h)
            assert r.status_code == 415
        assert gw.config.get("developer_mode") is False and gw.claims.list() == []
        r = await c.post("/config", body={"developer_mode": True})
        assert r.status_code == 200 and gw.config.get("developer_mode") is True

    run(t())


def test_rapi_over_get_runs_only_the_allow_list():
    async def t():
        gw, c = _setup(developer_mode=True)
        r = await c.get("/r?json=1&rapi=$SC+20")
        assert r.status_code == 405 and r.json["error"] == "RAPI_RESPONSE_BLOCKED"
        r = await c.get("/r?rapi=$FE")  # the HTML console too
        assert r.status_code == 405 and "<form method='post'" in r.text
        assert gw.rapi.cmds == []
        r = await c.post("/r", body="json=1&rapi=$SC+20", headers=FORM)
        assert r.status_code == 200 and gw.rapi.cmds == ["$SC 20"]
        # without developer mode the answer stays the API's 400 BLOCKED, over GET as well
        gw.config.update({"developer_mode": False})
        r = await c.get("/r?json=1&rapi=$SC+20")
        assert r.status_code == 400 and r.json == {"cmd": "$SC 20", "error": "RAPI_RESPONSE_BLOCKED"}

    run(t())


def test_switching_a_safety_check_off_needs_confirmation():
    async def t():
        gw, c = _setup(developer_mode=True)
        for cmd in ("$FF G 0", "$FF G 00", "$ff g 0", "$FF  G 1", "$FF D 0", "$FF R 0", "$FF T 0",
                    "$FF V 0", "$FF F 0", "$SG 0", "$SD", "$SY 0 0", "$SO 650 800"):
            r = await c.post("/r", body="json=1&rapi=" + cmd.replace(" ", "+"), headers=FORM)
            assert r.status_code == 400, (cmd, r.status_code)
            assert r.json["error"] == "RAPI_RESPONSE_CONFIRM" and "confirm=1" in r.json["msg"]
        assert gw.rapi.cmds == []
        r = await c.post("/r", body="json=1&rapi=$FF+G+0&confirm=1", headers=FORM)
        assert r.status_code == 200 and gw.rapi.cmds == ["$FF G 0"]
        for cmd in ("$FF G 1", "$FF B 0", "$FF E 0", "$SY 5 6", "$SY", "$SV 230000"):  # no check off
            r = await c.post("/r", body="json=1&rapi=" + cmd.replace(" ", "+"), headers=FORM)
            assert r.status_code == 200, cmd
        # MQTT rapi/in has no way to confirm: the gateway refuses it there
        ok, reply = await gw.rapi_passthrough("$FF G 0")
        assert not ok and reply == "RAPI_RESPONSE_CONFIRM"

    run(t())


def test_a_command_that_cannot_be_sent_is_400():
    async def t():
        gw, c = _setup()
        for cmd in ("$G" + "S" * 40, "$GS\r$FE", "$GS$FE"):
            r = await c.post("/r", body="json=1&rapi=" + cmd.replace("\r", "%0D"), headers=FORM)
            assert r.status_code == 400 and r.json["error"] == "RAPI_RESPONSE_INVALID", cmd
        assert gw.rapi.cmds == []

    run(t())


def test_a_query_that_is_not_utf8_is_400():
    # found by the fault suite's HTTP fuzz: GET /r?rapi=%ff answered 500
    async def t():
        gw, c = _setup()
        for path in ("/r?json=1&rapi=%ff", "/rapi?rapi=%c3", "/divertmode?divertmode=%ff",
                     "/status?%fe=1", "/config?x=%80"):
            r = await c.get(path)
            assert r.status_code == 400, (path, r.status_code)
        assert gw.rapi.cmds == [] and gw.divert_mode() == 1

    run(t())


def test_factory_reset_needs_the_header_on_both_methods():
    async def t():
        gw, c = _setup()
        gw.factory_reset = lambda: gw.restarts.append("reset")
        assert (await c.post("/reset")).status_code == 403
        assert (await c.get("/reset")).status_code == 403
        await asyncio.sleep(0.01)
        assert gw.restarts == []
        r = await c.post("/reset", headers={"X-Requested-With": "OpenEVSE"})
        assert r.text == "1"
        await asyncio.sleep(0.01)
        assert gw.restarts == ["reset"]

    run(t())


def test_only_the_documented_methods_act():
    # HEAD /reset used to factory-reset; web/server.py answers 405 to every unlisted method
    async def t():
        gw, c = _setup(developer_mode=True)
        gw.factory_reset = lambda: gw.restarts.append("reset")
        paths = {}
        for m, p, mod, fn in ROUTES:
            paths.setdefault(p.replace("#", "20"), []).append(m)
        before = _snapshot(gw)
        n = 0
        for path in paths:
            for m in ("HEAD", "PUT", "OPTIONS", "TRACE", "CONNECT", "get", "post", "GET", "POST",
                      "PATCH", "DELETE"):
                if m in paths[path]:
                    continue
                r = await c.request(m, path + "?divertmode=2&rapi=$FE", '{"device": "evse"}',
                                    {"X-Requested-With": "OpenEVSE",
                                     "Content-Type": "application/json"})
                assert r.status_code == 405, (m, path, r.status_code)
                n += 1
        await asyncio.sleep(0.01)
        assert n > 80 and _snapshot(gw) == before and gw.divert_mode() == 1

    run(t())


def test_a_full_claims_table_never_locks_out_stop_or_the_button():
    async def t():
        gw, c = _setup()
        for i in range(C.MAX_CLAIMS):
            r = await c.post("/claims/%d" % (100 + i), body={"state": "active", "charge_current": 20})
            assert r.json == {"msg": "done"}, i
        r = await c.post("/claims/200", body={"state": "active"})  # the newcomer is told
        assert r.status_code == 400 and "claims table full" in r.json["msg"]
        # Stop (the manual override), the button (a toggle), the limit: all still act
        r = await c.post("/override", body={"state": "disabled"})
        assert r.status_code == 201 and gw.claims.target()[0]["state"] == "disabled"
        assert (await c.patch("/override")).status_code == 200
        gw.override_toggle()  # what the controller's front button does ($AN)
        assert gw.claims.target()[0]["state"] == "disabled"
        gw.limit_set({"type": "time", "value": 1})
        gw.claims.replace(C.CLIENT_LIMIT, C.LIMIT, {"state": "disabled"})
        gw.claims.replace(C.CLIENT_DIVERT, C.DIVERT, {"state": "disabled"})
        assert (await c.post("/claims/201", body={"state": "active"})).status_code == 400
        assert (await c.delete("/claims/100")).json == {"msg": "done"}
        assert (await c.post("/claims/201", body={"state": "active"})).json == {"msg": "done"}

    run(t())


def test_settings_cannot_inject_headers():
    async def t():
        gw, c = _setup()
        for bad in ("openevse\r\nSet-Cookie: a=b", "open evse", "a\"b", "-lead", "x" * 64, "",
                    "caf\u00e9", "a\ud800b", "a.b"):
            r = await c.post("/config", body={"hostname": bad})
            assert r.status_code == 400 and r.json["field"] == "hostname", repr(bad)
        assert gw.config.get("hostname") == "openevse-test"
        assert (await c.post("/config", body={"www_username": "adm:in", "www_password": "pw"})).status_code == 400
        r = await c.post("/config", body={"hostname": "garage-2", "www_password": "pw"})
        assert r.json["msg"] == "done"
        r = await c.get("/status")
        assert r.status_code == 401 and r.headers["WWW-Authenticate"] == 'Basic realm="garage-2"'
        auth = {"Authorization": "Basic " + binascii.b2a_base64(b":pw").decode().strip()}
        assert (await c.get("/status", headers=auth)).status_code == 200

    run(t())


def test_numbers_out_of_range_and_deep_json_are_400_not_500():
    async def t():
        gw, c = _setup()
        before = dict(gw.config._v)
        for key in ("mqtt_port", "divert_start_time", "max_current_soft", "led_brightness"):
            for raw in ("1e309", "-1e309", "1e400"):
                r = await c.post("/config", body='{"%s": %s}' % (key, raw),
                                 headers={"Content-Type": "application/json"})
                assert r.status_code == 400 and r.json["field"] == key, (key, raw, r.status_code)
        r = await c.post("/limit", body='{"type": "time", "value": 1e309}',
                         headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and r.json["field"] == "value"
        deep = "[" * 1500 + "]" * 1500
        for path in ("/config", "/override", "/limit", "/status", "/claims/3"):
            r = await c.post(path, body=deep, headers={"Content-Type": "application/json"})
            assert r.status_code == 400, (path, r.status_code)
        assert gw.config._v == before and gw.limit_get() == {}

    run(t())


def test_unknown_keys_are_named_in_the_answer():
    async def t():
        gw, c = _setup()
        r = await c.post("/config", body={"max_current": 16})
        assert r.status_code == 200 and r.json["msg"] == "no change"
        assert r.json["ignored"] == ["max_current"]
        r = await c.post("/config", body={"led_brightness": 9, "mqtt_porrt": 1})
        assert r.json["msg"] == "done" and r.json["ignored"] == ["mqtt_porrt"]
        r = await c.post("/config", body={"led_brightness": 10})
        assert "ignored" not in r.json

    run(t())


def test_an_override_without_properties_is_refused():
    # {} or only unknown keys used to replace a paused override with an empty one: the
    # charger resumed (found by the MQTT fuzz: override/set {"device": "toaster"})
    async def t():
        gw, c = _setup()
        assert (await c.post("/override", body={"state": "disabled"})).status_code == 201
        for body in ({}, {"device": "toaster"}, {"energy_limit": 5}):
            r = await c.post("/override", body=body)
            assert r.status_code == 400 and "no properties" in r.json["msg"], body
            r = await c.post("/claims/30", body=body)
            assert r.status_code == 400, body
        assert gw.override_get() == {"state": "disabled"} and gw.claims.get(30) is None
        assert gw.claims.target()[0]["state"] == "disabled"

    run(t())
