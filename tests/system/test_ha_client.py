"""Home Assistant's own library, python-openevse-http, against the firmware on loopback
(tests/system/ha/ha_check.py). It needs Python 3.13: `make ha-venv` builds build/ha313 when a
3.13 interpreter is on the machine (make test does it, and fails loudly without one)."""
import json
import os
import subprocess

import pytest

from harness import ROOT, wait_for

PY = os.path.join(ROOT, "build", "ha313", "bin", "python")


def test_home_assistant_library_sees_every_change(rig_factory):
    if not os.path.exists(PY):
        pytest.fail("no Python 3.13 venv with python-openevse-http: run `make ha-venv`")
    r = rig_factory(config={"current_shaper_max_pwr": 6000}, sim_kwargs={"ev_connected": True})
    r.wait_connected()
    wait_for(lambda: r.evse()["state"] == 3, 8, what="charging")
    out = subprocess.run([PY, os.path.join(ROOT, "tests", "system", "ha", "ha_check.py"),
                          "127.0.0.1:%d" % r.http_port], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    failed = dict((k, v) for k, v in res["checks"].items() if not v[0])
    print("python-openevse-http: %d checks, %d failed" % (len(res["checks"]), len(failed)))
    assert not failed, failed
    assert len(res["checks"]) >= 15
    # what the settings calls did reached the controller
    assert [e["args"] for e in r.sim.executed("$SL")] == [["1"], ["2"]]
    assert r.evse()["voltage_mv"] == 231000
