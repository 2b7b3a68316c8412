# The divert bench's year of real data and its stale-feed check. The reader of the Carpentras year
# (bench/divert_traces.py load_bsrn_parquet) runs on a made-up year put in its cache, so no Parquet file and
# no pyarrow are needed: daylight trimming, missing minutes held, days with too many missing minutes left
# out. The stale-feed target is judged only where a session was running when the feed went silent.
import calendar
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))

import divert_traces as TR  # noqa: E402

DAY1 = calendar.timegm((2016, 5, 1, 0, 0, 0, 0, 0, 0))
DAY2 = DAY1 + 86400


def _fake_year(missing_day2):
    # two May days, one value a minute stamped at the middle of the minute (as the file is), GHI 500 W/m2
    # from 06:00 to 17:59 UTC and 0 outside; day 1 misses 3 daytime minutes, day 2 `missing_day2`
    times, ghis = [], []
    for base, missing in ((DAY1, 3), (DAY2, missing_day2)):
        for m in range(1440):
            lit = 360 <= m < 1080
            g = 500.0 if lit else 0.0
            if lit and 600 <= m < 600 + missing:
                g = None
            times.append((base + m * 60 + 30) * 1000000)
            ghis.append(g)
    return times, ghis


def _load(missing_day2):
    path = "fake-year-%d" % missing_day2
    TR._PARQUET[path] = _fake_year(missing_day2)
    try:
        return TR.load_bsrn_parquet(path, 2016, 5, 2 * 3600)
    finally:
        del TR._PARQUET[path]


def test_daylight_only_and_a_missing_minute_holds_the_one_before():
    rows = _load(30)
    day1 = [r for r in rows if r[0] < DAY2]
    assert len(day1) == 720  # 06:00 to 17:59, the dark minutes trimmed
    assert day1[0][0] == DAY1 + 360 * 60  # the minute's start, not its middle
    pv = TR.pv_from_ghi(500.0)
    assert all(r[1] == pv for r in day1)  # the 3 missing minutes hold 500 W/m2
    assert all(r[2] > 0 for r in day1)  # a household load is added


def test_a_day_with_more_than_30_missing_minutes_is_left_out():
    assert len([r for r in _load(30) if r[0] >= DAY2]) == 720  # 30 missing: kept
    rows = _load(31)
    assert rows and all(r[0] < DAY2 for r in rows)  # 31 missing: day 2 left out, day 1 kept
    assert len(rows) == 720


# ----------------------------------------------------------------------------- the stale-feed check
import divert_bench as B  # noqa: E402


def _flat_day(surplus_a, hours=2):
    n = hours * 3600
    return B.Day("flat", 1700000000, [surplus_a * 240.0] * n, [0.0] * n, [240.0] * n)


def test_the_stale_check_falls_back_when_a_session_runs_and_says_so_when_none_does():
    sunny = B.stale_test("ours", _flat_day(16), 0, 10)
    assert sunny["ran"] and sunny["fallback_s"] is not None and sunny["fallback_s"] <= 120
    dull = B.stale_test("ours", _flat_day(2), 0, 10)  # 2 A of surplus: no session ever starts
    assert not dull["ran"]


def _summary(fallback_max_s, ran):
    row = {"starts_per_day": 1.0, "changes_per_day": 10.0, "vs_same_rules_pct": 96.0, "import_kwh": 1.0}
    bound = {"net_kwh": 10.0, "import_kwh": 2.0}
    return {"table": {"ours": row, "ours cont": row, "same-rules bound": bound},
            "stale": {"ours": {"fallback_max_s": fallback_max_s, "ran": ran}}}


def test_the_stale_target_is_judged_only_where_a_session_ran():
    assert B.targets(_summary(59, 5))["stale"][0] is True
    assert B.targets(_summary(130, 5))["stale"][0] is False
    assert B.targets(_summary(None, 5))["stale"][0] is False  # never fell back
    assert B.targets(_summary(0, 0))["stale"][0] is None  # no session to fall back from: n/a, not "yes"
