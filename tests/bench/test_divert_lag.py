# bench/divert_lag.py: the same-rules bound's plan carried out through the bench's plant, on time and
# as late as a controller reading the 10-s feed would take it.
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))

import divert_bench as B  # noqa: E402
import divert_lag as L  # noqa: E402

V = 240.0


def _day(n=1800):
    # 10 A of surplus for 10 min, 16 A for 10 min, 8 A for 10 min (steps on minute boundaries)
    sol = [(10 if i < 600 else 16 if i < 1200 else 8) * V + 300.0 for i in range(n)]
    return B.Day("t", 1000, sol, [300.0] * n, [V] * n)


def _plan(n=1800):
    return [float(10 if i < 600 else 16 if i < 1200 else 8) for i in range(n)]


def _amps(day, plan, offset, late):
    rec = B._new_rec()
    return B.run_day(L.Plan(day.t0, plan, late), B.Plant(), day, offset, 10, 0, rec), rec


def test_replays_keep_the_plans_starts_and_changes():
    day, plan = _day(), _plan()
    for late in (False, True):
        for off in (0, 3, 9):
            _, rec = _amps(day, plan, off, late)
            assert rec["starts"] == 1 and rec["changes"] == 2


def test_late_replay_takes_a_level_at_the_first_feed_sample_inside_it():
    day, plan = _day(), _plan()
    for off in (0, 4, 9):
        amps, _ = _amps(day, plan, off, True)
        # the first feed sample that ends in the 16 A minute ends at second 600 + k, 0 <= k <= 9; the
        # controller reads it in the next second, then the plant's 1 s dead time and +2 A/s from 10 A
        first = next(i for i in range(600, 1800) if amps[i] >= 16)
        k = next(i for i in range(600, 610) if (i + off) % 10 == 9) - 600
        assert first == 600 + k + 1 + 3
        on_time, _ = _amps(day, plan, off, False)
        assert next(i for i in range(600, 1800) if on_time[i] >= 16) == 600 + 3


def test_late_replay_nets_no_more_than_on_time_and_the_plan_itself():
    day, plan = _day(), _plan()
    net = lambda a: (lambda m: m["capture_kwh"] - m["import_kwh"])(B.metrics(day, a))  # noqa: E731
    full = net(plan)
    for off in (0, 5):
        late, on_time = net(_amps(day, plan, off, True)[0]), net(_amps(day, plan, off, False)[0])
        assert late < on_time < full
