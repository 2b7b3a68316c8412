# Eco mode through its settings and its claim (issue 11): every divert setting at its bounds
# (accepted by config.Config, handed to the controller by divert.service, obeyed by the
# controller), a start time of 0, Eco switched on before the first feed sample, and a claim
# that could not be made. Runs under CPython (pytest) and MicroPython; time is simulated.
import asyncio

import claims as C
from config import Config, ConfigError
from divert.controller import MODE_ECO, DivertController
from divert.service import DivertService
from events import Bus
from gateway import Gateway
from test_divert import V, Rig, grid_w_for
from web.app import create_app
from webclient import Client


class FakeModel:
    def __init__(self, vehicle=True, charging=False, amp_ma=0):
        self.vehicle = vehicle
        self.charging = charging
        self.amp_ma = amp_ma
        self.voltage_mv = V
        self.state = 3 if charging else 254

    def limits(self):
        return 6, 32


def _gw(model=None, **cfg):
    config = Config(None, defaults={"hostname": "openevse-test"})
    if cfg:
        config.update(cfg)
    gw = Gateway(None, config, Bus(), C.Claims(lambda: (6, 32)), model or FakeModel())
    gw.divert = DivertService(gw)
    return gw


SETTINGS = (  # key, lowest, highest, controller attribute (ms) or None
    ("divert_start_time", 0, 3600, "start_ms"),
    ("divert_stale_time", 10, 3600, "stale_ms"),
    ("divert_change_time", 10, 3600, "min_change_ms"),
    ("divert_type", -1, 1, None),
)


def test_each_divert_setting_is_taken_at_its_bounds_and_refused_beyond():
    for key, lo, hi, attr in SETTINGS:
        gw = _gw()
        for v in (lo, hi):
            gw.config.update({key: v})
            assert gw.config.get(key) == v
            if attr:
                assert getattr(gw.divert.ctrl, attr) == v * 1000, (key, v)
        for v in (lo - 1, hi + 1, 1e309):
            try:
                gw.config.update({key: v})
                raise AssertionError("accepted %s=%r" % (key, v))
            except ConfigError as e:
                assert e.field == key
        assert gw.config.get(key) == hi
    gw = _gw()
    gw.config.update({"divert_type": 0})
    assert gw.divert.ctrl.feed_type == "solar"
    gw.config.update({"divert_type": 1})
    assert gw.divert.ctrl.feed_type == "grid"


def test_start_time_0_starts_at_the_first_good_sample():
    r = Rig(start_ms=0)
    r.run(9, 10)
    assert r.want == "disabled"
    r.run(1, 10)  # the first sample, at 10 s
    assert r.want == "active" and r.amps == 10


def test_start_time_3600_waits_an_hour_of_surplus():
    r = Rig(start_ms=3600000)
    r.run(3609, 10)
    assert r.want == "disabled"
    r.run(20, 10)
    assert r.want == "active"
    assert r.log[-1][0] in (3610, 3620)


def _stale_rig(stale_s):
    r = Rig(stale_ms=stale_s * 1000)
    r.run(600, 12)
    assert (r.want, r.amps) == ("active", 12)
    r.feed_on = False
    return r


def test_stale_time_10_falls_back_after_10_s():
    r = _stale_rig(10)
    r.run(9, 12)
    assert r.amps == 12
    r.run(1, 12)
    assert (r.want, r.amps) == ("active", 6)


def test_stale_time_3600_holds_an_hour():
    r = _stale_rig(3600)
    r.run(3599, 12)
    assert (r.want, r.amps) == ("active", 12)
    r.run(1, 12)  # beyond the 300 s pause time too: paused at once
    assert r.want == "disabled"


def _reversal_gap(change_s):
    r = Rig(min_change_ms=change_s * 1000)
    r.run(3800, 10)  # started, and longer ago than the change time
    r.run(15, 16)  # up at the next sample
    r.run(4000, 8)  # and down again
    ups = [t for t, w, a in r.log if w == "active" and a == 16]
    downs = [t for t, w, a in r.log if w == "active" and a == 8]
    assert ups and downs, r.log
    return downs[0] - ups[0]


def test_change_time_bounds_space_opposite_changes():
    gap = _reversal_gap(3600)
    assert 3600 <= gap <= 3610, gap
    gap = _reversal_gap(10)
    assert 10 <= gap < 60, gap  # well inside the 60 s default


def test_eco_switched_on_before_the_first_sample_keeps_the_running_charge():
    c = DivertController()
    c.set_mode(MODE_ECO)
    assert c.update(1000, True, True, 16000, V) == ("active", 16)  # used to pause at once
    assert c.update(1000 + c.stale_ms - 1000, True, True, 16000, V) == ("active", 16)
    assert c.update(1000 + c.stale_ms, True, True, 16000, V) == ("active", 6)
    assert c.update(1000 + c.stale_pause_ms, True, True, 6000, V) == ("disabled", 0)
    c.feed(1000 + c.stale_pause_ms + 1000, grid_w_for(12))  # the feed arrives: resumed
    assert c.update(1000 + c.stale_pause_ms + 1000, True, False, 0, V)[0] == "active"
    # through the service: the divert claim keeps the charge going
    gw = _gw(FakeModel(charging=True, amp_ma=16000))
    gw.set_divert_mode(2)
    assert gw.claims.props(C.CLIENT_DIVERT) == {"state": "active", "charge_current": 16}


def test_a_failed_eco_claim_is_retried_and_reported():
    gw = _gw()
    real = gw.claims.replace
    fails = [1]

    def flaky(client, prio, props):
        if fails[0]:
            fails[0] -= 1
            raise C.ClaimError("no room")
        real(client, prio, props)

    gw.claims.replace = flaky
    gw.set_divert_mode(2)  # the first claim fails ...
    assert gw.claims.props(C.CLIENT_DIVERT) is None
    assert "no room" in gw.divert.status()["divert_error"]
    gw.divert.step()  # ... the next step (1 s later) makes it: the charger waits, not full current
    assert gw.claims.props(C.CLIENT_DIVERT) == {"state": "disabled"}
    assert gw.claims.target()[0]["state"] == "disabled"
    assert "divert_error" not in gw.divert.status()


def test_eco_with_a_full_claims_table_and_honest_errors():
    gw = _gw()
    for i in range(C.MAX_CLAIMS):
        gw.claims.replace(100 + i, C.API, {"charge_current": 20})
    app = create_app(gw)
    c = Client(app)

    async def t():
        r = await c.post("/divertmode", body="divertmode=2", headers={"Content-Type": "text/plain"})
        assert r.status_code == 200 and r.text == "Divert Mode changed"
        assert gw.claims.props(C.CLIENT_DIVERT) == {"state": "disabled"}
        r = await c.post("/divertmode", body="divertmode=7", headers={"Content-Type": "text/plain"})
        assert r.status_code == 400 and r.text == "divertmode must be 1 or 2"
        gw.divert = None
        r = await c.post("/divertmode", body="divertmode=2", headers={"Content-Type": "text/plain"})
        assert r.status_code == 400 and r.text == "divert not available"

    asyncio.run(t())
