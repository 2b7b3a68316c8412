"""Closed-loop solar PV divert benchmark (design: shared/reference/divert.md section 6).

python bench/divert_bench.py [--trace FILE.csv ...] [--json] [--no-plot] [--feed-s 10]

Plant at 1 s steps: Grid = Load + V*I_ev - PV; surplus S = max(0, PV - Load).
Feed: grid_ie published every --feed-s seconds as the mean of the last period.
EV: relay closes -> 5 s no current -> ramp 1 A/s to the pilot; pilot changes: 1 s dead time,
then slew +2 A/s up / -5 A/s down; pause: current drops to 0 at once.
Controllers: ours (firmware/divert/controller.py, the firmware code), OpenEVSE ESP32 default and evcc PV
(re-implemented from the written description in divert.md 6.5), and the clairvoyant one-session-a-day bound.
"""
import argparse
import json
import math
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "firmware"))

from divert.controller import DivertController, MODE_ECO  # noqa: E402  (the exact firmware code)

DATA_DIR = os.path.join(REPO, "..", "shared", "divert-data", "openevse_divert_sim")
STRESS = os.path.join(HERE, "traces", "stress_clouds.csv")
PLOT = os.path.join(REPO, "docs", "divert-day.png")
V_DEFAULT = 240.0
EV_MAX_A = 32
MAX_A = 32


# ----------------------------------------------------------------------------- traces
class Trace:
    def __init__(self, name, t0, solar, load, vrms):
        self.name = name
        self.t0 = t0  # seconds of day of the first sample (for the plot)
        self.solar = solar  # W per second
        self.load = load
        self.vrms = vrms


def _hold(rows, name):
    """rows: list of (time_s, solar, load, vrms). Expand to 1 s, holding each row until the next."""
    rows.sort(key=lambda r: r[0])
    t0 = int(rows[0][0])
    t_end = int(rows[-1][0]) + max(1, int(rows[-1][0] - rows[-2][0])) if len(rows) > 1 else t0 + 60
    n = t_end - t0
    solar = [0.0] * n
    load = [0.0] * n
    vr = [V_DEFAULT] * n
    j = 0
    for i in range(n):
        t = t0 + i
        while j + 1 < len(rows) and rows[j + 1][0] <= t:
            j += 1
        r = rows[j]
        solar[i] = r[1]
        load[i] = r[2]
        vr[i] = r[3]
    return Trace(name, t0 % 86400, solar, load, vr)


def load_grid_ie(path):
    rows = []
    last = (0.0, 0.0)
    with open(path) as f:
        next(f)
        for line in f:
            p = [x.strip() for x in line.split(",")]
            if len(p) < 3:
                continue
            hh, mm, ss = p[0].split(" ")[1].split(":")
            t = int(hh) * 3600 + int(mm) * 60 + int(float(ss))
            try:
                solar = float(p[1])
                grid = float(p[2])
                last = (solar, grid)
            except ValueError:  # "null" rows: hold the previous value
                solar, grid = last
            load = max(0.0, grid + solar)
            rows.append((t, max(0.0, solar), load, V_DEFAULT))
    return _hold(rows, os.path.basename(path).replace(".csv", ""))


def load_trace(path):
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
    return _hold(rows, os.path.basename(path).replace(".csv", ""))


def make_stress(path, seed=7):
    """Synthetic day: 4 kWp clear-sky bell 06:00-20:00 with frequent fast cloud passages (20 s - 6 min,
    PV down to 15-40 %), a cloudy afternoon hour, house base 250-400 W with kettle/oven/washer spikes."""
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


# ----------------------------------------------------------------------------- controllers
class Ours:
    name = "ours"

    def __init__(self):
        self.c = DivertController(min_a=6, max_a=MAX_A, feed="grid")
        self.c.set_mode(MODE_ECO)

    def on_feed(self, t, grid_w, v):
        self.c.feed(t * 1000, int(round(grid_w)))

    def step(self, t, charging, amps, v):
        want, a = self.c.update(t * 1000, True, charging, int(amps * 1000), int(v * 1000))
        return want == "active", a

    def fallback_state(self, t):
        return self.c.status(t * 1000)["divert_stale"]


class OpenEVSE:
    """OpenEVSE ESP32 default (ratio 1.1, attack 20 s, decay 600 s, min charge 600 s), per divert.md 6.5."""

    name = "openevse"

    def __init__(self, ratio=1.1, attack=20.0, decay=600.0, min_charge=600.0):
        self.r, self.att, self.dec, self.minc = ratio, attack, decay, min_charge
        self.avg = 0.0
        self.last = None
        self.enabled = False
        self.rate = 6
        self.start_t = None
        self.amps = 0.0

    def on_feed(self, t, grid_w, v):
        ig = grid_w / v - self.amps
        if ig < 0:
            a = -ig - 1000.0 * max(0.0, self.r - 1.0) / v
        else:
            a = 0.0
        a = max(0.0, a)
        dt = 0 if self.last is None else int(t - self.last)
        self.last = t
        tau = max(10.0, self.att if a > self.avg else self.dec)
        k = 1.0 - math.exp(-dt / tau)
        self.avg = k * a + (1 - k) * self.avg
        rate = math.floor(a)
        if a - rate > min(1.0, self.r):
            rate += 1
        rate = min(MAX_A, max(6, rate))
        trig = 6 * min(1.0, self.r)
        if self.avg >= trig + 0.5:
            if not self.enabled:
                self.start_t = t
            self.enabled = True
            self.rate = rate
        elif self.avg <= trig and self.enabled and t - self.start_t >= self.minc:
            self.enabled = False

    def step(self, t, charging, amps, v):
        self.amps = amps
        return self.enabled, self.rate

    def fallback_state(self, t):
        return False


class Evcc:
    """evcc PV mode defaults (30 s tick, enable 0 W / 1 min, disable 0 W / 3 min, trunc), per divert.md 6.5."""

    name = "evcc"

    def __init__(self):
        self.grid = None
        self.enabled = False
        self.cur = 6
        self.next_tick = 0
        self.en_since = None
        self.dis_since = None

    def on_feed(self, t, grid_w, v):
        self.grid = grid_w

    def step(self, t, charging, amps, v):
        if t >= self.next_tick:
            self.next_tick = t + 30
            if self.grid is not None:
                self._tick(t, v)
        return self.enabled, self.cur

    def _tick(self, t, v):
        ieff = self.cur if self.enabled else 0
        target = max(ieff + (-self.grid) / v, 0.0)
        if not self.enabled:
            if target >= 6:
                if self.en_since is None:
                    self.en_since = t
                if t - self.en_since >= 60:
                    self.enabled = True
                    self.cur = 6
                    self.en_since = None
                    self.dis_since = None
            else:
                self.en_since = None
            return
        if target < 6:
            if self.grid >= 0:
                if self.dis_since is None:
                    self.dis_since = t
                if t - self.dis_since >= 180:
                    self.enabled = False
                    self.dis_since = None
                    return
            else:
                self.dis_since = None
            self.cur = 6
            return
        self.dis_since = None
        self.cur = int(min(target, MAX_A))

    def fallback_state(self, t):
        return False


def clairvoyant(tr, seed_start=False):
    """Best single contiguous session per day with perfect knowledge, lambda = 1 rounding, no EV lag
    (divert.md 6.3: Kadane over per-second values min(P,S) - max(0,P-S)). seed_start=True: the session may
    not start before the surplus first reaches 6 A (the seed rule "start when surplus reaches 6 A");
    reference only, the headline bound is the unconstrained one."""
    n = len(tr.solar)
    first = 0
    if seed_start:
        first = n
        for i in range(n):
            if tr.solar[i] - tr.load[i] >= 6 * tr.vrms[i]:
                first = i
                break
    vals = [0.0] * n
    pe = [0.0] * n
    for i in range(n):
        v = tr.vrms[i]
        s = max(0.0, tr.solar[i] - tr.load[i])
        a = s / v
        fl = int(a)
        i_a = fl + 1 if a - fl > 0.5 else fl
        i_a = min(MAX_A, max(6, i_a))
        p = i_a * v
        pe[i] = p
        vals[i] = min(p, s) - max(0.0, p - s)
    best, cur, cs, bs, be = 0.0, 0.0, 0, 0, -1
    for i in range(first, n):
        if cur <= 0:
            cur, cs = 0.0, i
        cur += vals[i]
        if cur > best:
            best, bs, be = cur, cs, i
    amps = [0.0] * n
    for i in range(bs, be + 1):
        amps[i] = pe[i] / tr.vrms[i]
    return amps


# ----------------------------------------------------------------------------- simulation
def simulate(ctrl, tr, feed_s=10, outage=None, cloud=None):
    """Returns per-second EV amps and event counters. outage=(a, b): no feed samples for a <= i < b.
    cloud=(a, b, k): PV multiplied by k in that window (applied by the caller's trace copy)."""
    n = len(tr.solar)
    amps = [0.0] * n
    i_ev = 0.0
    relay = False
    relay_t = 0
    prev_pilot = 0
    pilot_hist = []  # pilot commanded 1 s ago (dead time)
    grid_acc = 0.0
    grid_cnt = 0
    starts = 0
    changes = 0
    reversals = 0
    last_dir = 0
    last_change_t = -10**9
    first_ramp = True
    fallback_t = None
    for i in range(n):
        t = tr.t0 + i
        v = tr.vrms[i]
        # controller decision with the measurement of the previous second
        en, pilot = ctrl.step(t, relay, i_ev, v)
        if en:
            if not relay:
                relay = True
                relay_t = i
                starts += 1
                first_ramp = True
                prev_pilot = pilot
            elif pilot != prev_pilot:
                changes += 1
                d = 1 if pilot > prev_pilot else -1
                if last_dir and d != last_dir and i - last_change_t < 60:
                    reversals += 1
                last_dir = d
                last_change_t = i
                prev_pilot = pilot
        else:
            relay = False
            prev_pilot = 0
        pilot_hist.append(pilot if en else 0)
        # EV plant
        if not relay:
            i_ev = 0.0
        elif i - relay_t >= 5:
            eff = min(pilot_hist[-2] if len(pilot_hist) > 1 else pilot, EV_MAX_A)
            if i_ev < eff:
                i_ev = min(eff, i_ev + (1.0 if first_ramp else 2.0))
                if i_ev >= eff:
                    first_ramp = False
            elif i_ev > eff:
                i_ev = max(eff, i_ev - 5.0)
                first_ramp = False
        amps[i] = i_ev
        # fallback = paused, or at the minimum current because the controller knows the feed is stale
        # (a controller that merely happens to sit at 6 A has not fallen back)
        if outage is not None and fallback_t is None and outage[0] <= i < outage[1]:
            if (not en) or (pilot <= 6 and ctrl.fallback_state(t)):
                fallback_t = i - outage[0]
        # meter
        grid_acc += tr.load[i] + v * i_ev - tr.solar[i]
        grid_cnt += 1
        if grid_cnt >= feed_s:
            if outage is None or not (outage[0] <= i < outage[1]):
                ctrl.on_feed(t, grid_acc / grid_cnt, v)
            grid_acc = 0.0
            grid_cnt = 0
    return {"amps": amps, "starts": starts, "changes": changes, "reversals": reversals, "fallback_s": fallback_t}


def metrics(tr, amps, a=0, b=None):
    b = len(amps) if b is None else b
    sur = cap = imp = 0.0
    below = 0
    for i in range(a, b):
        s = max(0.0, tr.solar[i] - tr.load[i])
        p = amps[i] * tr.vrms[i]
        sur += s
        cap += min(p, s)
        imp += max(0.0, p - s)
        if amps[i] > 0 and s < 6 * tr.vrms[i]:
            below += 1
    k = 1.0 / 3.6e6
    return {"surplus_kwh": sur * k, "capture_kwh": cap * k, "import_kwh": imp * k, "below6_min": below / 60.0}


def with_cloud(tr, a, b, k):
    solar = list(tr.solar)
    for i in range(a, min(b, len(solar))):
        solar[i] *= k
    return Trace(tr.name, tr.t0, solar, tr.load, tr.vrms)


def noon_index(tr):
    tot = sum(tr.solar)
    acc = 0.0
    for i, x in enumerate(tr.solar):
        acc += x
        if acc >= tot / 2:
            return i
    return len(tr.solar) // 2


CONTROLLERS = (("ours", Ours), ("openevse", OpenEVSE), ("evcc", Evcc))


def run_day(tr, feed_s):
    out = {}
    for name, cls in CONTROLLERS:
        r = simulate(cls(), tr, feed_s)
        m = metrics(tr, r["amps"])
        m.update(starts=r["starts"], changes=r["changes"], reversals=r["reversals"])
        out[name] = (m, r["amps"])
    amps = clairvoyant(tr)
    m = metrics(tr, amps)
    m.update(starts=1 if any(amps) else 0, changes=None, reversals=None)
    out["clairvoyant"] = (m, amps)
    amps = clairvoyant(tr, seed_start=True)
    m = metrics(tr, amps)
    m.update(starts=1 if any(amps) else 0, changes=None, reversals=None)
    out["seed bound"] = (m, amps)
    return out


def stale_test(tr, feed_s):
    """Feed silent for 15 min from solar noon while a cloud cuts PV to 20 % (worst case)."""
    a = noon_index(tr)
    b = a + 900
    trc = with_cloud(tr, a, b, 0.2)
    res = {}
    for name, cls in CONTROLLERS:
        r = simulate(cls(), trc, feed_s, outage=(a, b))
        m = metrics(trc, r["amps"], a, b + 1)
        after = r["amps"][min(len(r["amps"]) - 1, b + 300)] > 0
        fb = r["fallback_s"]
        res[name] = {
            "fallback_s": fb,
            "outage_import_kwh": m["import_kwh"],
            "charging_5min_after": after,
        }
    return res


def summarise(days):
    names = [n for n, _ in CONTROLLERS] + ["clairvoyant", "seed bound"]
    nd = float(len(days))
    tab = {}
    for n in names:
        sur = sum(d[n][0]["surplus_kwh"] for d in days)
        cap = sum(d[n][0]["capture_kwh"] for d in days)
        imp = sum(d[n][0]["import_kwh"] for d in days)
        row = {
            "capture_pct": 100.0 * cap / sur if sur else 0.0,
            "capture_kwh": cap,
            "import_kwh": imp,
            "net_kwh": cap - imp,
            "net_pct": 100.0 * (cap - imp) / sur if sur else 0.0,
            "starts_per_day": sum(d[n][0]["starts"] for d in days) / nd,
            "below6_min_per_day": sum(d[n][0]["below6_min"] for d in days) / nd,
        }
        if n not in ("clairvoyant", "seed bound"):
            row["changes_per_day"] = sum(d[n][0]["changes"] for d in days) / nd
            row["reversals_60s"] = sum(d[n][0]["reversals"] for d in days)
        tab[n] = row
    b = tab["clairvoyant"]["net_kwh"]
    bs = tab["seed bound"]["net_kwh"]
    for n in names:
        tab[n]["net_vs_bound_pct"] = 100.0 * tab[n]["net_kwh"] / b if b > 0 else 0.0
        tab[n]["net_vs_seed_bound_pct"] = 100.0 * tab[n]["net_kwh"] / bs if bs > 0 else 0.0
    return tab


def fmt_table(title, tab, stale=None):
    names = list(tab.keys())
    lines = ["## " + title, "", "| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]

    def row(label, key, f):
        cells = []
        for n in names:
            v = tab[n].get(key)
            cells.append("-" if v is None else f % v)
        lines.append("| %s | %s |" % (label, " | ".join(cells)))

    row("capture %", "capture_pct", "%.1f")
    row("EV-caused grid import kWh", "import_kwh", "%.2f")
    row("net value kWh (capture - import)", "net_kwh", "%.2f")
    row("net % of surplus", "net_pct", "%.1f")
    row("net vs clairvoyant bound %", "net_vs_bound_pct", "%.1f")
    row("net vs seed-rule bound % (start once S >= 6 A)", "net_vs_seed_bound_pct", "%.1f")
    row("starts per day", "starts_per_day", "%.2f")
    row("pilot changes per day", "changes_per_day", "%.1f")
    row("reversals < 60 s (oscillation)", "reversals_60s", "%d")
    row("min/day charging with surplus < 6 A", "below6_min_per_day", "%.0f")
    if stale:
        cells = []
        for n in names:
            s = stale.get(n)
            if not s:
                cells.append("-")
                continue
            fb = "none" if s["fallback_s"] is None else "%d s" % s["fallback_s"]
            cells.append("%s, %.2f kWh, %s" % (fb, s["outage_import_kwh"], "resumed" if s["charging_5min_after"] else "off"))
        lines.append("| stale feed (fallback, import, 5 min after) | %s |" % " | ".join(cells))
    return "\n".join(lines)


def plot(tr, day, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib not installed: no plot)")
        return
    n = len(tr.solar)
    hrs = [(tr.t0 + i) / 3600.0 for i in range(n)]
    fig, ax = plt.subplots(2, 1, figsize=(12, 7), sharex=True)
    ax[0].plot(hrs, [x / 1000.0 for x in tr.solar], color="orange", lw=0.8, label="solar")
    ax[0].plot(hrs, [x / 1000.0 for x in tr.load], color="grey", lw=0.6, label="house load")
    ax[0].plot(hrs, [max(0.0, s - l) / 1000.0 for s, l in zip(tr.solar, tr.load)], color="green", lw=0.6, label="surplus")
    ax[0].set_ylabel("kW")
    ax[0].legend(loc="upper right")
    ax[0].set_title("Solar PV divert, %s (1 s closed loop, 10 s mean grid feed)" % tr.name)
    colors = {"ours": "blue", "openevse": "red", "evcc": "purple", "clairvoyant": "black"}
    ax[1].plot(hrs, [max(0.0, s - l) / v for s, l, v in zip(tr.solar, tr.load, tr.vrms)], color="green", lw=0.5, alpha=0.5, label="surplus A")
    for name in ("clairvoyant", "openevse", "evcc", "ours"):
        ax[1].plot(hrs, day[name][1], color=colors[name], lw=1.0 if name == "ours" else 0.7, label=name)
    ax[1].set_ylim(0, 20)
    ax[1].set_ylabel("EV current A")
    ax[1].set_xlabel("hour of day")
    ax[1].legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trace", action="append", default=[], help="CSV time_s,solar_w,load_w[,vrms]")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--feed-s", type=int, default=10)
    ap.add_argument("--plot-day", default="day1_grid_ie")
    args = ap.parse_args(argv)
    t_start = time.time()
    real = []
    for k in (1, 2, 3):
        p = os.path.join(DATA_DIR, "day%d_grid_ie.csv" % k)
        if os.path.exists(p):
            real.append(load_grid_ie(p))
    extra = [load_trace(p) for p in args.trace]
    if not os.path.exists(STRESS):
        make_stress(STRESS)
    stress = load_trace(STRESS)
    groups = []
    if real:
        groups.append(("real days (OpenEVSE day1-3_grid_ie)", real))
    groups.append(("synthetic stress (bench/traces/stress_clouds.csv)", [stress]))
    for tr in extra:
        groups.append(("trace " + tr.name, [tr]))
    result = {}
    text = []
    plotted = False
    for title, trs in groups:
        days = [run_day(tr, args.feed_s) for tr in trs]
        tab = summarise(days)
        per_day = {}
        for tr, d in zip(trs, days):
            per_day[tr.name] = summarise([d])
        st = stale_test(trs[0], args.feed_s)
        result[title] = {"total": tab, "per_day": per_day, "stale_feed": {"trace": trs[0].name, "result": st}}
        text.append(fmt_table(title + ", %d day(s)" % len(trs), tab, st))
        for tr, d in zip(trs, days):
            if len(trs) > 1:
                text.append(fmt_table(tr.name, per_day[tr.name]))
            if not plotted and not args.no_plot and (tr.name == args.plot_day or not real):
                plot(tr, d, PLOT)
                plotted = True
    result["seconds"] = time.time() - t_start
    if args.json:
        print(json.dumps(result, indent=1, sort_keys=True))
    else:
        print("\n\n".join(text))
        print("\nstale feed test: feed silent 15 min from solar noon while PV drops to 20 % (first trace of each group)")
        print("bench time %.1f s" % result["seconds"])


if __name__ == "__main__":
    main()
