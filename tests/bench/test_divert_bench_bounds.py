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


def _brute_sessions(surplus_a, max_changes, sessions, max_a):
    # every assignment of off / a level to each block: at most `sessions` runs of charging, each
    # starting where S >= 6 A, at most max_changes level changes inside the runs in all
    best = 0.0
    for seq in itertools.product([0] + list(range(6, max_a + 1)), repeat=len(surplus_a)):
        runs = ch = 0
        ok = True
        for i, lv in enumerate(seq):
            if lv and (i == 0 or not seq[i - 1]):
                runs += 1
                ok = ok and surplus_a[i] >= 6
            elif lv and seq[i - 1] != lv:
                ch += 1
        if not ok or runs > sessions or ch > max_changes:
            continue
        v = sum(min(lv, 2 * s - lv) * V * 60 for lv, s in zip(seq, surplus_a) if lv)
        best = max(best, v / 3.6e6)
    return best


def test_two_session_bound_matches_brute_force(monkeypatch):
    monkeypatch.setattr(B, "MAX_A", 10)  # levels 6-10: small enough to enumerate
    rnd = random.Random(11)
    for _ in range(25):
        sur = [rnd.choice((0, 1, 3, 6, 7, 9, 10)) for _ in range(rnd.randint(3, 6))]
        for mc in (0, 1, 2):
            day = _day(sur)
            for sessions in (1, 2):
                amps = B.bound_same_rules(day, max_changes=mc, sessions=sessions)
                want = _brute_sessions(sur, mc, sessions, 10)
                assert abs(_value(day, amps) - want) < 1e-9, (sur, mc, sessions)
                assert B._starts(amps) <= sessions


def test_second_sessions_go_to_the_days_that_gain_most_within_the_cap():
    # 10 days: a sunny morning, a dull hour, a shorter sunny spell; how much the spell is worth grows
    # with the day's number, so the two extra sessions (10 // 5) must go to the last two days
    days = []
    for k in range(10):
        days.append(_day([10] * 60 + [0] * 60 + [7 + k * 0.3] * (5 + 3 * k)))
    amps = B.bound_amps(days)
    starts = [B._starts(a) for a in amps]
    assert starts == [1] * 8 + [2, 2], starts
    assert sum(starts) <= 1.2 * len(days)
    # fewer than five days: no second session anywhere (int(0.2 * 4) = 0)
    assert [B._starts(a) for a in B.bound_amps(days[:4])] == [1] * 4


def test_two_unconstrained_sessions_match_brute_force():
    rnd = random.Random(3)
    for _ in range(40):
        sur = [rnd.choice((0, 1, 3, 6, 8, 11)) for _ in range(rnd.randint(2, 9))]
        day = _day(sur, block=1)
        amps = B.bound_unconstrained(day)
        want1 = want2 = 0.0
        vals = [min(lv, 2 * a - lv) for a, lv in ((a, min(B.MAX_A, max(6, a))) for a in sur)]  # whole amps
        for a in range(len(sur)):
            for b in range(a, len(sur)):
                one = sum(vals[a:b + 1])
                want1 = max(want1, one)
                for c in range(b + 2, len(sur)):
                    for d in range(c, len(sur)):
                        want2 = max(want2, one + sum(vals[c:d + 1]))
        k = V / 3.6e6
        assert abs(_value(day, amps) - want1 * k) < 1e-9, sur
        two = B.bound_unconstrained(day, sessions=2)
        assert abs(_value(day, two) - max(want1, want2) * k) < 1e-9, sur
        assert B._starts(two) <= 2


def test_pooled_bounds_stay_upper_bounds():
    # over a trace the unconstrained bound (its own second sessions pooled the same way) is above
    # the same-rules one (each may give its second sessions to other days)
    rnd = random.Random(4)
    days = [_day([max(0, int(8 + 5 * rnd.uniform(-1, 1))) for _ in range(60)]) for _ in range(10)]
    net = {"unconstrained": 0.0, "same_rules": 0.0}
    for b in B.bounds_for(days):
        for k in net:
            net[k] += b[k]["capture_kwh"] - b[k]["import_kwh"]
    assert sum(b["same_rules"]["starts"] for b in B.bounds_for(days)) <= 12
    assert net["unconstrained"] >= net["same_rules"] - 1e-9 and net["same_rules"] > 0, net
