# Claims, config, model parsers, captive DNS, gateway rules. Run under both interpreters.
import claims as C
import config
from events import Bus
from net import dns
from rapi import model as M


def _claims(max_a=32):
    return C.Claims(lambda: (6, max_a))


def test_claims_default_active_at_max():
    props, winners = _claims().target()
    assert props["state"] == "active" and props["charge_current"] == 32 and winners == {}


def test_claims_priority_wins_per_property():
    c = _claims()
    c.set(C.CLIENT_DIVERT, C.DIVERT, {"state": "active", "charge_current": 10})
    c.set(C.CLIENT_MANUAL, C.MANUAL, {"state": "disabled"})
    props, winners = c.target()
    assert props["state"] == "disabled" and winners["state"] == C.CLIENT_MANUAL
    assert props["charge_current"] == 10 and winners["charge_current"] == C.CLIENT_DIVERT


def test_claims_clamped_to_safe_range():
    c = _claims(16)
    c.set(1, 500, {"charge_current": 3})
    assert c.target()[0]["charge_current"] == 6
    c.set(1, 500, {"charge_current": 80})
    assert c.target()[0]["charge_current"] == 16
    c.set(2, 600, {"max_current": 10})
    assert c.target()[0]["charge_current"] == 10


def test_claims_auto_release_and_versions():
    c = _claims()
    calls = []
    c.on_change = lambda: calls.append(1)
    c.set(5, 500, {"state": "disabled", "auto_release": True})
    c.set(6, 400, {"charge_current": 8})
    v = c.version
    assert c.release_auto() == [5]
    assert c.version == v + 1 and len(calls) == 3
    assert c.get(6)["charge_current"] == 8 and c.get(5) is None


def test_claims_validate_props():
    assert C.validate_props({"state": "active", "charge_current": 12.0}) == {
        "state": "active", "charge_current": 12}
    for bad in ({"state": "on"}, {"charge_current": "x"}, {"charge_current": True},
                {"auto_release": 1}, {"max_current": -1}, []):
        try:
            C.validate_props(bad)
        except C.ClaimError:
            pass
        else:
            raise AssertionError(bad)


def test_config_validation_names_field_and_saves_nothing():
    cfg = config.Config()
    try:
        cfg.update({"mqtt_port": 70000, "mqtt_server": "broker"})
    except config.ConfigError as e:
        assert e.field == "mqtt_port" and "mqtt_port" in e.msg
    else:
        raise AssertionError("accepted")
    assert cfg.get("mqtt_server") == ""
    assert cfg.update({"mqtt_port": "1884", "unknown": 1}) == ["mqtt_port"]
    assert cfg.get("mqtt_port") == 1884


def test_config_masks_secrets_and_keeps_them():
    cfg = config.Config()
    cfg.update({"mqtt_pass": "s3cret"})
    assert cfg.public()["mqtt_pass"] == config.SECRET_MASK
    cfg.update({"mqtt_pass": config.SECRET_MASK})
    assert cfg.get("mqtt_pass") == "s3cret"


def test_config_atomic_save_and_load():
    import os

    path = "test_cfg_tmp.json"
    try:
        cfg = config.Config(path)
        cfg.update({"mqtt_server": "emonpi", "mqtt_enabled": True})
        assert not _exists(path + ".tmp")
        cfg2 = config.Config(path)
        cfg2.load()
        assert cfg2.get("mqtt_server") == "emonpi" and cfg2.get("mqtt_enabled") is True
        with open(path, "w") as f:
            f.write("{broken")
        cfg3 = config.Config(path)
        cfg3.load()  # a corrupt file falls back to the last good copy
        assert cfg3.get("mqtt_server") == "emonpi" and "restored" in cfg3.note
        os.remove("test_cfg_tmp.good")
        with open(path, "w") as f:
            f.write("{broken")
        cfg4 = config.Config(path)
        cfg4.load()  # ... and without one to the defaults, said so
        assert cfg4.get("mqtt_server") == "" and "defaults" in cfg4.note
    finally:
        for p in (path, path + ".tmp", path + ".bad", "test_cfg_tmp.good", "test_cfg_tmp.good.tmp"):
            if _exists(p):
                os.remove(p)


def _exists(p):
    try:
        open(p).close()
        return True
    except OSError:
        return False


def test_model_parsers():
    assert M.parse_gs(["03", "3625", "03", "0140"]) == (3, 3625, 3, 0x140)
    assert M.parse_at(["fe", "02", "16", "0100"]) == (254, 2, 16, 0x100)
    assert M.parse_gs(["zz", "1", "2", "3"]) is None
    assert M.parse_at(["01"]) is None
    assert M.parse_version("8.2.3.EU") == (8, 2, 3)
    assert M.parse_version("x") is None


def test_model_publishes_status_keys():
    bus = Bus()
    got = []
    bus.subscribe(got.append)
    m = M.EvseModel(bus)
    m.set("state", 3)
    m.set("amp_ma", 16000)
    m.set("voltage_mv", 230000)
    m.commit()
    d = got[-1]
    assert d["state"] == 3 and d["amp"] == 16000
    assert "status" not in d  # the claims' target, published by the gateway
    assert d["voltage"] == 230 and d["power"] == 3680
    m.set("state", 3)
    m.commit()
    assert len(got) == 1  # no change, no event


def test_model_never_shows_the_transient_state_0():
    bus = Bus()
    got = []
    bus.subscribe(got.append)
    m = M.EvseModel(bus)
    m.set("state", 254)
    m.commit()
    m.set("state", 0)  # after $FE the controller passes through 0 (starting)
    m.commit()
    assert m.state == 0 and m.status()["state"] == 254
    m.set("state", 3)
    m.commit()
    assert [d["state"] for d in got] == [254, 3]
    m.set("state", 0x10)  # a code rapi.md does not list (a D9 PP fault): shown as it is
    m.commit()
    assert got[-1]["state"] == 16 and not m.charging
    assert not M.actionable(16) and M.is_fault(16) and not M.actionable(0)
    assert M.actionable(254) and M.actionable(2) and not M.actionable(0x42)


def test_dns_reply_answers_a_only():
    q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x01" + b"\x07example\x03com\x00" + b"\x00\x01\x00\x01"
    q += b"\x00\x00\x29\x10\x00\x00\x00\x00\x00\x00\x00"  # EDNS OPT record: must not be echoed
    r = dns.build_reply(q, "192.168.4.1")
    assert r[:2] == b"\x12\x34" and r[2] & 0x80 and r[7] == 1 and r[10:12] == b"\x00\x00"
    assert r.endswith(bytes([192, 168, 4, 1]))
    assert len(r) == 12 + 17 + 16
    aaaa = q[:-15] + b"\x00\x1c\x00\x01"
    r = dns.build_reply(aaaa, "192.168.4.1")
    assert r[7] == 0 and len(r) == 12 + 17
    assert dns.build_reply(b"\x00" * 5, "1.2.3.4") is None
    assert dns.build_reply(r, "1.2.3.4") is None  # responses are ignored


def test_limit_reached_rules():
    import limits

    assert not limits.reached(None, 10000, 10000)
    assert limits.reached({"type": "time", "value": 30}, 1800, 0)
    assert not limits.reached({"type": "time", "value": 30}, 1799, 0)
    assert limits.reached({"type": "energy", "value": 5000}, 0, 5000)
    assert not limits.reached({"type": "soc", "value": 80}, 0, 0, None)  # no vehicle data: never stop
    assert limits.reached({"type": "soc", "value": 80}, 0, 0, 81)
    assert limits.reached({"type": "range", "value": 200}, 0, 0, None, 250)


def test_supervisor_restarts_a_crashing_task():
    import asyncio

    from supervisor import supervise

    runs = []
    logs = []

    async def flaky():
        runs.append(1)
        if len(runs) < 3:
            raise ValueError("boom %d" % len(runs))
        await asyncio.sleep(10)

    async def main():
        t = asyncio.create_task(supervise("flaky", flaky, pause_ms=1, log=logs.append))
        for _ in range(200):
            await asyncio.sleep(0.005)
            if len(runs) >= 3:
                break
        t.cancel()
        try:
            await t
        except asyncio.CancelledError:
            pass

    asyncio.run(main())
    assert len(runs) == 3
    assert len(logs) == 2 and "crashed" in logs[0] and "boom 1" in logs[0]


def test_gateway_uptime_survives_the_tick_wrap():
    # On a 32-bit MicroPython ticks_ms() wraps every 2**30 ms (12.4 days) and ticks_diff() is
    # only right for spans under 6.2 days; uptime must keep counting for months. Under the
    # ESP32-profile runtime (make test-mpy) the fake clock below really wraps.
    import compat
    import gateway as G

    now = [compat.ticks_add(0, -3600000)]  # one hour before the first wrap
    real = G.ticks_ms
    G.ticks_ms = lambda: now[0]
    try:
        gw = G.Gateway(None, config.Config(None), Bus(), _claims())
        for day in range(1, 31):
            for _ in range(4):  # the housekeeping task calls it far more often than this
                now[0] = compat.ticks_add(now[0], 6 * 3600000)
                gw.uptime()
            assert gw.uptime() == day * 86400, (day, gw.uptime())
    finally:
        G.ticks_ms = real


def test_gateway_heap_sample_tracks_the_lowest_free():
    import gc

    import gateway as G

    if not hasattr(gc, "mem_free"):
        return  # CPython: no MicroPython heap to sample
    gw = G.Gateway(None, config.Config(None), Bus(), _claims())
    gw.sample_heap()
    first = gw.heap_min
    assert first > 0 and gw.heap_used > 0
    hog = bytearray(4096)
    gw.sample_heap()
    assert gw.heap_min <= first - 4000 and gw.heap_free == gw.heap_min
    hog = None  # noqa: F841
    gw.sample_heap()
    assert gw.heap_free > gw.heap_min  # the lowest is kept after memory is freed


def test_watchdog_task_feeds_at_once_and_boot_count_reads_back():
    # the hardware watchdog (30 s on the chip) must be fed from the first second on
    import asyncio

    import startup

    class Board:
        web_down_s = 60
        mem = b""
        fed = 0

        def wdt_feed(self):
            Board.fed += 1

        def bootmem(self, data=None):
            if data is None:
                return Board.mem
            Board.mem = data

    class Srv:
        listening = True

    class App:
        server = Srv()

    real = startup.board
    startup.board = Board()
    try:
        async def t():
            try:
                await asyncio.wait_for(startup._watchdog(App()), 0.05)
            except asyncio.TimeoutError:
                pass

        asyncio.run(t())
        assert Board.fed >= 1
        assert startup._bootmem() == (0, "")
        startup._bootmem(2, "OSError: x (board.py:1 f)")
        assert startup._bootmem() == (2, "OSError: x (board.py:1 f)")
        Board.mem = b"\xff\x00garbage"
        assert startup._bootmem() == (0, "")  # unreadable memory is no failure count
    finally:
        startup.board = real
