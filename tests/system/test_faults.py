"""The fault and attack suite (tests/system/faults.py) at small counts, within the time
`make test` can give it (about 90 s): every row must end with everything survived, nothing
lost and no safety violation. `make faults` runs the full counts (bench/faults_bench.py)."""
import faults
import pytest


# exclusive: some rows judge time (a pilot outside the limits for more than 2 s while the
# gateway repairs what a corrupted command did; answers under Emoncms faults)
@pytest.mark.exclusive
def test_faults_and_attacks_leave_the_gateway_whole_and_the_charger_safe():
    rows = faults.run(faults.QUICK, "src")
    print("\n" + faults.table(rows) + "\n" + faults.notes(rows))
    assert len(rows) == 12
    bad = ["%s: %s" % (r.name, "; ".join(r.problems)) for r in rows if not r.ok()]
    assert not bad, "\n".join(bad)
    assert all(r.tried > 0 for r in rows)
