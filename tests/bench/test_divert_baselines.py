# The bench's evcc re-implementation at user settings other than its defaults (shared/reference/divert.md
# 2.3: enable / disable thresholds and delays), as bench/divert_frontier.py sweeps them, and how the
# frontier judges a target.
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))

import divert_bench as B  # noqa: E402
import divert_frontier as F  # noqa: E402

V = 240.0


def _run(ev, grid_of, t_end):
    """Drive an evcc instance once a second; grid_of(t, enabled, cur) -> grid W. Returns the times at
    which it switched on and off."""
    ons, offs = [], []
    on, cur = False, 0
    for t in range(t_end):
        en, cur = ev.step(t, on, cur if on else 0, V)
        if en != on:
            (ons if en else offs).append(t)
            on = en
        ev.on_feed(t, grid_of(t, on, cur), V)
    return ons, offs


def test_evcc_defaults_start_after_a_minute_of_6_a_export_and_stop_after_3_min_of_import():
    ev = B.Evcc(0)
    # 7 A of surplus until 600 s, then 1 A: at 6 A the grid imports 5 A
    ons, offs = _run(ev, lambda t, on, cur: (cur if on else 0) * V - (7 if t < 600 else 1) * V, 1200)
    assert len(ons) == 1 and 60 <= ons[0] <= 120
    assert len(offs) == 1 and 600 + 180 <= offs[0] <= 600 + 180 + 60


def test_evcc_disable_threshold_holds_while_the_import_stays_below_it():
    # at 6 A with 4.5 A of surplus the grid imports 1.5 A = 360 W: below a 500 W threshold, it holds an hour
    ev = B.Evcc(0, dis_w=500, dis_s=600)
    ons, offs = _run(ev, lambda t, on, cur: (cur if on else 0) * V - (8 if t < 600 else 4.5) * V, 4200)
    assert len(ons) == 1 and offs == []
    # with 3 A of surplus it imports 720 W: the 10-min disable timer runs out
    ev = B.Evcc(0, dis_w=500, dis_s=600)
    ons, offs = _run(ev, lambda t, on, cur: (cur if on else 0) * V - (8 if t < 600 else 3) * V, 4200)
    assert len(ons) == 1 and len(offs) == 1 and 600 + 600 <= offs[0] <= 600 + 600 + 60


def test_evcc_enable_threshold_needs_that_much_export():
    # threshold -2000 W: an export of 1800 W (7.5 A, enough for the default) does not start it
    ev = B.Evcc(0, en_w=-2000, en_s=300)
    ons, _ = _run(ev, lambda t, on, cur: (cur if on else 0) * V - 1800, 1800)
    assert ons == []
    ev = B.Evcc(0, en_w=-2000, en_s=300)
    ons, _ = _run(ev, lambda t, on, cur: (cur if on else 0) * V - 2100, 1800)
    assert len(ons) == 1 and 300 <= ons[0] <= 360


def test_a_frontier_target_counts_only_when_both_runs_meet_it():
    bound = {"net_kwh": 100.0, "import_kwh": 10.0}
    good = {"starts_per_day": 1.0, "changes_per_day": 20.0, "net_kwh": 96.0, "import_kwh": 9.0}
    assert F.targets_met(good, good, bound) == (True, True, True, True)
    worse = dict(good, starts_per_day=1.3, net_kwh=94.0)
    assert F.targets_met(good, worse, bound) == (False, True, False, True)
    assert F.targets_met(dict(good, import_kwh=10.5), good, bound) == (True, True, True, False)


def test_the_frontier_flags_openevse_ratios_that_start_below_6_a():
    flagged = sorted(F.BELOW_6A)
    assert flagged and all(F.SETTINGS[n][1]["ratio"] < 1.0 for n in flagged)
    assert all(n in F.BELOW_6A for n, (cls, kw) in F.SETTINGS.items() if kw.get("ratio", 1.0) < 1.0)
    assert "ours" in F.SETTINGS and "evcc en60s dis180s dis0W" in F.SETTINGS  # both defaults are in the grid
