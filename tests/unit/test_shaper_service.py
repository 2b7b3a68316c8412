# The current shaper's service wired to a Gateway and the claims (firmware/shaper_service.py):
# its claim beats the manual override, the current stays in [6 A, max], off releases it.
# Run under both interpreters.
import claims as C
import config
from events import Bus


class _Model:
    vehicle = 1
    charging = True
    amp_ma = 0
    voltage_mv = 240000

    def limits(self):
        return 6, 32


def _gw(**settings):
    import gateway as G
    from shaper_service import ShaperService

    bus = Bus()
    seen = []
    bus.subscribe(seen.append)
    cfg = config.Config(None)
    cfg.update(settings)
    gw = G.Gateway(None, cfg, bus, C.Claims(lambda: (6, 32)))
    gw.model = _Model()

    def start(name):  # what startup.run's start() does
        gw.shaper = ShaperService(gw)
        gw.status_parts.append(gw.shaper.status)
        return gw.shaper

    gw.start_optional = start
    return gw, seen


def test_switched_on_it_caps_the_current_above_the_manual_override():
    gw, seen = _gw(current_shaper_max_pwr=4800)
    gw.override_set({"state": "active", "charge_current": 32})
    gw.set_shaper(True)
    props, win = gw.claims.target()
    assert props["state"] == "disabled" and win["state"] == C.CLIENT_SHAPER  # no data yet
    gw.status_input("shaper_live_pwr", 2400)  # (4800 - 2400) / 240 V = 10 A
    props, win = gw.claims.target()
    assert props["state"] == "active" and props["charge_current"] == 10
    assert gw.claims.get(C.CLIENT_SHAPER) == {"max_current": 10, "priority": C.SHAPER}
    st = gw.status()
    assert st["shaper"] == 1 and st["shaper_cur"] == 10 and st["shaper_updated"] is True
    assert st["shaper_live_pwr"] == 2400 and st["shaper_max_pwr"] == 4800
    assert any(d.get("shaper_cur") == 10 for d in seen)  # pushed to the page and MQTT


def test_no_room_for_6a_pauses_over_the_manual_override():
    gw, _ = _gw(current_shaper_max_pwr=4800)
    gw.override_set({"state": "active"})
    gw.model.amp_ma = 10000  # charging at 10 A (a reading of 0 in the last 3 s would count)
    gw.set_shaper(True)
    gw.status_input("shaper_live_pwr", 2400 + 2400)  # EV 10 A + house 2400 W: 10 A room
    assert gw.claims.target()[0]["charge_current"] == 10
    gw.status_input("shaper_live_pwr", 2400 + 3800)  # house 3800 W: 4 A, under 6 A
    props, win = gw.claims.target()
    assert props["state"] == "disabled" and win["state"] == C.CLIENT_SHAPER
    assert gw.status()["shaper_paused"] is True


def test_switched_off_the_claim_goes_and_the_setting_stays():
    gw, seen = _gw(current_shaper_max_pwr=4800, current_shaper_enabled=True)
    gw.set_shaper(True)
    gw.status_input("shaper_live_pwr", 1000)
    assert gw.claims.get(C.CLIENT_SHAPER) is not None
    gw.set_shaper(False)
    assert gw.claims.get(C.CLIENT_SHAPER) is None
    assert gw.claims.target()[0]["charge_current"] == 32
    st = gw.status()
    assert st["shaper"] == 0 and st["shaper_cur"] == 255
    assert gw.config.get("current_shaper_enabled") is True  # temporary, as the C++ gateway


def test_settings_change_applies_at_once():
    gw, _ = _gw(current_shaper_max_pwr=4800)
    gw.set_shaper(True)
    gw.status_input("shaper_live_pwr", 2400)
    assert gw.claims.target()[0]["charge_current"] == 10
    gw.config.update({"current_shaper_max_pwr": 6000})  # (6000 - 2400) / 240 = 15 A
    assert gw.claims.target()[0]["charge_current"] == 15


def test_without_the_service_off_is_accepted_and_on_needs_it():
    import gateway as G

    gw = G.Gateway(None, config.Config(None), Bus(), C.Claims(lambda: (6, 32)))
    gw.set_shaper(False)
    try:
        gw.set_shaper(True)
        raise AssertionError("no ValueError")
    except ValueError as e:
        assert "not available" in str(e)


def test_divert_solar_feed_raises_the_limit_while_fresh():
    from divert.service import DivertService

    gw, _ = _gw(current_shaper_max_pwr=4800, divert_enabled=True, divert_type=0)
    gw.divert = DivertService(gw)
    gw.set_shaper(True)
    gw.status_input("shaper_live_pwr", 2400)
    assert gw.claims.target()[0]["charge_current"] == 10
    gw.divert_feed("solar", 1200)  # (4800 + 1200 - 2400) / 240 = 15 A
    gw.shaper.step()
    assert gw.claims.target()[0]["charge_current"] == 15
