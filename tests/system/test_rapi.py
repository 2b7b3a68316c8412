"""RAPI over a real pty under MicroPython, against the virtual EVSE."""
import json
import os
import subprocess
import time

from harness import MPY, ROOT, wait_for
from sim.server import SimServer
from tools.run import firmware_env

SCRIPT = os.path.join(ROOT, "tests", "system", "mpy", "rapi_roundtrip.py")


def run_mpy_rapi(link, cmds):
    env = firmware_env(link, 0, "/tmp")
    out = subprocess.run([MPY, SCRIPT] + cmds, env=env, cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = [json.loads(x) for x in out.stdout.splitlines() if x.startswith("{")]
    return {d["cmd"]: d for d in lines if "cmd" in d}, lines[-1]


def test_every_gateway_command_round_trips(tmp_path):
    link = str(tmp_path / "evse.tty")
    with SimServer(link=link, control_port=0, ev_connected=True) as sim:
        time.sleep(0.3)
        cmds = ["$GV", "$GE", "$GC", "$GF", "$GI", "$GS", "$GU", "$GP", "$GG", "$GA",
                "$SY 5 6", "$SY", "$SY 165", "$GY", "$FS", "$FE", "$SC 10 V", "$SC 90 V",
                "$SC 4 V", "$F0 1", "$FB 2", "$GT", "$GD", "$G0", "$XX"]
        res, tail = run_mpy_rapi(link, cmds)
        st = sim.state()
        done = [e["name"] for e in sim.executed(tuple(set(c.split(" ")[0] for c in cmds)))]
    assert res["$GV"]["fields"] == ["8.2.3", "5.2.1"]
    assert len(res["$GC"]["fields"]) == 4 and res["$GC"]["fields"][0] == "6"
    assert len(res["$GS"]["fields"]) == 4
    assert len(res["$GG"]["fields"]) == 2 and len(res["$GP"]["fields"]) == 3
    assert len(res["$GU"]["fields"]) == 2 and len(res["$GF"]["fields"]) == 3
    assert res["$SY 5 6"]["fields"] == ["5", "6", "0"]
    assert res["$SC 10 V"] == {"cmd": "$SC 10 V", "ok": True, "fields": ["10"], "seq": res["$SC 10 V"]["seq"]}
    assert res["$SC 90 V"]["ok"] is False and res["$SC 90 V"]["fields"] == ["32"]  # clamped to max
    assert res["$SC 4 V"]["ok"] is False and res["$SC 4 V"]["fields"] == ["6"]  # clamped to min
    assert res["$XX"]["ok"] is False  # unknown command: $NK
    for cmd in cmds:
        assert "timeout" not in res[cmd], cmd
        assert res[cmd]["seq"] != 0, cmd  # every reply echoed our sequence id
    # $FS / $FE / $SC produced async $AT lines, delivered while commands ran
    assert any(a.startswith("$AT fe") for a in tail["async"]), tail["async"]
    assert tail["success"] == len(cmds)
    # volatile sets never wrote the controller's EEPROM current
    assert st["eeprom"]["max_l2"] == 32
    assert sorted(done) == sorted(c.split(" ")[0] for c in cmds)  # each executed once


def test_plug_enable_charge_follow_pilot_unplug(rig):
    r = rig
    # sleep the EVSE first (manual override), then plug: vehicle seen, no charging
    assert r.post("/override", {"state": "disabled"})[0] == 201
    wait_for(lambda: r.evse()["state"] == 0xFE, 5, what="sleeping")
    r.plug()
    s = wait_for(lambda: (lambda d: d if d["vehicle"] == 1 else None)(r.status()), 5, what="vehicle")
    assert s["state"] == 254
    # a full EV: enabled -> state 2 (connected, not charging)
    r.sim.set_ev(full=True)
    assert r.request("DELETE", "/override")[0] == 200
    wait_for(lambda: r.status()["state"] == 2, 5, what="state 2")
    # the EV asks for charge: state 3 and the current ramps to the pilot
    r.sim.set_ev(full=False)
    wait_for(lambda: r.status()["state"] == 3, 5, what="state 3")
    assert r.post("/override", {"charge_current": 10})[0] == 201
    wait_for(lambda: r.evse()["current_a"] == 10, 5, what="pilot 10 on the EVSE")
    s = wait_for(lambda: (lambda d: d if 9000 <= d["amp"] <= 10000 else None)(r.status()), 20,
                 what="amps following the 10 A pilot")
    assert s["pilot"] == 10 and s["power"] > 2000
    assert r.post("/override", {"charge_current": 16})[0] == 201
    wait_for(lambda: 15000 <= r.status()["amp"] <= 16000, 20, what="amps following 16 A")
    r.plug(False)
    s = wait_for(lambda: (lambda d: d if d["state"] == 1 else None)(r.status()), 5, what="state 1")
    assert s["vehicle"] == 0 and s["amp"] == 0
    # every current change went out volatile: the controller's EEPROM current is untouched
    assert not {"max_l1", "max_l2"} & set(r.sim.controller.eeprom.write_log)
    assert r.evse()["eeprom"]["max_l2"] == 32


def _set_cmds(log):
    """Executed set commands; a heartbeat expiry (the controller itself dropped to the
    fallback current) is kept as a marker, since re-applying after it is right."""
    out = []
    for e in log:
        if e["name"] in ("$SC", "$FE", "$FS", "$FD") and e["reply"]:
            out.append((e["name"], tuple(e["args"])))
        elif e["name"] == "!heartbeat-expired":
            out.append(("heartbeat-miss",))
    return out


def test_corrupted_link_never_reports_wrong_state_nor_applies_twice(rig):
    r = rig
    r.plug()
    wait_for(lambda: r.status()["state"] == 3, 8, what="charging")
    log0 = r.sim.log_len()
    r.sim.set_faults(corrupt_out=0.05, corrupt_in=0.01)
    seen_states = set()
    reported = set()
    targets = [8, 12, 16, 10, 20, 7]
    t0 = time.monotonic()
    i = 0
    next_change = t0
    while time.monotonic() - t0 < 60:
        now = time.monotonic()
        seen_states.add(r.evse()["state"])
        if now >= next_change:
            code, _ = r.post("/override", {"charge_current": targets[i % len(targets)]}, timeout=10)
            assert code == 201
            i += 1
            next_change = now + 6
        code, s = r.get("/status", timeout=10)
        assert code == 200
        reported.add(s["state"])
        seen_states.add(r.evse()["state"])
        time.sleep(0.2)
    r.sim.set_faults(corrupt_out=0.0, corrupt_in=0.0)
    stats = r.evse()["stats"]
    assert stats["bytes_corrupted_out"] > 100 and stats["bytes_corrupted_in"] > 5, stats
    assert reported <= seen_states | {0}, (reported, seen_states)
    sets = _set_cmds(r.sim.executed(("$SC", "$FE", "$FS", "$FD", "!heartbeat-expired"), log0))
    # the gateway only sends a set when the controller differs from the target: the same
    # command executed twice in a row means a lost reply was retried blindly
    for a, b in zip(sets, sets[1:]):
        assert a != b or a == ("heartbeat-miss",), sets
    # pulses run apart from the polls, so the noise never starves the supervision
    pulses = [e["t_ms"] for e in r.sim.executed("$SY", log0) if not e["args"]]
    gaps = sorted(b - a for a, b in zip(pulses, pulses[1:]))
    print("noise: %d pulses received in 60 s, longest gap %d ms (heartbeat interval 5000 ms)"
          % (len(pulses), gaps[-1]))
    assert ("heartbeat-miss",) not in sets, (sets, gaps[-5:], r.log()[-2000:])
    assert len([x for x in sets if x[0] == "$SC"]) >= 6, sets
    # after the noise the controller follows the last target
    last = targets[(i - 1) % len(targets)]
    wait_for(lambda: r.evse()["current_a"] == last, 10, what="final pilot %d" % last)
    # the controller may have executed the last $SC just now; the gateway's model follows
    # once the echo (or, if that was lost, two agreeing $GC reads) comes in
    wait_for(lambda: r.status()["pilot"] == last, 5, what="gateway reports pilot %d" % last)


def test_silent_controller_flagged_then_recovers(rig):
    r = rig
    r.sim.set_faults(silent_s=10)
    t0 = time.monotonic()
    wait_for(lambda: r.status()["evse_connected"] == 0, 8, what="disconnected flagged")
    flagged = time.monotonic() - t0
    s = r.status()
    assert s["rapi_connected"] == 0
    wait_for(lambda: not r.evse()["faults"]["silent"], 12, what="controller back")
    t1 = time.monotonic()
    wait_for(lambda: r.status()["evse_connected"] == 1, 5, interval=0.05, what="reconnected")
    back = time.monotonic() - t1
    print("silent: flagged after %.1f s, reconnected %.2f s after the controller returned" % (flagged, back))
    assert back < 3.0


def test_reboot_mid_charge_reapplies_heartbeat_and_current(rig):
    r = rig
    r.plug()
    assert r.post("/override", {"charge_current": 11})[0] == 201
    wait_for(lambda: r.evse()["state"] == 3 and r.evse()["current_a"] == 11, 8, what="charging at 11 A")
    boots = r.evse()["boots"]
    n0 = r.sim.log_len()
    r.sim.reboot()
    wait_for(lambda: r.evse()["boots"] > boots, 10, what="controller rebooted")
    # after boot the controller is back at its EEPROM max; the gateway re-applies 11 A volatile
    wait_for(lambda: r.evse()["current_a"] == 11 and r.evse()["state"] == 3, 10, what="11 A re-applied")
    time.sleep(2.5)
    after = [(e["name"], e["args"]) for e in r.sim.executed(("$GY", "$SY", "$SC"), n0)]
    # heartbeat: settings live in the controller's EEPROM, so the gateway checks them ($GY)
    # and re-arms only if they differ; pulses resume after the boot
    assert ("$GY", []) in after, after
    assert after.count(("$SY", [])) >= 2, after
    assert r.evse()["heartbeat"]["interval"] == 5 and r.evse()["heartbeat"]["current"] == 6
    assert ("$SC", ["11", "V"]) in after, after
    assert not {"max_l1", "max_l2"} & set(r.sim.controller.eeprom.write_log)
    s = r.status()
    assert s["pilot"] == 11 and s["evse_connected"] == 1


def test_front_button_toggles_the_override_and_asks_for_the_access_point(rig_factory):
    r = rig_factory(config={"ssid": "HomeNetwork", "pass": "correct horse"})
    r.wait_connected()
    r.plug()
    wait_for(lambda: r.evse()["state"] == 3, 8, what="charging")
    # the gateway took the button once ($FF B 0, saved in the controller's EEPROM)
    ff = r.sim.executed("$FF")
    assert [e["args"] for e in ff] == [["B", "0"]], ff
    assert r.evse()["eeprom"]["flags"] & 0x8000
    # short press -> $AN 0 -> manual override "disabled": the EVSE sleeps and stays asleep
    r.sim.press_button("short")
    wait_for(lambda: r.evse()["state"] == 254, 5, what="asleep after a short press")
    code, ov = r.get("/override")
    assert code == 200 and ov["state"] == "disabled", ov
    time.sleep(2.5)  # a few monitor ticks: nothing re-enables it
    assert r.evse()["state"] == 254
    # second press releases the override: charging again
    r.sim.press_button("short")
    wait_for(lambda: r.evse()["state"] == 3, 8, what="charging after a second press")
    assert r.status()["manual_override"] == 0
    # a long press is reported but has no action in the gateway
    r.sim.press_button("long")
    time.sleep(1.5)
    assert r.evse()["state"] == 3 and r.status()["manual_override"] == 0
    # very long press ($WF 02): the access point opens beside the home network
    wait_for(lambda: r.status()["mode"] == "STA", 20, what="joined HomeNetwork")
    r.sim.press_button("verylong")
    wait_for(lambda: r.status()["mode"] == "STA+AP", 5, what="access point opened by $WF")
    # after a controller reboot the button stays the gateway's: no second EEPROM write
    boots = r.evse()["boots"]
    r.sim.reboot()
    wait_for(lambda: r.evse()["boots"] > boots, 10, what="controller rebooted")
    wait_for(lambda: r.status()["evse_connected"] == 1 and r.evse()["state"] == 3, 15,
             what="back and charging")
    assert len(r.sim.executed("$FF")) == 1
