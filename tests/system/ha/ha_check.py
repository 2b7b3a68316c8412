"""Home Assistant's library, python-openevse-http (1.9.1, needs Python 3.13), against the gateway
on loopback: the calls HA's OpenEVSE integrations make, each followed by what HA then reads.
Run by tests/system/test_ha_client.py with the build/ha313 venv (make ha-venv):

    build/ha313/bin/python tests/system/ha/ha_check.py 127.0.0.1:PORT

Prints one JSON object: {"checks": {name: [ok, detail]}, "props": {...}}."""
import asyncio
import json
import sys
from datetime import datetime, timezone

import aiohttp
from awesomeversion import AwesomeVersion
from openevsehttp.__main__ import OpenEVSE
from openevsehttp.utils import get_awesome_version

PROPS = ("status", "state", "state_raw", "service_level", "openevse_firmware", "wifi_firmware",
         "wifi_serial", "max_current_soft", "min_amps", "max_amps", "charging_current",
         "charging_voltage", "current_power", "current_capacity", "divertmode", "divert_active",
         "charge_mode", "mqtt_connected", "ip_address", "sntp_hostname", "scheduler_start_window",
         "ammeter_scale_factor", "diode_check_enabled", "gfi_trip_count", "esp_temperature",
         "vehicle", "manual_override", "time_offset", "usage_total", "has_limit")


async def main(host):
    checks = {}
    seen = {"states": set()}

    def check(name, ok, detail=None):
        checks[name] = [bool(ok), detail]

    async with aiohttp.ClientSession() as session:
        c = OpenEVSE(host, session=session)
        info = await c.test_and_get()
        check("test_and_get serial", info.get("serial"), info)
        await c.update()
        props = {}
        for p in PROPS:
            try:
                v = getattr(c, p)
                props[p] = v if isinstance(v, (int, float, str, bool, type(None))) else str(v)
            except Exception as e:  # a property that raises breaks the HA entity
                props[p] = "RAISED %r" % e
        check("every property reads", not [p for p, v in props.items() if str(v).startswith("RAISED")],
              props)
        check("version gates pass", c.version_check("5.0.0") and c.version_check("4.1.2"), c.wifi_firmware)

        # the sleep / manual override switches and the override select
        for want in ("disabled", "active", "disabled", "active"):
            await c.set_override(state=want)
            await c.update(force_status=True)
            seen["states"].add(c.state)
            check("status after set_override(%s)" % want, c.status == want, (c.status, c.state))
            check("state known after set_override(%s)" % want, c.state != "unknown", c.state_raw)
            await asyncio.sleep(0.3)
        await c.clear_override()
        await c.toggle_override()  # no override: claims the opposite of the running state
        await c.update(force_status=True)
        check("toggle_override pauses", c.status == "disabled" and c.manual_override, c.status)
        check("override_state", await c.get_override_state() == "disabled", None)
        await c.clear_override()
        await c.update(force_status=True)
        check("clear_override resumes", c.status == "active" and not c.manual_override, c.status)

        # the charge current number / select
        await c.set_current(12)
        check("set_current -> claims target", await c.get_charge_current() == 12, None)
        await c.clear_override()

        # settings HA writes through /config: each must really change
        await c.set_service_level(1)
        await c.update()
        check("set_service_level(1)", c.service_level == "1", c.service_level)
        await c.set_service_level(2)
        await c.update()
        check("set_service_level(2)", c.service_level == "2", c.service_level)
        await c.set_charge_mode("eco")
        before = c.divert_active
        await c.divert_mode()  # the "Solar PV Divert" switch: toggles divert_enabled
        await c.update(force_status=True)
        check("divert_mode toggles divert at once", c.divert_active != before and
              c.divertmode == ("eco" if c.divert_active else "fast"), (before, c.divert_active, c.divertmode))
        await c.set_charge_mode("fast")  # Eco needs both: divert enabled and the eco mode
        await c.update(force_status=True)
        check("set_charge_mode(fast) -> normal", c.divertmode == "fast", c.divertmode)
        if c.divert_active:
            await c.divert_mode()

        # a grid voltage pushed by HA reaches /status (and the controller)
        await c.grid_voltage(231)
        for _ in range(30):
            await asyncio.sleep(0.1)
            await c.update(force_status=True)
            if c.charging_voltage == 231:
                break
        check("grid_voltage -> /status voltage", c.charging_voltage == 231, c.charging_voltage)

        # the websocket HA listens on: frames come in and are merged
        got = []

        def cb(*a, **k):
            got.append(1)

        c.callback = cb
        await c.ws_start()
        await c.set_override(state="disabled")
        for _ in range(30):
            await asyncio.sleep(0.1)
            if got and c.status == "disabled":
                break
        check("websocket pushes the change", got and c.status == "disabled", (len(got), c.status))
        await c.ws_disconnect()
        await c.clear_override()
        await shaper(c, check)
        await features(c, check)
    print(json.dumps({"checks": checks, "props": props}, default=str))


async def shaper(c, check):
    """The current shaper switch and sensors (python-openevse-http 1.9.1)."""
    await c.update(force_status=True)
    check("shaper off at first", c.shaper_active == 0 and c.shaper_available_current == c.current_capacity,
          (c.shaper_active, c.shaper_available_current, c.current_capacity))
    await c.set_shaper(True)
    await c.update(force_status=True)
    check("set_shaper(True)", c.shaper_active == 1, c.shaper_active)
    await c.set_shaper_live_pwr(2300)
    for _ in range(30):
        await asyncio.sleep(0.1)
        await c.update(force_status=True)
        if c.shaper_live_power == 2300 and c.shaper_updated:
            break
    mx = c.shaper_max_power
    # the test's /config sets current_shaper_max_pwr 6000: (6000 - 2300 + EV) / V
    check("set_shaper_live_pwr -> shaper_live_power", c.shaper_live_power == 2300 and c.shaper_updated,
          (c.shaper_live_power, c.shaper_updated))
    check("shaper_max_power", mx == 6000, mx)
    cur = c.shaper_available_current
    check("shaper_available_current", isinstance(cur, int) and 6 <= cur < 255, cur)
    await c.toggle_shaper()
    await c.update(force_status=True)
    check("toggle_shaper turns it off", c.shaper_active == 0, c.shaper_active)
    await c.toggle_shaper()
    await c.update(force_status=True)
    check("toggle_shaper turns it on", c.shaper_active == 1, c.shaper_active)
    await c.set_shaper(False)
    await c.update(force_status=True)
    check("set_shaper(False)", c.shaper_active == 0 and c.shaper_available_current == c.current_capacity,
          (c.shaper_active, c.shaper_available_current))


async def features(c, check):
    """Time, schedule, event log and energy meter calls (python-openevse-http 1.9.1)."""
    # HA's update entity: firmware_check() looks up the C++ releases on GitHub (not reached
    # from here: nothing leaves loopback); HA then offers latest_version when it compares
    # newer than the installed one (AwesomeVersion, as homeassistant.components.update does).
    v = c.wifi_firmware
    for rel in ("v5.1.5", "v4.2.2", "v9.9.9"):
        try:
            newer = AwesomeVersion(rel) > AwesomeVersion(v)
        except Exception:
            newer = True  # HA falls back to "differs": it would be offered
        check("update entity does not offer the C++ %s" % rel, not newer, v)
    try:
        old = AwesomeVersion(v) < "4.0.1"  # HA core's switch, without the library's normaliser
    except Exception as e:
        old = "raised %r" % e
    check("HA core's version compare works", old is False, old)
    check("library sees a development build", str(get_awesome_version(v)) == "dev", v)

    t = await c.get_time()
    check("get_time", t.get("time", "").endswith("Z") and len(t.get("offset", "")) == 5 and
          t.get("local_time", "").endswith(t.get("offset", "?")), t)
    when = datetime(2026, 7, 1, 10, 0, 0, tzinfo=timezone.utc)
    await c.set_time(when, "Europe/Berlin|CET-1CEST,M3.5.0,M10.5.0/3", sntp=False)
    t = await c.get_time()
    check("set_time", t["time"].startswith("2026-07-01T10:0") and t["offset"] == "+0200", t)
    await c.update()
    check("time_zone in config", c._config.get("time_zone", "").startswith("Europe/Berlin"), None)
    await c.set_time(None, "UTC0", sntp=True)
    await c.sync_time()
    check("sync_time", True, None)
    await c.set_time(when, "UTC0", sntp=False)

    await c.set_schedule([{"state": "disabled", "time": "06:00", "days": ["monday", "friday"]},
                          {"state": "active", "time": "22:30", "days": ["monday"]}])
    sched = await c.get_schedule()
    check("set/get_schedule", isinstance(sched, list) and len(sched) == 2, sched)
    ids = [e["id"] for e in sched]
    one = await c.get_schedule(ids[0])
    check("get_schedule(id)", isinstance(one, dict) and one.get("id") == ids[0], one)
    await c.set_schedule({"state": "active", "time": "23:00", "days": ["monday"]}, ids[1])
    one = await c.get_schedule(ids[1])
    check("set_schedule(id) updates", one.get("time") == "23:00:00", one)
    plan = await c.get_schedule_plan()
    check("get_schedule_plan", plan.get("current_day") == "wednesday" and
          plan.get("next_event", {}).get("time") in ("06:00:00", "23:00:00"), plan)
    for i in ids:
        await c.delete_schedule(i)
    check("delete_schedule", await c.get_schedule() == [], None)

    idx = await c.get_logs()
    check("get_logs", isinstance(idx, dict) and idx.get("min", -1) <= idx.get("max", -2), idx)
    block = await c.get_logs(idx["max"])
    check("get_logs(i)", isinstance(block, list) and block and "evseState" in block[-1], block)
    await c.reset_energy_meter(hard=False)
    await c.update(force_status=True)
    check("reset_energy_meter", c.total_day == 0, c.total_day)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
