"""Traces for bench/divert_bench.py: loaders, the real data that registry packages ship, synthetic stress.

Every loader returns a list of rows (time_s, solar_w, load_w, vrms) with absolute times (seconds since the
epoch, or any monotonic seconds); the bench splits them into days at every gap over 60 s.

Real data that is not ours is never committed: it is read at bench time from the installed package
(requirements-bench.txt, installed by `make bench-divert`). See docs/divert.md for sources and licences.
"""
import calendar
import gzip
import importlib.util
import math
import os
import random

V_DEFAULT = 240.0


def _pkg_dir(name):
    """Folder of an installed package, without importing it (pvlib would import numpy, pandas, scipy)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


def pkg_file(pkg, rel):
    d = _pkg_dir(pkg)
    if d is None:
        return None
    p = os.path.join(d, rel)
    return p if os.path.exists(p) else None


# ----------------------------------------------------------------------------- household load (synthetic)
def house_load(day_seed, t_local_s, n, step):
    """Synthetic household load, W, for n samples of `step` s from local time t_local_s (seconds of day).
    Base 180-260 W, a fridge cycling 90 W (15 min on / 35 off), cooking and appliance events drawn per day:
    kettle 2.2 kW for 3-4 min several times, a hob 1.5 kW at noon, an oven 2.4 kW in the evening, a washing
    machine (2.0 kW heating 20 min then 250 W 60 min) or dishwasher (1.8 kW 30 min) on some days.
    Deterministic for a seed; it only stands in for the house so that real PV data gets a load to compete with."""
    rnd = random.Random(day_seed)
    base = rnd.uniform(180, 260)
    ev = []  # (start, end, watts) in local seconds of day

    def add(a, dur, w):
        ev.append((a, a + dur, w))

    for _ in range(rnd.randint(3, 6)):
        add(rnd.randint(6 * 3600, 22 * 3600), rnd.randint(180, 240), 2200)
    if rnd.random() < 0.6:
        add(rnd.randint(11 * 3600 + 1800, 12 * 3600 + 1800), rnd.randint(900, 1800), 1500)
    if rnd.random() < 0.7:
        add(rnd.randint(17 * 3600 + 1800, 19 * 3600), rnd.randint(1800, 3600), 2400)
    if rnd.random() < 0.45:
        a = rnd.randint(8 * 3600, 15 * 3600)
        add(a, 1200, 2000)
        add(a + 1200, 3600, 250)
    if rnd.random() < 0.4:
        add(rnd.randint(9 * 3600, 21 * 3600), 1800, 1800)
    phase = rnd.randint(0, 3000)
    out = [0.0] * n
    for k in range(n):
        t = t_local_s + k * step
        w = base + (90.0 if (t + phase) % 3000 < 900 else 0.0)
        tod = t % 86400
        for a, b, x in ev:
            if a <= tod < b:
                w += x
        out[k] = w
    return out


def _with_load(rows_pv, tz_s, seed):
    """rows_pv: [(t_abs, pv_w)] sorted; adds the synthetic house load per (local) day."""
    out = []
    by_day = {}
    for t, pv in rows_pv:
        by_day.setdefault((int(t) + tz_s) // 86400, []).append((t, pv))
    for d in sorted(by_day):
        rs = by_day[d]
        t0 = int(rs[0][0])
        step = 60
        n = int(rs[-1][0] - t0) // step + 1
        ld = house_load(seed * 100003 + d, (t0 + tz_s) % 86400, n, step)
        for t, pv in rs:
            k = min(n - 1, max(0, int(t - t0) // step))
            out.append((t, pv, ld[k], V_DEFAULT))
    return out


# ----------------------------------------------------------------------------- real: shared OpenEVSE days
def load_grid_ie(path):
    """OpenEVSE divert_sim `dayN_grid_ie.csv`: date-time, solar W, grid W (+import); load = grid + solar."""
    rows = []
    last = (0.0, 0.0)
    with open(path) as f:
        next(f)
        for line in f:
            p = [x.strip() for x in line.split(",")]
            if len(p) < 3:
                continue
            d, hms = p[0].split(" ")
            y, mo, da = (int(x) for x in d.split("-"))
            hh, mm, ss = hms.split(":")
            t = calendar.timegm((y, mo, da, int(hh), int(mm), int(float(ss)), 0, 0, 0))
            try:
                solar = float(p[1])
                grid = float(p[2])
                last = (solar, grid)
            except ValueError:  # "null" rows: hold the previous value
                solar, grid = last
            rows.append((t, max(0.0, solar), max(0.0, grid + solar), V_DEFAULT))
    return rows


# ----------------------------------------------------------------------------- real: BSRN Payerne (pvlib)
# PV model for irradiance data: AC W = kWp * GHI/1000 * 0.85 (temperature, wiring and inverter losses),
# clipped at the inverter rating. Horizontal plane (no transposition): it keeps the measured cloud
# transients and under-states morning/evening a little, which only makes the surplus rarer.
PV_KWP = 4.0
PV_DERATE = 0.85
INV_W = 3600.0


def pv_from_ghi(ghi):
    return min(INV_W, max(0.0, PV_KWP * 1000.0 * ghi / 1000.0 * PV_DERATE))


def load_bsrn(path, year, month, tz_s):
    """BSRN station-to-archive file (logical record 0100: day, minute of day UTC, GHI mean ...).
    Daylight rows only (from the first to the last minute of each day with GHI >= 5 W/m2), missing values
    (-999) held from the previous minute, so each day is one gap-free block."""
    op = gzip.open if path.endswith(".gz") else open
    per_day = {}
    with op(path, "rt") as f:
        rec = None
        first = True
        for line in f:
            if line.startswith("*"):
                rec = line.strip()
                first = True
                continue
            if rec not in ("*U0100", "*C0100"):
                continue
            if first:
                p = line.split()
                day, minute, ghi = int(p[0]), int(p[1]), float(p[2])
                per_day.setdefault(day, []).append((minute, ghi))
            first = not first
    rows = []
    for day in sorted(per_day):
        vals = per_day[day]
        lit = [m for m, g in vals if g >= 5]
        if not lit:
            continue
        a, b = min(lit), max(lit)
        last = 0.0
        base = calendar.timegm((year, month, day, 0, 0, 0, 0, 0, 0))
        for m, g in vals:
            if g < -900:
                g = last
            last = g
            if a <= m <= b:
                rows.append((base + m * 60, pv_from_ghi(g)))
    return _with_load(rows, tz_s, seed=year * 100 + month)


_PARQUET = {}  # path -> (times, ghis): the year is read once for all its months


def load_bsrn_parquet(path, year, month, tz_s, max_missing=30):
    """solarpandas `sample_data/car_bsrn_2016.parquet`: BSRN Carpentras (FR), every minute of 2016,
    GHI in W/m2 (1-min means, stamped at the middle of the minute, UTC; missing values are nulls).
    Read with pyarrow only (no pandas). The same treatment as load_bsrn: one month, daylight rows only
    (first to last minute of each UTC day with GHI >= 5 W/m2), a missing minute held from the one before.
    A day with more than max_missing daytime minutes missing is left out: holding one value for half an
    hour would invent a calm sky (2016 has six such days, all in September to November)."""
    if path not in _PARQUET:
        import pyarrow.parquet as pq  # bench-only (requirements-bench.txt)

        tab = pq.read_table(path, columns=["time", "ghi"])
        # microseconds since the epoch, UTC
        _PARQUET[path] = (tab.column("time").cast("int64").to_pylist(), tab.column("ghi").to_pylist())
    times, ghis = _PARQUET[path]
    lo = calendar.timegm((year, month, 1, 0, 0, 0, 0, 0, 0))
    hi = calendar.timegm((year + month // 12, month % 12 + 1, 1, 0, 0, 0, 0, 0, 0))
    per_day = {}
    for us, g in zip(times, ghis):
        t = us // 1000000 - 30  # the minute's start: the bench holds a row until the next
        if lo <= t < hi:
            per_day.setdefault(t // 86400, []).append((t, g))
    rows = []
    for day in sorted(per_day):
        vals = sorted(per_day[day])
        lit = [t for t, g in vals if g is not None and g >= 5]
        if not lit:
            continue
        a, b = min(lit), max(lit)
        if sum(1 for t, g in vals if a <= t <= b and g is None) > max_missing:
            continue
        last = 0.0
        for t, g in vals:
            if g is None:
                g = last
            last = g
            if a <= t <= b:
                rows.append((t, pv_from_ghi(g)))
    return _with_load(rows, tz_s, seed=year * 100 + month + 7)


def load_serf(path):
    """pvanalytics serf_east_1min_ac_power.csv: measured AC power (W) of NREL's SERF east array, 1 min.
    Scaled from its 4.6 kW peak to the 3.6 kW inverter used for the other traces."""
    rows = []
    with open(path) as f:
        next(f)
        for line in f:
            ts, w = line.strip().split(",")
            d, hms = ts[:19].split(" ")
            y, mo, da = (int(x) for x in d.split("-"))
            hh, mm, ss = (int(x) for x in hms.split(":"))
            tz = int(ts[19:22]) * 3600
            t = calendar.timegm((y, mo, da, hh, mm, ss, 0, 0, 0)) - tz
            rows.append((t, max(0.0, float(w) * 3600.0 / 4600.0)))
    # daylight blocks only (>= 20 W), per day
    out = []
    by = {}
    for t, w in rows:
        by.setdefault((t - 7 * 3600) // 86400, []).append((t, w))
    for d in sorted(by):
        rs = by[d]
        lit = [i for i, (t, w) in enumerate(rs) if w >= 20]
        if lit:
            out.extend(rs[min(lit):max(lit) + 1])
    return _with_load(out, -7 * 3600, seed=2022)


# ----------------------------------------------------------------------------- synthetic
def _clear(t_tod, rise, sset, peak):
    if t_tod <= rise or t_tod >= sset:
        return 0.0
    x = (t_tod - rise) / float(sset - rise)
    return peak * math.sin(math.pi * x) ** 1.3


def synthetic(kind, days=7, seed=1):
    """kind: 'fast_clouds' (cumulus: 20 s - 6 min passages, PV to 15-40 %, varying density per day),
    'clear' (clear days from winter to summer: 8-16 h of daylight, 1.6-3.6 kW peak),
    'overcast' (a week of overcast, PV 8-30 % of clear with slow drift, short sunny breaks; one sunny afternoon),
    'winter' (short days, 8.5-9.5 h, 1.4-2.1 kW peak: about what 4 kWp on the horizontal gets from the
    December-January sun at 44-47 N; each day drawn clear, cumulus or overcast as above).
    10 s rows, daylight only, synthetic house load. Deterministic."""
    rnd = random.Random(seed * 7919 + len(kind))
    rows = []
    t_base = 1700000000 - 1700000000 % 86400  # a midnight (UTC = local here)
    for d in range(days):
        dk = kind
        if kind == "clear":
            frac = d / float(max(1, days - 1))
            day_len = 8 * 3600 + int(8 * 3600 * frac)
            peak = 1600 + 2000 * frac
        elif kind == "winter":
            dk = rnd.choice(("clear", "fast_clouds", "overcast"))
            day_len = rnd.randint(17, 19) * 1800
            peak = rnd.uniform(1400, 2100)
        else:
            day_len = rnd.randint(12, 15) * 3600
            peak = rnd.uniform(3000, 3600)
        rise = 13 * 3600 - day_len // 2
        sset = rise + day_len
        clouds = []
        if dk == "fast_clouds":
            gap_hi = rnd.choice((300, 900, 1800))
            t = rise + 1200
            while t < sset:
                t += rnd.randint(40, gap_hi)
                dur = rnd.randint(20, 360)
                clouds.append((t, t + dur, rnd.uniform(0.15, 0.4)))
                t += dur
        level = rnd.uniform(0.08, 0.3)
        drift = []
        if dk == "overcast":
            t = rise
            while t < sset:
                dur = rnd.randint(1200, 5400)
                drift.append((t, t + dur, rnd.uniform(0.08, 0.3)))
                t += dur
            for _ in range(rnd.randint(0, 4)):
                a = rnd.randint(rise + 3600, sset - 3600)
                clouds.append((a, a + rnd.randint(300, 1200), -1.0))  # sunny break
            if d == 3 and kind == "overcast":
                clouds.append((13 * 3600, sset, -1.0))
        for tod in range(rise, sset, 10):
            pv = min(INV_W, _clear(tod, rise, sset, peak))
            k = 1.0
            if dk == "overcast":
                k = level
                for a, b, x in drift:
                    if a <= tod < b:
                        k = x
            for a, b, x in clouds:
                if a <= tod < b:
                    k = 1.0 if x < 0 else x
            rows.append((t_base + d * 86400 + tod, pv * k))
    # load at 10 s resolution
    res = []
    by = {}
    for t, pv in rows:
        by.setdefault(t // 86400, []).append((t, pv))
    for dd in sorted(by):
        rs = by[dd]
        t0 = rs[0][0]
        ld = house_load(seed * 1000 + dd + len(kind), t0 % 86400, len(rs), 10)
        for (t, pv), w in zip(rs, ld):
            res.append((t, pv, w, V_DEFAULT))
    return res


def stress_file(path, seed=7):
    """The original single stress day (bench/traces/stress_clouds.csv), generated if missing."""
    rnd = random.Random(seed)
    t_start, t_end = 6 * 3600, 20 * 3600
    clouds = []
    t = t_start + 1800
    while t < t_end:
        t += rnd.randint(60, 1500)
        d = rnd.randint(20, 360)
        clouds.append((t, t + d, rnd.uniform(0.15, 0.4)))
        t += d
    clouds.append((14 * 3600, 15 * 3600, 0.25))  # a long overcast hour
    spikes = []
    for _ in range(14):
        a = rnd.randint(t_start, t_end)
        spikes.append((a, a + rnd.randint(60, 900), rnd.choice((1500, 2200, 3000))))
    rows = []
    for t in range(t_start, t_end, 5):
        x = (t - t_start) / float(t_end - t_start)
        pv = 4000.0 * math.sin(math.pi * x) ** 1.5
        for a, b, k in clouds:
            if a <= t < b:
                pv *= k
        ld = 300.0 + 80.0 * math.sin(t / 900.0)
        for a, b, w in spikes:
            if a <= t < b:
                ld += w
        rows.append("%d,%d,%d" % (t, pv, ld))
    with open(path, "w") as f:
        f.write("time_s,solar_w,load_w\n")
        f.write("\n".join(rows) + "\n")


def load_csv(path):
    """time_s,solar_w,load_w[,vrms]; time_s absolute or seconds of day; several days = gaps over 60 s."""
    rows = []
    with open(path) as f:
        head = f.readline().strip().split(",")
        has_v = len(head) > 3
        for line in f:
            p = line.strip().split(",")
            if len(p) < 3:
                continue
            v = float(p[3]) if has_v and len(p) > 3 and p[3] else V_DEFAULT
            rows.append((float(p[0]), float(p[1]), float(p[2]), v))
    return rows
