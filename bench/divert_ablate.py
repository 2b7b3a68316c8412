"""Quick ablation runs of our divert controller alone (no baselines, no stale test, no plots).

python bench/divert_ablate.py [--set name=int,...] [--offsets 5] [--only KEY,..|year] [--heldout] [--losses]

Same simulation, days, offsets and same-rules bound as bench/divert_bench.py; the controller gets the
tunables given by --set (names in DEFAULTS of firmware/divert/controller.py). One line per trace: net % of
the same-rules bound (day-wise / continuous), EV-caused import (day-wise / continuous vs the bound's),
starts and pilot changes per day. By default only the traces the rules are tuned on; the held-out real
traces (payerne, carpentras, serf; `--only year`: the twelve Carpentras months of bench-divert-year) need
--heldout, so they are not looked at by accident while tuning.
--losses adds, per trace, where ours' net value falls short of the same-rules bound (day-wise runs, kWh
summed over the days, mean over offsets): before ours' first start, while ours is off between two of its
sessions, after ours' last session ends, while both charge (tracking), and while ours charges and the
bound does not.
"""
import argparse
import functools
import multiprocessing
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import divert_bench as B  # noqa: E402
from divert.controller import DivertController  # noqa: E402

TUNED = "shared,stress,fast_clouds,clear,overcast,winter"
HELD_OUT = ("payerne", "carpentras", "serf")
TUNE = {}


def _job(a):
    key, off, cont = a
    return a, B.simulate("ours", B.SERIES[key]["days"], off, 10, cont)


LOSS_PARTS = ("before first start", "off between sessions", "after last session", "tracking",
              "ours on, bound off")


def _losses(a):
    """(key, offset) -> bound's net minus ours', kWh, split as LOSS_PARTS (day-wise runs)."""
    key, off = a
    days = B.SERIES[key]["days"]
    out = [0.0] * len(LOSS_PARTS)
    recs = B.simulate("ours", days, off, 10, False, keep_amps=True)
    for day, rec, ab in zip(days, recs, B.bound_amps(days)):
        ao = rec["amps"]
        on = [i for i, x in enumerate(ao) if x > 0]
        first, last = (on[0], on[-1]) if on else (len(ao), -1)
        for i in range(len(ao)):
            s, v = max(0.0, day.solar[i] - day.load[i]), day.vrms[i]
            gap = B.net_w(ab[i] * v, s) - B.net_w(ao[i] * v, s)
            if ab[i] > 0 and ao[i] == 0:
                part = 0 if i < first else (1 if i < last else 2)
            elif ab[i] > 0:
                part = 3
            elif ao[i] > 0:
                part = 4
            else:
                continue
            out[part] += gap / 3.6e6
    return key, out


def load_traces(only, heldout, prog):
    """Load the traces named in `only` (comma-separated keys, or "year") into B.SERIES; return their keys.
    Exits when a held-out trace is asked for without `heldout`, so none is looked at by accident."""
    keys = only.split(",")
    year = any(k == "year" or k.startswith("carpentras_") for k in keys)
    held = year or bool(set(keys) & set(HELD_OUT))
    if held and not heldout:
        sys.exit("%s: payerne, carpentras (and its year) and serf are held out; pass --heldout to run them"
                 % prog)

    class Args:
        no_shared = False
        no_pkg_data = not held
        trace = []
    Args.only = only
    Args.year = year
    series = B.load_series(Args)
    for key, title, days, tuned in series:
        B.SERIES[key] = {"days": days}
    return [s[0] for s in series]


def trace_bound(key):
    """The same-rules bound summed over the days of one loaded trace."""
    return B._total([d["same_rules"] for d in B.bounds_for(B.SERIES[key]["days"])])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--set", default="", help="tunables name=int,...")
    ap.add_argument("--offsets", type=int, default=5)
    ap.add_argument("--only", default=TUNED)
    ap.add_argument("--heldout", action="store_true", help="allow payerne, carpentras and serf")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--losses", action="store_true", help="where ours falls short of the bound")
    a = ap.parse_args(argv)
    for kv in filter(None, a.set.split(",")):
        k, v = kv.split("=")
        TUNE[k] = int(v)
    DivertController(**TUNE)  # unknown names fail here (ValueError)
    B.CONTROLLERS["ours"] = functools.partial(B.Ours, **TUNE)
    keys = load_traces(a.only, a.heldout, "divert_ablate")
    offs = B.offsets_list(a.offsets)
    jobs = [(k, o, c) for k in keys for o in offs for c in (False, True)
            if not c or len(B.SERIES[k]["days"]) > 1]
    jobs.sort(key=lambda j: -len(B.SERIES[j[0]]["days"]))
    res = {k: {False: [], True: []} for k in keys}
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(a.jobs) as pool:
        for (k, o, c), r in pool.imap_unordered(_job, jobs):
            res[k][c].append(r)
        bounds = dict(zip(keys, pool.map(trace_bound, keys)))
        loss = {k: [0.0] * len(LOSS_PARTS) for k in keys}
        if a.losses:
            for k, parts in pool.imap_unordered(_losses, [(k, o) for k in keys for o in offs]):
                loss[k] = [x + y / len(offs) for x, y in zip(loss[k], parts)]
    tot = [0.0, 0.0, 0.0]
    for k in keys:
        bt = bounds[k]
        if not res[k][True]:
            res[k][True] = res[k][False]
        d, c = (B._total(B._mean_days(res[k][x])) for x in (False, True))
        tot[0] += d["net_kwh"]
        tot[1] += c["net_kwh"]
        tot[2] += bt["net_kwh"]
        print("%-12s net %5.1f / %5.1f %%  import %5.2f / %5.2f vs %5.2f  starts %.2f / %.2f  changes %5.1f / %5.1f" % (
            k, 100 * d["net_kwh"] / bt["net_kwh"], 100 * c["net_kwh"] / bt["net_kwh"], d["import_kwh"],
            c["import_kwh"], bt["import_kwh"], d["starts_per_day"], c["starts_per_day"], d["changes_per_day"],
            c["changes_per_day"]))
        if a.losses:
            print("%-12s short of the bound by %.2f kWh: %s" % (
                "", bt["net_kwh"] - d["net_kwh"],
                ", ".join("%s %.2f" % (n, x) for n, x in zip(LOSS_PARTS, loss[k]))))
    print("%-12s net %5.1f / %5.1f %%  (%d offsets; tunables %s)" % (
        "total", 100 * tot[0] / tot[2], 100 * tot[1] / tot[2], len(offs), TUNE or "defaults"))


if __name__ == "__main__":
    main()
