"""Time, the weekly scheduler, the event log and the energy meter, end to end: the firmware
under MicroPython, the virtual EVSE (its RTC answers $GT and takes $S1), a real SNTP server
on 127.0.0.1 and a real mosquitto. One rig serves the module (the tests run in file order and
set the clock they need); one restart checks what must survive it."""
import json
import socket
import struct
import threading
import time

import pytest
from harness import free_port, wait_for

NTP_DELTA = 2208988800
T_WED = "2026-07-01T10:00:00Z"  # a Wednesday


class SntpServer:
    """A minimal SNTP server (RFC 4330) on 127.0.0.1 answering `now` (unix s, float)."""

    def __init__(self, now):
        self.now = now
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.queries = 0
        self.stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                data, addr = self.sock.recvfrom(512)
            except socket.timeout:
                continue
            except OSError:
                return
            if len(data) < 48 or data[0] & 7 != 3:
                continue
            self.queries += 1
            t = self.now() + NTP_DELTA
            sec, frac = int(t), int((t % 1) * 2 ** 32)
            out = bytearray(48)
            out[0] = (0 << 6) | (4 << 3) | 4  # LI 0, v4, server
            out[1] = 2  # stratum
            out[24:32] = data[40:48]  # originate = the client's transmit time
            struct.pack_into("!II", out, 32, sec, frac)
            struct.pack_into("!II", out, 40, sec, frac)
            self.sock.sendto(bytes(out), addr)

    def close(self):
        self.stop = True
        self.sock.close()


def _iso_secs(s):
    return time.mktime(time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone


@pytest.fixture(scope="module")
def sntp():
    base = [_iso_secs("2027-03-04T05:06:07Z") - time.time()]
    srv = SntpServer(lambda: time.time() + base[0])
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def trig(sntp):
    from harness import Rig

    r = Rig(config={"sntp_enabled": False, "scheduler_start_window": 0},
            env={"NTP_PORT": str(sntp.port)})
    r.wait_connected()
    yield r
    r.close()


def test_clock_from_the_controllers_rtc_at_boot(trig):
    # the gateway's clock starts unset (as the chip's); the controller's RTC (2025-01-01 in
    # the virtual EVSE) is ahead of it, so it is taken
    wait_for(lambda: trig.get("/time")[1]["time_source"] == "evse", 10, what="time from $GT")
    code, t = trig.get("/time")
    assert code == 200 and t["time"].startswith("2025-01-01T") and t["time"].endswith("Z")
    assert t["local_time"][19:] == "+0000" and t["offset"] == "+0000"  # London in winter
    assert abs(_iso_secs(t["time"]) - _iso_secs(trig.evse()["rtc"] + "Z")) < 3
    assert trig.sim.executed("$GT")
    s = trig.status()
    assert s["local_time"].endswith("+0000") and s["time"].endswith("Z")


def _entries(r):
    idx = r.get("/logs")[1]
    out = []
    for i in range(idx["min"], idx["max"] + 1):
        code, b = r.get("/logs/%d" % i)
        assert code == 200, (i, b)
        out += b
    return out


def test_event_log_boot_states_and_faults(trig):
    r = trig
    code, idx = r.get("/logs")
    assert code == 200 and idx["min"] <= idx["max"] and idx["pending"] == 0
    ev = _entries(r)
    boot = [e for e in ev if e.get("message") == "boot"]
    # the boot happened before the clock was set: stamped once the controller's RTC was read
    assert boot and boot[-1]["type"] == "notification" and boot[-1]["time"].startswith("2025-")
    keys = {"time", "type", "managerState", "evseState", "evseFlags", "pilot", "energy",
            "elapsed", "temperature", "temperatureMax", "divertMode", "shaper"}
    for e in ev:
        assert keys <= set(e), e
    n = len(ev)
    r.plug()
    wait_for(lambda: r.evse()["state"] == 3, 10, what="charging")
    wait_for(lambda: any(e["evseState"] == 3 for e in _entries(r)[n:]), 10, what="logged")
    r.sim.force_fault(6)  # GFCI trip
    wait_for(lambda: any(e["type"] == "warning" and e["evseState"] == 6
                         for e in _entries(r)[n:]), 10, what="fault logged as a warning")
    r.sim.force_fault(0)
    r.plug(False)
    wait_for(lambda: r.evse()["state"] == 1, 15, what="idle")
    idx = r.get("/logs")[1]
    assert idx["events"] >= 3 and idx["bytes_written"] / idx["events"] < 200
    assert r.get("/logs/%d" % (idx["max"] + 1)) == (404, {"msg": "Block out of range"})
    assert r.post("/logs", {})[0] == 405


def test_manual_time_and_time_zone(trig):
    code, d = trig.post("/time", {"sntp_enabled": False, "time": T_WED,
                                  "time_zone": "Europe/Berlin|CET-1CEST,M3.5.0,M10.5.0/3"})
    assert (code, d) == (200, {"msg": "done"})
    t = trig.get("/time")[1]
    assert t["time_source"] == "manual" and t["offset"] == "+0200"
    assert _iso_secs(t["time"]) - _iso_secs(T_WED) < 3
    assert t["local_time"][:13] == "2026-07-01T12" and t["local_time"].endswith("+0200")
    assert t["time_zone"] == "Europe/Berlin|CET-1CEST,M3.5.0,M10.5.0/3"
    code, cfg = trig.get("/config")
    assert cfg["time_zone"].startswith("Europe/Berlin|") and cfg["sntp_enabled"] is False
    # the controller's RTC follows ($S1, UTC)
    wait_for(lambda: trig.evse()["rtc"].startswith("2026-07-01T10:0"), 10, what="$S1 sent")
    assert trig.sim.executed("$S1")


def test_bad_time_requests_change_nothing(trig):
    before = trig.get("/config")[1]["time_zone"]
    for body in ({"sntp_enabled": False, "time": "yesterday"},
                 {"sntp_enabled": False, "time": "2026-02-30T10:00:00Z"},
                 {"sntp_enabled": False, "time": "1999-01-01T00:00:00Z"},
                 {"sntp_enabled": False, "time": T_WED, "time_zone": "Mars/Olympus|MARS"}):
        code, d = trig.post("/time", body)
        assert code == 400 and d["msg"], (body, d)
    assert trig.post("/time", "{not json", headers={"Content-Type": "application/json"})[0] == 400
    assert trig.post("/time", '{"sntp_enabled": false}')[0] == 415  # JSON only as JSON
    assert trig.get("/config")[1]["time_zone"] == before
    assert trig.request("DELETE", "/time")[0] == 405


def test_settime_form_from_the_browser(trig):
    code, d = trig.post("/settime", "ntp=0&tz=UTC0&time=2026-07-01T08:00:00Z",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert (code, d) == (200, "set")
    t = trig.get("/time")[1]
    assert t["offset"] == "+0000" and t["time"].startswith("2026-07-01T08:00")
    code, d = trig.post("/settime", "ntp=0&tz=UTC0&time=soon",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert code == 400 and "time" in d


def test_sntp_from_a_loopback_server_only(trig, sntp):
    # a public host name is never looked up on the PC (nothing leaves 127.0.0.0/8)
    assert trig.post("/config", {"sntp_hostname": "pool.ntp.org", "sntp_enabled": True})[0] == 200
    wait_for(lambda: "cannot resolve" in trig.get("/time")[1]["ntp_error"], 10,
             what="pool.ntp.org refused")
    assert sntp.queries == 0
    assert trig.post("/config", {"sntp_hostname": "127.0.0.1"})[0] == 200
    wait_for(lambda: trig.get("/time")[1]["time_source"] == "sntp", 15, what="SNTP sync")
    t = trig.get("/time")[1]
    assert t["time"].startswith("2027-03-04T05:0") and t["ntp_last_sync"].startswith("2027-03-04")
    assert t["ntp_error"] == "" and sntp.queries >= 1
    wait_for(lambda: trig.evse()["rtc"].startswith("2027-03-04"), 10, what="RTC after SNTP")
    n = sntp.queries
    assert trig.post("/time", {"sync_now": True}) == (200, {"msg": "done"})
    wait_for(lambda: sntp.queries > n, 10, what="sync_now")
    trig.post("/config", {"sntp_enabled": False})


# -- the scheduler ----------------------------------------------------------------------------

def _wed_10(r):
    assert r.post("/time", {"sntp_enabled": False, "time_zone": "UTC0", "time": T_WED})[0] == 200


def test_schedule_claims_and_overrides(trig):
    r = trig
    _wed_10(r)
    r.plug()
    try:
        ev = [{"state": "disabled", "time": "09:00", "days": ["wednesday"]},
              {"state": "active", "time": "11:00", "days": ["wednesday", "thursday"]}]
        assert r.post("/schedule", ev) == (200, {"msg": "done"})
        code, lst = r.get("/schedule")
        assert code == 200 and len(lst) == 2
        byid = {e["id"]: e for e in lst}
        assert sorted(e["time"] for e in lst) == ["09:00:00", "11:00:00"]
        did = [i for i, e in byid.items() if e["state"] == "disabled"][0]
        aid = [i for i, e in byid.items() if e["state"] == "active"][0]
        assert byid[aid]["days"] == ["wednesday", "thursday"]
        # 10:00 on Wednesday: the 09:00 stop is in force, the EV waits
        wait_for(lambda: r.evse()["state"] == 254, 10, what="paused by the schedule")
        claims = {c["client"]: c for c in r.get("/claims")[1]}
        assert claims[65540]["state"] == "disabled" and claims[65540]["priority"] == 10
        p = r.get("/schedule/plan")[1]
        assert p["current_day"] == "wednesday" and p["current_event"]["id"] == did
        assert p["next_event"]["id"] == aid and 3500 < p["next_event_delay"] <= 3600
        # the manual override wins over the schedule
        assert r.post("/override", {"state": "active"})[0] == 201
        wait_for(lambda: r.evse()["state"] == 3, 10, what="override starts the charge")
        assert r.request("DELETE", "/override")[0] == 200
        wait_for(lambda: r.evse()["state"] == 254, 10, what="the schedule again")
        # an active event that started a few seconds ago: charging at the timer's priority
        v = r.status()["schedule_version"]
        assert r.post("/schedule/40", {"state": "active", "time": "09:59:00",
                                       "days": ["wednesday"], "current": 10}) == (200, {"msg": "done"})
        assert r.status()["schedule_version"] > v
        wait_for(lambda: r.evse()["state"] == 3, 10, what="charging in the window")
        t = r.get("/claims/target")[1]
        assert t["claims"]["state"] == 65540 and t["properties"]["charge_current"] == 10
        assert r.get("/schedule/40")[1]["current"] == 10
        assert r.request("DELETE", "/schedule/40") == (200, {"msg": "done"})
        assert r.request("DELETE", "/schedule/40")[0] == 404
        wait_for(lambda: r.evse()["state"] == 254, 10, what="paused once the event is gone")
    finally:
        r.plug(False)
        for e in r.get("/schedule")[1]:
            r.request("DELETE", "/schedule/%d" % e["id"])
    wait_for(lambda: not any(c["client"] == 65540 for c in r.get("/claims")[1]), 10,
             what="no schedule claim without events")


def test_schedule_bad_input(trig):
    r = trig
    n = len(r.get("/schedule")[1])
    for body in ({"state": "on", "time": "09:00", "days": []},
                 {"state": "active", "time": "9am", "days": ["monday"]},
                 [{"state": "active", "time": "09:00", "days": ["monday"]},
                  {"state": "active", "time": "09:00", "days": ["caturday"]}],
                 "{broken"):
        code, d = r.post("/schedule", body, headers={"Content-Type": "application/json"})
        assert code == 400 and d["msg"], body
    assert r.post("/schedule/3", {"id": 4, "state": "active", "time": "1:00", "days": []})[0] == 400
    assert len(r.get("/schedule")[1]) == n  # a list is taken whole or not at all
    assert r.get("/schedule/999") == (404, {"msg": "Not found"})
    assert r.request("DELETE", "/schedule")[0] == 405
    # an empty POST reads the list (python-openevse-http 1.5.0, Home Assistant's pin)
    assert r.post("/schedule", "")[0] == 200


SAVED = {}


def test_energy_meter_counts_and_saves(trig):
    r = trig
    wait_for(lambda: r.status()["state"] == 1, 10, what="idle, no EV")
    assert r.request("DELETE", "/emeter", {"hard": 1, "import": 0}) == (200, {"msg": "Reset done"})
    s0 = r.status()
    assert s0["total_energy"] == 0 and s0["total_switches"] == 0
    last = _entries(r)[-1]
    w0 = r.get("/emeter")[1]["writes"]
    r.plug()
    wait_for(lambda: r.evse()["state"] == 3, 10, what="charging")
    wait_for(lambda: r.status()["total_day"] >= 0.004, 30, what="energy counted")
    r.plug(False)
    wait_for(lambda: r.evse()["state"] == 1, 10, what="stopped")
    wait_for(lambda: r.get("/emeter")[1]["saved"], 10, what="saved once the charge stopped")
    s = r.status()
    # a switch per charge start, as many as the event log shows (the virtual EV may pause)
    ev = _entries(r)
    ev = ev[len(ev) - ev[::-1].index(last):]  # after the last entry seen before (the ring turns)
    states = [e["evseState"] for e in ev if not e.get("message")]
    starts = sum(1 for i in range(len(states)) if states[i] == 3 and (i == 0 or states[i - 1] != 3))
    assert s["total_switches"] == starts >= 1, states
    for k in ("total_energy", "total_week", "total_month", "total_year"):
        assert s[k] == s["total_day"], k
    # the controller's session energy (Wh): the meter follows it to within a Wh
    assert abs(s["total_day"] * 1000 - s["session_energy"]) <= 1
    # not a write per reading: one per stop of the charge (+ an import of the controller's total)
    assert r.get("/emeter")[1]["writes"] - w0 <= starts + 1
    SAVED["energy"] = (s["total_day"], s["total_energy"], starts)


def test_restart_keeps_time_schedule_and_energy(trig):
    r = trig
    ev = {"id": 12, "state": "active", "time": "21:15", "days": ["friday"]}
    assert r.post("/schedule", ev)[0] == 200
    rtc = r.evse()["rtc"][:10]
    r.restart_firmware()
    r.wait_connected()
    # no network: the time comes back from the controller's RTC (set by $S1 before)
    wait_for(lambda: r.get("/time")[1]["time_source"] == "evse", 10, what="time from $GT")
    assert r.get("/time")[1]["time"][:10] == rtc
    assert r.get("/schedule")[1] == [{"id": 12, "state": "active", "time": "21:15:00",
                                      "days": ["friday"]}]
    s = r.status()
    assert (s["total_day"], s["total_energy"], s["total_switches"]) == SAVED["energy"]
    # soft reset: the periods only; hard: the total and the switches too
    assert r.request("DELETE", "/emeter", {"hard": 0, "import": 0}) == (200, {"msg": "Reset done"})
    s3 = r.status()
    assert s3["total_day"] == 0 and s3["total_energy"] == SAVED["energy"][1]
    assert s3["total_switches"] == SAVED["energy"][2]
    assert r.request("DELETE", "/emeter", {"hard": True, "import": False})[0] == 200
    s4 = r.status()
    assert s4["total_energy"] == 0 and s4["total_switches"] == 0
    for body in ({"hard": 1}, "nonsense"):
        code, d = r.request("DELETE", "/emeter", body)
        assert code == 400 and "hard" in d["msg"]
    r.request("DELETE", "/schedule/12")


def test_schedule_over_mqtt(broker, rig_factory):
    base = "sched/evse"
    r = rig_factory(config={"mqtt_enabled": True, "mqtt_server": "127.0.0.1",
                            "mqtt_port": broker.port, "mqtt_topic": base,
                            "scheduler_start_window": 0})
    r.wait_connected()
    wait_for(lambda: r.status().get("mqtt_connected") == 1, 10, what="mqtt_connected")
    assert json.loads(broker.get(base + "/schedule")) == []
    broker.pub(base + "/schedule/set",
               json.dumps({"id": 7, "state": "active", "time": "07:30", "days": ["monday"]}))
    wait_for(lambda: r.get("/schedule/7")[0] == 200, 10, what="schedule/set")
    wait_for(lambda: json.loads(broker.get(base + "/schedule") or "[]") ==
             [{"id": 7, "state": "active", "time": "07:30:00", "days": ["monday"]}], 10,
             what="retained schedule")
    # the next event, retained, agrees with /schedule/plan
    nxt = wait_for(lambda: json.loads(broker.get(base + "/schedule/next") or "null"), 10,
                   what="retained next event")
    plan = r.get("/schedule/plan")[1]
    print("\nretained next event:", nxt)
    assert nxt["id"] == 7 and nxt["day"] == "monday" and nxt["state"] == "active", nxt
    assert nxt["start_offset"] == plan["next_event"]["start_offset"], (nxt, plan)
    assert 0 < nxt["in"] <= 7 * 86400 and abs(nxt["in"] - plan["next_event_delay"]) <= 5, nxt
    if r.get("/time")[1]["time_source"]:  # the clock is set (here by the controller's RTC)
        assert nxt["at"][11:16] == "07:30" and nxt["at"][-5] in "+-", nxt
    else:
        assert "at" not in nxt, nxt
    broker.pub(base + "/schedule/clear", "7")
    wait_for(lambda: r.get("/schedule")[1] == [], 10, what="schedule/clear")
    wait_for(lambda: json.loads(broker.get(base + "/schedule") or "null") == [], 10,
             what="retained empty schedule")
    wait_for(lambda: broker.get(base + "/schedule/next") == "null", 10, what="no next event")
