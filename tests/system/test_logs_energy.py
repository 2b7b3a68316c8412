"""The event log (/logs) and the energy meter (/emeter, /status total_*), end to end: the
firmware under MicroPython with the virtual EVSE, one rig for the module."""
import pytest
from harness import Rig, wait_for


@pytest.fixture(scope="module")
def lrig():
    r = Rig(config={"sntp_enabled": False})
    r.wait_connected()
    wait_for(lambda: r.get("/time")[1]["time_source"] == "evse", 10, what="clock from $GT")
    yield r
    r.close()


def _entries(r):
    idx = r.get("/logs")[1]
    out = []
    for i in range(idx["min"], idx["max"] + 1):
        code, b = r.get("/logs/%d" % i)
        assert code == 200, (i, b)
        out += b
    return out


def test_event_log_boot_states_and_faults(lrig):
    r = lrig
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


def test_energy_meter_counts_persists_and_resets(lrig):
    r = lrig
    r.request("DELETE", "/emeter", {"hard": 1, "import": 0})
    s0 = r.status()
    assert s0["total_energy"] == 0 and s0["total_switches"] == 0
    r.plug()
    wait_for(lambda: r.evse()["state"] == 3, 10, what="charging")
    wait_for(lambda: r.status()["total_day"] >= 0.004, 30, what="energy counted")
    r.plug(False)
    wait_for(lambda: r.evse()["state"] == 1, 10, what="stopped")
    wait_for(lambda: r.get("/emeter")[1]["saved"], 10, what="saved once the charge stopped")
    s = r.status()
    assert s["total_switches"] == 1
    for k in ("total_energy", "total_week", "total_month", "total_year"):
        assert s[k] == s["total_day"], k
    # session energy: the controller's (Wh); the meter follows it to within a Wh
    assert abs(s["total_day"] * 1000 - s["session_energy"]) <= 1
    m = r.get("/emeter")[1]
    writes = m["writes"]
    r.restart_firmware()
    r.wait_connected()
    s2 = r.status()
    assert (s2["total_day"], s2["total_energy"], s2["total_switches"]) == \
        (s["total_day"], s["total_energy"], 1)
    # soft reset: the periods only
    assert r.request("DELETE", "/emeter", {"hard": 0, "import": 0}) == (200, {"msg": "Reset done"})
    s3 = r.status()
    assert s3["total_day"] == 0 and s3["total_energy"] == s["total_energy"]
    assert s3["total_switches"] == 1
    assert r.request("DELETE", "/emeter", {"hard": True, "import": False})[0] == 200
    s4 = r.status()
    assert s4["total_energy"] == 0 and s4["total_switches"] == 0
    for body in ({"hard": 1}, "nonsense"):
        code, d = r.request("DELETE", "/emeter", body)
        assert code == 400 and "hard" in d["msg"]
    assert writes <= 6  # the reset, the date, the charge's stop (+ an import): not per reading
