"""The gateway against every controller profile of the virtual EVSE (sim.controller.PROFILES),
and what API clients see around a control change."""
import json
import threading
import time

import pytest

from harness import wait_for
from sim.controller import PROFILES
from test_web_support import WsClient

# a state code for each profile: D9 really sends 0x10 (PP missing); the others get one no
# controller of theirs sends (the virtual EVSE's any-state hook), as a newer one might
UNKNOWN = {"d9": 0x10}


def _names(r, names, since):
    """The names of the commands among `names` the controller executed since `since`."""
    return [e["name"] for e in r.sim.executed(names, since)]


def _steady(r, seconds, pred, what):
    """pred() must hold for `seconds` (a negative check: nothing may happen meanwhile)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        assert pred(), what
        time.sleep(0.1)


def _timer_takeover_and_handback(r):
    """The controller's delay timer (22:00-06:00, its clock at noon): taken over at start,
    handed back on request; the relay never cycles."""
    wait_for(lambda: r.evse()["timer"]["window"] == [0, 0, 0, 0], 5, what="controller's timer cleared")
    s = r.status()
    assert s["delay_timer"] == "22:00-06:00" and s["status"] == "disabled"
    assert r.get("/config")[1]["delay_timer"] == "22:00-06:00"
    n0 = r.sim.log_len()
    closures = r.evse()["relay_closures"]
    r.plug()
    wait_for(lambda: r.status()["vehicle"] == 1, 5, what="vehicle")
    # outside the window the gateway's timer claim pauses: no $FE, the relay stays open
    _steady(r, 3, lambda: r.evse()["state"] == 0xFE and r.evse()["relay_closures"] == closures,
            "asleep outside the window")
    assert _names(r, "$FE", n0) == []
    # handed back: the window goes into the controller again, which then decides alone
    assert r.post("/config", {"delay_timer_owner": "controller"})[0] == 200
    wait_for(lambda: r.evse()["timer"]["window"] == [22, 0, 6, 0], 5, what="timer handed back")
    wait_for(lambda: r.get("/config")[1]["delay_timer"] == "", 5, what="window left the gateway")
    assert r.status()["delay_timer"] == "22:00-06:00"
    n1 = r.sim.log_len()
    _steady(r, 3, lambda: r.evse()["state"] == 0xFE and r.evse()["relay_closures"] == closures,
            "the controller's timer is not fought")
    assert _names(r, ("$FE", "$FS", "$F1"), n1) == []
    # a charge asked for goes through the controller's manual override ($F1), once
    assert r.post("/override", {"state": "active"})[0] == 201
    wait_for(lambda: r.evse()["state"] == 3, 8, what="charging under the manual override")
    names = _names(r, ("$F1", "$FE"), n1)
    assert names.count("$F1") == 1 and "$FE" not in names, names
    # read ($GD), its clock read ($GT), cleared and handed back ($ST)
    assert [e["args"] for e in r.sim.executed("$ST")] == [["0", "0", "0", "0"], ["22", "0", "6", "0"]]
    assert r.sim.executed("$GD") and r.sim.executed("$GT")
    _steady(r, 2, lambda: r.evse()["state"] == 3, "the timer does not undo it")
    assert r.evse()["relay_closures"] == closures + 1


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_gateway_against_each_controller(rig_factory, profile):
    r = rig_factory(profile=profile)
    # detection: within 5 s, also when the controller does not echo sequence ids
    r.wait_http()
    wait_for(lambda: r.status()["evse_connected"] == 1, 6, interval=0.05,
             what="evse_connected\n" + r.log()[-1500:])
    detected = time.monotonic() - r.t_start
    print("%s: detected %.2f s after start" % (profile, detected))
    assert detected < 5.0
    fw = r.evse()["fw"]
    assert r.get("/config")[1]["firmware"] == fw
    if profile == "noseq":
        assert "does not echo sequence ids" in r.log()
        later = r.sim.executed(("$GV", "$GE", "$GC", "$GS", "$SY", "$GY", "$FF"), 4)
        assert later and all(e["seq"] is None and not any(a.startswith(":") for a in e["args"])
                             for e in later), later[:5]
    if profile == "timer":
        _timer_takeover_and_handback(r)
    else:
        r.plug()
        wait_for(lambda: r.status()["state"] == 3 and r.evse()["state"] == 3, 8, what="charging")
    # current change
    n = r.sim.log_len()
    assert r.post("/override", {"state": "active", "charge_current": 10})[0] == 201
    wait_for(lambda: r.evse()["current_a"] == 10 and r.status()["pilot"] == 10, 5, what="10 A")
    assert [e["args"] for e in r.sim.executed("$SC", n)] == [["10", "V"]]
    # detection, read-out, heartbeat, polls
    seen = set(e["name"] for e in r.sim.executed(("$GV", "$GE", "$GC", "$GF", "$GA", "$GI", "$GS",
                                                  "$GU", "$GP", "$GY", "$SY", "$GG", "$GD")))
    assert seen == {"$GV", "$GE", "$GC", "$GF", "$GA", "$GI", "$GS", "$GU", "$GP", "$GY", "$SY",
                    "$GG", "$GD"}, seen
    # pause and resume
    assert r.post("/override", {"state": "disabled"})[0] == 201
    assert r.status()["status"] == "disabled"
    wait_for(lambda: r.evse()["state"] == 0xFE and r.status()["state"] == 254, 5, what="paused")
    assert r.post("/override", {"state": "active"})[0] == 201
    wait_for(lambda: r.evse()["state"] == 3 and r.status()["state"] == 3, 8, what="resumed")
    want = ["$F1", "$F1"] if profile == "timer" else ["$FS", "$FE"]
    assert _names(r, ("$FS", "$FE", "$F1", "$FD"), n) == want
    # a state code the gateway does not know: shown as it is, not charging, nothing stalls
    code = UNKNOWN.get(profile, 0x42)
    r.sim.force_fault(code, any_state=profile not in UNKNOWN)
    s = wait_for(lambda: (lambda d: d if d["state"] == code else None)(r.status()), 5,
                 what="state %d shown" % code)
    assert s["amp"] == 0 and s["evse_connected"] == 1
    sent = s["comm_success"]
    assert r.post("/override", {"state": "disabled"})[0] == 201  # left until it is over
    wait_for(lambda: r.status()["comm_success"] > sent + 3, 5, what="the monitor goes on polling")
    r.sim.force_fault(0)
    wait_for(lambda: r.evse()["state"] == 0xFE, 8, what="the pause applied once it cleared")
    r.request("DELETE", "/override")
    if profile == "timer":  # the controller's own timer holds it asleep outside the window
        assert r.post("/override", {"state": "active"})[0] == 201
    wait_for(lambda: r.evse()["state"] == 3 and r.status()["state"] == 3, 8, what="resumed again")
    assert "Traceback" not in r.log()


class _Watch:
    """Records every /ws frame and a /status read every 10 ms, with their times."""

    def __init__(self, r):
        self.r = r
        self.stop = False
        self.frames = []
        self.reads = []
        self.ws = WsClient("ws://127.0.0.1:%d/ws" % r.http_port)
        self.ws.sock.settimeout(0.2)
        self.threads = [threading.Thread(target=f, daemon=True) for f in (self._ws, self._poll)]
        for t in self.threads:
            t.start()

    def _ws(self):
        while not self.stop:
            try:
                self.frames.append((time.monotonic(), json.loads(self.ws.recv())))
            except OSError:
                pass

    def _poll(self):
        while not self.stop:
            t = time.monotonic()
            code, s = self.r.get("/status")
            if code == 200:
                self.reads.append((t, s["state"], s["status"], s["claims_version"], time.monotonic()))
            time.sleep(0.01)

    def close(self):
        self.stop = True
        for t in self.threads:
            t.join(2)
        self.ws.close()


def test_no_transient_state_or_stale_status_over_20_pause_resume_cycles(rig_factory):
    r = rig_factory(sim_kwargs={"ev_connected": True})
    r.wait_connected()
    wait_for(lambda: r.evse()["state"] == 3, 8, what="charging")
    w = _Watch(r)
    posts = []  # (time sent, time the reply came, status asked for, claims_version then)
    for i in range(20):
        for want, done in (("disabled", lambda e: e["state"] == 0xFE),
                           ("active", lambda e: e["state"] == 3)):
            t_sent = time.monotonic()
            assert r.post("/override", {"state": want})[0] == 201
            t = time.monotonic()
            s = r.status()
            assert s["status"] == want  # right after the reply, not 15-80 ms later
            posts.append((t_sent, t, want, s["claims_version"]))
            wait_for(lambda: done(r.evse()), 5, interval=0.02, what="%s (cycle %d)" % (want, i))
    time.sleep(0.3)
    w.close()
    states = [x[1] for x in w.reads] + [d["state"] for _, d in w.frames if "state" in d]
    print("transient: %d /status reads, %d /ws frames, states seen %s" % (
        len(w.reads), len(w.frames), sorted(set(states))))
    assert 0 not in states
    assert len(w.reads) > 200 and len([1 for _, d in w.frames if "state" in d]) >= 30
    # no read after a change shows the status from before it: a read that began after the
    # reply has at least that claims version, and every read's status is its version's
    asked = dict((v, want) for _, _, want, v in posts)
    for i, (_, t, want, v) in enumerate(posts):
        stale = [x for x in w.reads if x[0] > t and x[3] < v]
        assert not stale, (want, v, stale[:3])
    wrong = [x for x in w.reads if asked.get(x[3], x[2]) != x[2]]
    assert not wrong, wrong[:3]
    # the WebSocket: every status it pushes is the one of the claims version beside it, and
    # the versions never go back (a slow reader may see two changes merged into one frame)
    pushed = [(d["claims_version"], d["status"]) for _, d in w.frames if "status" in d]
    assert len(pushed) >= 20
    for a, b in zip(pushed, pushed[1:]):
        assert b[0] >= a[0], pushed
    assert all(asked.get(v, st) == st for v, st in pushed), pushed
    assert pushed[-1] == (posts[-1][3], "active")
    # a controller that refuses $FE: no resend every second, and /status says so
    r.request("DELETE", "/override")
    assert r.post("/override", {"state": "disabled"})[0] == 201
    wait_for(lambda: r.evse()["state"] == 0xFE, 5, what="paused")
    r.sim.set_faults(refuse=["$FE"])
    n = r.sim.log_len()
    r.request("DELETE", "/override")
    t0 = time.monotonic()
    wait_for(lambda: r.status()["set_retry"].startswith("$FE"), 5, what="set_retry reported")
    while time.monotonic() - t0 < 12:
        time.sleep(0.2)
    fe = _names(r, "$FE", n).count("$FE")
    print("a controller refusing $FE: %d tries in 12 s (1 Hz would be 12)" % fe)
    assert 2 <= fe <= 5
    r.sim.set_faults(refuse=[])
    wait_for(lambda: r.evse()["state"] == 3, 40, what="resumed once $FE is taken")


def test_charger_settings_through_config_reach_the_controller(rig_factory):
    r = rig_factory()
    r.wait_connected()

    def ee():
        return r.evse()["eeprom"]

    def post(d):
        code, body = r.post("/config", d)
        return code, body.get("msg"), body.get("field")

    # service level: $SL, read back from $GE; automatic detection is refused by EU builds
    assert post({"service": 1})[:2] == (200, "done")
    assert not ee()["flags"] & 1 and r.get("/config")[1]["service"] == 1
    code, msg, field = post({"service": "A"})
    assert (code, field) == (400, "service") and "automatic" in msg
    assert post({"service": 2})[:2] == (200, "done") and ee()["flags"] & 1
    # safety checks, new and old names; the same value again is no change
    assert post({"diode_check": False})[:2] == (200, "done") and ee()["flags"] & 0x02
    assert post({"groundt": 1})[0] == 200 and ee()["flags"] & 0x08
    c = r.get("/config")[1]
    assert c["diode_check"] is False and c["diodet"] == 1 and c["ground_check"] is False
    assert post({"diode_check": True, "ground_check": True, "gfci_check": False, "temp_check": False,
                 "relay_check": False, "vent_check": False})[0] == 200
    assert ee()["flags"] & 0x061E == 0x0614  # gfci, temp, relay, vent off; diode, ground on
    assert post({"gfci_check": False})[:2] == (200, "no change")
    assert post({"gfci_check": True, "temp_check": True, "relay_check": True, "vent_check": True})[0] == 200
    # ammeter scale and offset: $SA, read back from $GA
    assert post({"scale": 230, "offset": 12})[0] == 200
    assert (ee()["amm_scale"], ee()["amm_offset"]) == (230, 12)
    assert (r.get("/config")[1]["scale"], r.get("/config")[1]["offset"]) == (230, 12)
    # the user's maximum is compared with the controller's, changed there behind our back
    with r.sim.lock:
        r.sim.controller.eeprom.put("max_l2", 20)
    assert post({"max_current_soft": 32})[:2] == (200, "done") and ee()["max_l2"] == 32
    assert post({"max_current_soft": 16})[0] == 200 and ee()["max_l2"] == 16
    assert r.get("/config")[1]["max_current_soft"] == 16
    # the hardware maximum: lowered once, never raised from outside
    code, msg, field = post({"max_current_hard": 40})
    assert (code, field) == (400, "max_current_hard") and "lowered" in msg
    assert post({"max_current_hard": 30})[0] == 200 and (ee()["hw_max"], ee()["hw_max_set"]) == (30, True)
    code, msg, field = post({"max_current_hard": 28})
    assert (code, field) == (400, "max_current_hard") and "setup menu" in msg and ee()["hw_max"] == 30
    assert r.get("/config")[1]["max_current_hard"] == 30
    # bad values: 400, nothing written
    writes = r.evse()["eeprom_writes"]
    assert post({"service": 3})[:1] == (400,) and post({"scale": "x"})[0] == 400
    assert r.evse()["eeprom_writes"] == writes
    # voltage: the setting, then a feed, go to the controller ($SV) and into /status
    assert post({"voltage": 230})[0] == 200
    wait_for(lambda: r.evse()["voltage_mv"] == 230000 and r.status()["voltage"] == 230, 5, what="230 V")
    assert r.post("/status", {"voltage": 235})[0] == 200
    wait_for(lambda: r.evse()["voltage_mv"] == 235000 and r.status()["voltage"] == 235, 5, what="235 V")
    # divert on and off at once (Home Assistant's "Solar PV Divert" switch)
    assert post({"divert_enabled": True, "charge_mode": "eco"})[0] == 200
    assert r.status()["divertmode"] == 2
    assert post({"divert_enabled": False})[0] == 200 and r.status()["divertmode"] == 1
    # what went over the wire, in order, each read back
    assert [e["args"] for e in r.sim.executed("$SL")] == [["1"], ["A"], ["2"]]
    assert [e["args"] for e in r.sim.executed("$SA")] == [["230", "12"]]
    assert r.sim.executed("$GA") and len(r.sim.executed("$GE")) >= 10
    assert [e["args"] for e in r.sim.executed("$FF")][:2] == [["B", "0"], ["D", "0"]]
    assert [e["args"] for e in r.sim.executed("$SC") if e["args"][1:] != ["V"]] == \
        [["32"], ["16"], ["30", "M"], ["28", "M"]]
    assert [e["args"] for e in r.sim.executed("$SV")] == [["230000"], ["235000"]]
    # pause_uses_disabled: the pause is $FD (a hard stop), the resume $FE
    r.plug()
    wait_for(lambda: r.evse()["state"] == 3, 8, what="charging")
    n = r.sim.log_len()
    assert post({"pause_uses_disabled": True})[0] == 200
    assert r.post("/override", {"state": "disabled"})[0] == 201
    wait_for(lambda: r.evse()["state"] == 0xFF and r.status()["state"] == 255, 5, what="disabled")
    assert r.request("DELETE", "/override")[0] == 200
    wait_for(lambda: r.evse()["state"] == 3, 8, what="resumed")
    assert [e["name"] for e in r.sim.executed(("$FD", "$FS", "$FE"), n)] == ["$FD", "$FE"]
    # a GFCI trip: the trip counters are read again ($GF), not only at boot
    r.sim.force_fault(6)
    wait_for(lambda: r.status()["gfcicount"] == 1 and r.status()["state"] == 6, 5, what="gfcicount 1")
    assert len(r.sim.executed("$GF")) >= 2
    r.sim.force_fault(0)
    # a controller reboot (/restart evse, $FR): the volatile voltage goes to it again
    boots = r.evse()["boots"]
    assert r.post("/restart", {"device": "evse"})[0] == 200
    wait_for(lambda: r.evse()["boots"] > boots, 10, what="controller rebooted")
    wait_for(lambda: r.evse()["voltage_mv"] == 235000 and r.status()["evse_connected"] == 1, 10,
             what="$SV again after the reboot")
    assert len(r.sim.executed("$FR")) == 1 and len(r.sim.executed("$SV")) == 3
