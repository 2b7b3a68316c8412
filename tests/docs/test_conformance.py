"""The RAPI conformance table is current, and every command the gateway uses is
implemented by the virtual EVSE and exercised by a test."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from tools import rapi_conformance as rc  # noqa: E402


def test_reference_is_present():
    # CI clones main with shared/ beside it; without the reference nothing can be checked
    assert os.path.exists(rc.REF), rc.REF


def test_table_is_current():
    text, _ = rc.build()
    with open(rc.OUT, encoding="utf-8") as f:
        assert f.read() == text, "run: python tools/rapi_conformance.py"


def test_gateway_commands_are_simulated_and_tested():
    _, rows = rc.build()
    n = len(rc.ORDER)
    used = [r for r in rows if r[2 + n] != "-"]
    assert len(used) >= 15
    for r in used:
        name, kind, sims, tests = r[0], r[1], r[2:2 + n], r[-1]
        if kind == "command":
            assert "yes" in sims, (name, sims)  # some controller profile implements it
        assert tests != "-", name  # a passing test asserted it on the virtual EVSE
