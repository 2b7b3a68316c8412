# The divert bench's own machinery (CPython only: the bench uses numpy): day splitting and the same-rules
# clairvoyant bound, checked against a brute force on small days.
import itertools
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))

import divert_bench as B  # noqa: E402

V = 240.0


def _day(surplus_a, block=60):
    # one value per 60 s block, held; load 0
    solar = []
    for a in surplus_a:
        solar.extend([a * V] * block)
    n = len(solar)
    return B.Day("t", 0, solar, [0.0] * n, [V] * n)


def _value(day, amps):
    m = B.metrics(day, amps)
    return m["capture_kwh"] - m["import_kwh"]


def _brute(surplus_a, max_changes):
    # every single session [a, b] starting where S >= 6 A, every level sequence with <= max_changes changes
    n = len(surplus_a)
    best = 0.0
    levels = range(6, 33)
    for a in range(n):
        if surplus_a[a] < 6:
            continue
        for b in range(a, n):
            for seq in itertools.product(levels, repeat=b - a + 1):
                ch = sum(1 for i in range(1, len(seq)) if seq[i] != seq[i - 1])
                if ch > max_changes:
                    continue
                v = 0.0
                for k, lv in enumerate(seq):
                    s = surplus_a[a + k]
                    v += min(lv, 2 * s - lv) * V * 60  # W*s
                best = max(best, v / 3.6e6)
    return best


def test_split_days_at_gaps_over_60_s():
    rows = [(t, 1000.0, 0.0, V) for t in range(0, 600, 60)]
    rows += [(t, 1000.0, 0.0, V) for t in range(600, 1260, 60)]  # 60 s step: same day
    rows += [(t, 1000.0, 0.0, V) for t in range(1261, 2000, 60)]  # 61 s gap: new day
    days = B.split_days(rows, "x")
    assert len(days) == 2
    assert days[0].t0 == 0 and len(days[0].solar) == 1260
    assert days[1].t0 == 1261


def test_same_rules_bound_matches_brute_force():
    rnd = random.Random(5)
    for _ in range(12):
        n = rnd.randint(2, 3)
        sur = [rnd.choice((0, 2, 5, 6, 7, 9, 12)) for _ in range(n)]
        for mc in (0, 1):
            day = _day(sur)
            amps = B.bound_same_rules(day, max_changes=mc)
            assert abs(_value(day, amps) - _brute(sur, mc)) < 1e-9, (sur, mc)


def test_same_rules_bound_obeys_its_rules():
    rnd = random.Random(9)
    sur = [max(0, int(10 + 6 * rnd.uniform(-1, 1))) for _ in range(300)]
    day = _day(sur)
    amps = B.bound_same_rules(day, max_changes=5)
    on = [i for i, a in enumerate(amps) if a > 0]
    assert on, "a sunny day has a session"
    assert on == list(range(on[0], on[-1] + 1))  # one session, no pause
    assert sur[on[0] // 60] >= 6  # starts only at 6 A of surplus
    changes = sum(1 for i in range(1, len(amps)) if amps[i] and amps[i - 1] and amps[i] != amps[i - 1])
    assert changes <= 5
    assert all(6 <= a <= 32 and a == int(a) for a in amps if a)
    # fewer changes can only cost
    assert _value(day, amps) <= _value(day, B.bound_same_rules(day, max_changes=30)) + 1e-9
    # and the unconstrained bound (any start, per-second levels) is never below it
    assert _value(day, amps) <= _value(day, B.bound_unconstrained(day)) + 1e-9
