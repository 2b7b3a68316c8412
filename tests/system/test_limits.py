"""Session limits stop the charge once reached and are released at the end of the session."""
from harness import wait_for


def test_energy_limit_stops_the_session_and_clears_on_unplug(rig):
    r = rig
    r.plug()
    wait_for(lambda: r.evse()["state"] == 3, 8, what="charging")
    assert r.post("/limit", {"type": "energy", "value": 15, "auto_release": True})[0] == 201
    assert r.status()["limit"] is True
    wait_for(lambda: r.evse()["state"] == 0xFE, 60, what="stopped by the limit")
    s = r.status()
    assert s["session_energy"] >= 15
    code, claims = r.get("/claims")
    assert any(c["client"] == 65542 and c["state"] == "disabled" for c in claims), claims
    r.plug(False)
    wait_for(lambda: r.get("/limit")[1] == {}, 10, what="limit released at session end")
    wait_for(lambda: r.evse()["state"] == 1, 10, what="EVSE awake again, no EV")
