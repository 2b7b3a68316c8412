"""The firmware (MicroPython) + virtual EVSE + a real mosquitto: OpenEVSE MQTT topics,
divert feeds and commands, HA discovery, bad payloads, announce and last will."""

import json
import signal
import time

import pytest
from harness import wait_for

BASE = "emon/openevse"


def mqtt_config(port, **kw):
    cfg = {
        "mqtt_enabled": True, "mqtt_server": "127.0.0.1", "mqtt_port": port,
        "mqtt_topic": BASE, "mqtt_grid_ie": "emon/grid", "mqtt_vrms": "emon/vrms",
        "mqtt_announce_topic": "openevse/announce/test", "divert_enabled": True,
        "mqtt_live_pwr": "emon/house", "current_shaper_max_pwr": 4800,
    }
    cfg.update(kw)
    return cfg


@pytest.fixture
def gw(broker, rig_factory):
    r = rig_factory(config=mqtt_config(broker.port))
    r.wait_connected()
    wait_for(lambda: r.status().get("mqtt_connected") == 1, 10, what="mqtt_connected")
    return r


def _announce(broker):
    m = broker.get("openevse/announce/test")
    return json.loads(m) if m else None


def test_divertmode_set_switches_to_eco(broker, gw):
    assert gw.status()["divertmode"] == 1
    broker.pub(BASE + "/divertmode/set", "2")
    wait_for(lambda: gw.status()["divertmode"] == 2, 5, what="divertmode 2")
    broker.pub(BASE + "/divertmode/set", "1")
    wait_for(lambda: gw.status()["divertmode"] == 1, 5, what="divertmode 1")


def test_grid_feed_reaches_divert(broker, gw):
    broker.pub("emon/grid", "-1500")
    wait_for(lambda: gw.status()["grid_ie"] == -1500, 5, what="grid_ie -1500")
    broker.pub("emon/grid", "250.4")
    wait_for(lambda: gw.status()["grid_ie"] == 250, 5, what="grid_ie 250")


def test_shaper_set_and_live_power_feed(broker, gw):
    # <base>/shaper/set switches the shaper (temporarily); mqtt_live_pwr feeds it
    assert gw.status()["shaper"] == 0
    broker.pub(BASE + "/shaper/set", "1")
    wait_for(lambda: gw.status()["shaper"] == 1, 5, what="shaper on")
    broker.pub("emon/house", "2400.4")
    # (4800 - 2400) / 240 V = 10 A of room; the claim caps the charger
    wait_for(lambda: gw.status()["shaper_live_pwr"] == 2400 and gw.status()["shaper_cur"] == 10,
             5, what="live power reached the shaper")
    wait_for(lambda: gw.evse()["current_a"] == 10, 10, what="pilot at the shaper's cap")
    with broker.subscriber(BASE + "/shaper").ready() as sub:
        broker.pub(BASE + "/shaper/set", "0")
        _, out = sub.wait(lambda t, m: m == "0", 10)
    wait_for(lambda: gw.evse()["current_a"] == 32, 10, what="cap released")
    broker.pub(BASE + "/shaper/set", "on")  # bad payload: ignored, counted
    broker.pub("emon/house", "a lot")
    wait_for(lambda: gw.status()["shaper"] == 0, 5, what="still off")


def test_rapi_in_answers_on_rapi_out(broker, gw):
    with broker.subscriber(BASE + "/rapi/out").ready() as sub:
        broker.pub(BASE + "/rapi/in/$GS", "")
        _, out = sub.wait(lambda t, m: t == BASE + "/rapi/out", 15)
        assert out.startswith("$OK "), out
        # a blocked command is refused (allow-list as for HTTP /r)
        broker.pub(BASE + "/rapi/in/$FR", "")
        _, out = sub.wait(lambda t, m: t == BASE + "/rapi/out" and not m.startswith("$OK"), 15)
        assert out == "RAPI_RESPONSE_BLOCKED", out
    assert gw.sim.executed("$FR") == []


def test_status_topics_announce_and_config(broker, gw):
    st = gw.status()
    assert broker.get(BASE + "/state", 35) == str(st["state"])
    a = _announce(broker)
    assert a["state"] == "connected" and a["mqtt"] == BASE
    cfg = json.loads(broker.get(BASE + "/config"))
    assert cfg["mqtt_topic"] == BASE


def test_bad_payloads_ignored(broker, gw):
    for topic, msg in [
        (BASE + "/divertmode/set", "7"), (BASE + "/divertmode/set", "eco"),
        ("emon/grid", "NaN"), ("emon/grid", "lots"), ("emon/grid", "1e15"),
        ("emon/vrms", "-3"), (BASE + "/config/set", "{broken"),
        (BASE + "/config/set", json.dumps({"mqtt_port": "x"})),
        (BASE + "/override/set", "x" * 2000), (BASE + "/restart", '{"device": "moon"}'),
    ]:
        broker.pub(topic, msg)
    broker.pub("emon/grid", "-321")  # a good one after the bad ones still works
    wait_for(lambda: gw.status()["grid_ie"] == -321, 5, what="grid_ie -321")
    st = gw.status()
    assert st["divertmode"] == 1 and st["mqtt_connected"] == 1
    assert gw.fw.poll() is None
    assert "mqtt: ignored" in gw.log()


def test_last_will_when_gateway_vanishes(broker, gw):
    wait_for(lambda: (_announce(broker) or {}).get("state") == "connected", 5, what="birth")
    gw.fw.send_signal(signal.SIGKILL)
    gw.fw.wait()
    wait_for(lambda: (_announce(broker) or {}).get("state") == "disconnected", 5,
             what="last will")


def test_ha_discovery_when_enabled(broker, rig_factory):
    r = rig_factory(config=mqtt_config(broker.port, ha_discovery=True))
    r.wait_connected()
    sub = broker.sub("homeassistant/#", 9, 15)
    out, _ = sub.communicate(timeout=20)
    lines = [l.split(" ", 1) for l in out.strip().splitlines()]
    comps = sorted(t.split("/")[1] for t, _ in lines)
    assert comps.count("sensor") == 6, comps
    assert "select" in comps and "number" in comps and "switch" in comps
    for t, m in lines:
        d = json.loads(m)
        assert d["unique_id"] and d["device"]["identifiers"]
    sel = [json.loads(m) for t, m in lines if "/select/" in t][0]
    assert sel["command_topic"] == BASE + "/divertmode/set"


def test_ha_discovery_off_by_default(broker, gw):
    assert broker.get("homeassistant/#", 2) is None


def test_broker_restart_reconnects(broker, gw):
    for n, down in enumerate((0.2, 0.2, 10.0)):
        broker.kill()
        wait_for(lambda: gw.status()["mqtt_connected"] == 0, 5, what="mqtt down")
        time.sleep(down)  # a long outage must not push the retry interval past 5 s
        t0 = broker.start()
        wait_for(lambda: gw.status()["mqtt_connected"] == 1, 5, what="mqtt up")
        assert time.time() - t0 < 5
        broker.pub("emon/grid", str(-100 - n))  # resubscribed
        wait_for(lambda: gw.status()["grid_ie"] == -100 - n, 5, what="feed after reconnect")
