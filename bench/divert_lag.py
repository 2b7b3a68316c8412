"""How much of the same-rules bound does its own plan keep when it is carried out causally?

python bench/divert_lag.py [--offsets 5] [--only KEY,..|year] [--heldout]

The same-rules bound (bench/divert_bench.py) knows the day in advance and its current follows its plan
with no lag. A real controller sees the surplus only through the 10-s grid feed, and the EV follows the
pilot with the bench's plant: 1 s dead time, +2 A/s up and -5 A/s down, 5 s before current after the
relay closes and a 1 A/s first ramp (divert_bench's Plant). This replays the bound's own plan (its
sessions, levels and changes: the same starts and changes) through that plant two ways:

  on time  each level commanded in the very second the plan takes it: only the EV's response is lost;
  late     each level taken at the first feed sample that ends inside it (0-9 s after the plan, as a
           controller that reads the 10-s meter mean and knew the plan could at best), then the EV's
           response.

Neither is an upper bound on causal controllers (one could round down early to save import); "late" is a
lower estimate of what reacting to the feed costs any controller that keeps the bound's starts and changes.
One line per trace: the bound's net kWh, each replay's net as % of it (mean over offsets), the replay's
starts and changes per day (the bound's own), and ours (day-wise runs) as % of the bound and of the late
replay. Held-out traces need --heldout, as in divert_ablate.py.
"""
import argparse
import multiprocessing
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import divert_bench as B  # noqa: E402
from divert_ablate import TUNED, load_traces  # noqa: E402

FEED_S = 10


class Plan:
    """A bench controller that carries out per-second amps planned in advance (a bound's)."""

    def __init__(self, t0, amps, late):
        self.t0, self.amps, self.late = t0, amps, late
        self.seen = None  # index of the last second covered by a feed sample

    def on_feed(self, t, grid_w, v):
        self.seen = t - self.t0

    def step(self, t, charging, amps, v):
        i = self.seen if self.late else t - self.t0
        if i is None or not 0 <= i < len(self.amps):
            return False, 0
        a = self.amps[i]
        return a > 0, int(round(a))

    def fallback_state(self, t):
        return False


def replay(days, plans, offset, late):
    """Per-day records of the plans carried out through the plant (each day from a fresh plant)."""
    out = []
    for day, amps in zip(days, plans):
        rec = B._new_rec()
        B.run_day(Plan(day.t0, amps, late), B.Plant(), day, offset, FEED_S, 0, rec)
        out.append(rec)
    return out


def _plans(key):
    """key -> (the same-rules bound's per-second amps for each day, its net kWh over the days)."""
    days = B.SERIES[key]["days"]
    plans = B.bound_amps(days)
    ms = [B.metrics(d, p) for d, p in zip(days, plans)]
    return key, (plans, sum(m["capture_kwh"] - m["import_kwh"] for m in ms))


def _job(a):
    key, off, what, plans = a
    days = B.SERIES[key]["days"]
    if what == "ours":
        return a[:3], B.simulate("ours", days, off, FEED_S, False)
    return a[:3], replay(days, plans, off, what == "late")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--offsets", type=int, default=5)
    ap.add_argument("--only", default=TUNED)
    ap.add_argument("--heldout", action="store_true", help="allow payerne, carpentras and serf")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    a = ap.parse_args(argv)
    keys = load_traces(a.only, a.heldout, "divert_lag")
    offs = B.offsets_list(a.offsets)
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(a.jobs) as pool:
        plans = dict(pool.map(_plans, keys))
        jobs = [(k, o, w, plans[k][0] if w != "ours" else None) for k in keys for o in offs
                for w in ("on time", "late", "ours")]
        res = {}
        for (k, o, w), r in pool.imap_unordered(_job, jobs):
            res.setdefault((k, w), []).append(r)
    print("%d offsets; net %% of the same-rules bound; starts and changes per day of the late replay" % len(offs))
    print("%-14s %9s %9s %9s %7s %8s %8s %14s" % (
        "trace", "bound kWh", "on time", "late", "starts", "changes", "ours", "ours / late"))
    tot = {"bound": 0.0, "on time": 0.0, "late": 0.0, "ours": 0.0}
    for k in keys:
        bt = plans[k][1]
        r = {w: B._total(B._mean_days(res[k, w])) for w in ("on time", "late", "ours")}
        tot["bound"] += bt
        for w in r:
            tot[w] += r[w]["net_kwh"]
        print("%-14s %9.2f %8.1f%% %8.1f%% %7.2f %8.1f %7.1f%% %13.1f%%" % (
            k, bt, 100 * r["on time"]["net_kwh"] / bt, 100 * r["late"]["net_kwh"] / bt,
            r["late"]["starts_per_day"], r["late"]["changes_per_day"], 100 * r["ours"]["net_kwh"] / bt,
            100 * r["ours"]["net_kwh"] / r["late"]["net_kwh"]))
    bt = tot["bound"]
    print("%-14s %9.2f %8.1f%% %8.1f%% %7s %8s %7.1f%% %13.1f%%" % (
        "total", bt, 100 * tot["on time"] / bt, 100 * tot["late"] / bt, "", "", 100 * tot["ours"] / bt,
        100 * tot["ours"] / tot["late"]))


if __name__ == "__main__":
    main()
