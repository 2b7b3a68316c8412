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
from web.app import create_app
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
