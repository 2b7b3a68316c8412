"""How far ahead must a controller see the surplus to meet issue 12's targets?

python bench/divert_foresight.py [--horizons 1,5,15,30,60,120,0] [--lam 1] [--only KEY,..|year] [--heldout]

The same-rules bound knows the whole day to the second. This runs an oracle that knows less, under the
bound's rules: a session may start only in a minute that begins with >= 6 A of surplus, whole amps in
[6, 32] A, no pause until the session ends, at most 30 pilot changes a day, and starts within 1.2 a day on
average (one a day, and a restart only when the trace has banked one: 0.2 are credited per day, as the
bound's second sessions are int(0.2 x days)). It knows:

  * the next H minutes of the surplus exactly (a perfect nowcast; H = 1: only the minute it is in);
  * the rest of the day as a perfect hourly forecast: for each hour, what each constant level would earn
    there (the mean over the hour's minutes, whatever their order), and whether the hour has a minute
    with 6 A to start in. A real forecast is worse: this is the most an hourly forecast could tell.

Every minute it solves the bound's dynamic programme over the rest of the day on that knowledge, from
where it stands (off, or on at its level, with the changes it has left), and carries out the first minute.
H = 0 means the whole day known exactly: the bound's one-session plan, replanned every minute (it differs
from the bound only in when it may take a second session: the bound picks the days with hindsight).

Values as the bounds have them (1-min blocks, lambda = 1, no EV lag; bench/divert_lag.py shows the lag
costs under 1 %). One line per trace and horizon: net % of the same-rules bound, EV-caused import against
the bound's, starts and pilot changes per day, and whether all four targets hold. --lam makes the oracle
plan on captured minus lam x import (still scored at 1): how much net value a planner gives up to import
no more than the bound. This is one planner's design, not a proof: a planner that weighs the forecast's
uncertainty could use the same knowledge better.
"""
import argparse
import multiprocessing
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import divert_bench as B  # noqa: E402
from divert_ablate import TUNED, load_traces, trace_bound  # noqa: E402
from divert_frontier import targets_met  # noqa: E402

BLOCK = 60


def day_values(day, coarse_min=60, lam=1.0):
    """Per 1-min block and level: val, the net value in W*s, and imp, the import (as the bound has them);
    startable: the block begins with >= 6 A of surplus. plan: the value the oracle plans on, captured minus
    lam x import (val itself at lam 1). planc / startc: the same as a forecast of each coarse_min of the day
    would give them: per level the mean of plan over those minutes (what a constant level earns there,
    whatever the order of the minutes), and startable if any of its minutes is."""
    _, val, imp, startable = B.block_values(day, BLOCK)
    nb = len(val)
    plan = val - (lam - 1.0) * imp
    planc = plan.copy()
    startc = startable.copy()
    for a in range(0, nb, coarse_min):
        planc[a:a + coarse_min] = plan[a:a + coarse_min].mean(axis=0)
        startc[a:a + coarse_min] = startable[a:a + coarse_min].any()
    return val, startable, imp, plan, planc, startc


def _back(val_j, W, Wpre, startable_j):
    """One block of the backward programme: value to go from the start of block j, given W (on, per
    changes left and level) and Wpre (off and may start, per changes left) from the start of block j + 1."""
    A = val_j[None, :] + W
    best = A.max(axis=1)
    nW = np.maximum(A, 0.0)  # stay, or stop (nothing after)
    nW[1:] = np.maximum(nW[1:], best[:-1, None])  # change level: one change fewer left
    if startable_j:
        Wpre = np.maximum(Wpre, best)
    return nW, Wpre


def tail_values(valc, startc):
    """The backward programme over the whole day on the coarse values: Wc[j], Wprec[j] for j = 0..nb
    (from the start of block j to the end of the day, with every change of the day left to spend)."""
    nb = len(valc)
    W = np.zeros((B.MAX_CHANGES + 1, valc.shape[1]))
    Wpre = np.zeros(B.MAX_CHANGES + 1)
    Wc, Wprec = [None] * (nb + 1), [None] * (nb + 1)
    Wc[nb], Wprec[nb] = W, Wpre
    for j in range(nb - 1, -1, -1):
        W, Wpre = _back(valc[j], W, Wpre, startc[j])
        Wc[j], Wprec[j] = W, Wpre
    return Wc, Wprec


def plan_step(fine, tail, b, h, state, level, left, may_start):
    """The first minute's action of the best plan from block b: the surplus known exactly for blocks
    [b, b + h), from the coarse forecast after. state "on" (at level index `level`, 0 = 6 A) or "off"; left:
    the day's changes left; may_start: an off oracle may start.
    Returns ("stay" | "stop" | "wait", None) or ("level" | "start", index)."""
    val, startable = fine
    Wc, Wprec = tail
    e = min(len(val), b + h)
    W, Wpre = Wc[e], Wprec[e]
    for j in range(e - 1, b, -1):
        W, Wpre = _back(val[j], W, Wpre, startable[j])
    A0 = val[b][None, :] + W  # on at each level through block b, then the best plan with c changes left
    if state == "on":
        opts = [(A0[left, level], "stay", None), (0.0, "stop", None)]
        if left > 0:
            ch = int(A0[left - 1].argmax())
            if ch != level:
                opts.append((A0[left - 1, ch], "level", ch))
        return max(opts, key=lambda o: o[0])[1:]
    if may_start and startable[b]:
        k = int(A0[left].argmax())
        if A0[left, k] > max(Wpre[left], 0.0):
            return "start", k
    return "wait", None


def run_trace(days, h, coarse_min=60, lam=1.0):
    """Per-day records (net_kwh, import_kwh, starts, changes) of the oracle that sees h minutes ahead
    exactly and the rest of the day as coarse_min forecasts (h 0: the whole day exactly), planning on
    captured minus lam x import, over one trace's days in order (restart credit carried over)."""
    out = []
    credit = 0.0
    for day in days:
        credit += 0.2
        val, startable, imp, plan, planc, startc = day_values(day, coarse_min, lam)
        nb = len(val)
        if h <= 0:
            planc, startc = plan, startable
        tail = tail_values(planc, startc)
        state, level, used, starts, changes = "off", None, 0, 0, 0
        may_start = True
        net = im = 0.0
        for b in range(nb):
            act, k = plan_step((plan, startable), tail, b, max(h, 1), state, level, B.MAX_CHANGES - used,
                               may_start)
            if act == "stop":
                state = "off"
                may_start = credit >= 1.0
            elif act == "start":
                if starts:
                    credit -= 1.0
                state, level, starts = "on", k, starts + 1
                may_start = False
            elif act == "level":
                level, used, changes = k, used + 1, changes + 1
            if state == "on":
                net += val[b, level]
                im += imp[b, level]
        out.append({"net_kwh": net / 3.6e6, "import_kwh": im / 3.6e6, "starts": starts, "changes": changes})
    return out


def _job(a):
    key, h, lam = a
    return a, run_trace(B.SERIES[key]["days"], h, lam=lam)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--horizons", default="1,5,15,30,60,120,0", help="minutes; 0: the rest of the day")
    ap.add_argument("--only", default=TUNED)
    ap.add_argument("--heldout", action="store_true", help="allow payerne, carpentras and serf")
    ap.add_argument("--lam", type=float, default=1.0,
                    help="the oracle plans on captured minus LAM x import (scored at 1, as the bound)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    a = ap.parse_args(argv)
    hs = [int(x) for x in a.horizons.split(",")]
    keys = load_traces(a.only, a.heldout, "divert_foresight")
    ctx = multiprocessing.get_context("fork")
    jobs = sorted(((k, h, a.lam) for k in keys for h in hs), key=lambda j: -len(B.SERIES[j[0]]["days"]) * (j[1] or 600))
    with ctx.Pool(a.jobs) as pool:
        res = dict(pool.imap_unordered(_job, jobs))
        bounds = dict(zip(keys, pool.map(trace_bound, keys)))
    print("oracle with H minutes of perfect foresight (0: the rest of the day) and a perfect hourly forecast, "
          "planning on lambda = %g; net %% of the same-rules bound" % a.lam)
    print("%-12s %6s %8s %16s %7s %8s %s" % ("trace", "H min", "net %", "import vs bound", "starts", "changes",
                                           "all four targets"))
    for k in keys:
        bt = bounds[k]
        nd = float(len(B.SERIES[k]["days"]))
        for h in hs:
            r = res[k, h, a.lam]
            t = {"net_kwh": sum(d["net_kwh"] for d in r), "import_kwh": sum(d["import_kwh"] for d in r),
                 "starts_per_day": sum(d["starts"] for d in r) / nd,
                 "changes_per_day": sum(d["changes"] for d in r) / nd}
            ok = all(targets_met(t, t, bt))  # no feed, so the day-wise and continuous runs are one
            print("%-12s %6s %7.1f%% %7.2f / %6.2f %7.2f %8.1f %s" % (
                k, h or "day", 100 * t["net_kwh"] / bt["net_kwh"], t["import_kwh"], bt["import_kwh"],
                t["starts_per_day"], t["changes_per_day"], "yes" if ok else "no"))


if __name__ == "__main__":
    main()
