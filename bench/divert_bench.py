"""Closed-loop solar PV divert benchmark (design: shared/reference/divert.md section 6).

python bench/divert_bench.py [--only KEY,..] [--trace FILE.csv ...] [--offsets 5] [--json] [--no-plot] [--year]

--year adds the other eleven months of the Carpentras year (2016; held out); `--year --only year` runs the
twelve months alone (make bench-divert-year).

Plant at 1 s steps: Grid = Load + V*I_ev - PV; surplus S = max(0, PV - Load).
Feed: grid_ie published every --feed-s seconds as the mean of the last period.
EV: relay closes -> 5 s no current -> ramp 1 A/s to the pilot; pilot changes: 1 s dead time,
then slew +2 A/s up / -5 A/s down; pause: current drops to 0 at once.
Controllers: ours (firmware/divert/controller.py, the firmware code), OpenEVSE ESP32 default and evcc PV
(re-implemented from the written description in divert.md 6.5), and two clairvoyant bounds per day:
the unconstrained one (best single session, lambda = 1 rounding, divert.md 6.3) and the same-rules one
(start only at S >= 6 A, 1 A steps, no pause, at most 30 pilot changes a day, and one session a day but
two on the int(0.2 x days) days of the trace where a second gains most: the 1.2 starts a day as an average).

Traces are split into days at every time gap over 60 s. Each day is run with a fresh controller (scored
and bounded per day), and the whole trace is run again continuously, nights included (the controller
lives through the night as in a charger; the night is simulated at 10 s steps with no PV and the house
base load). Every figure is the mean over --offsets phase offsets of the feed and of evcc's 30 s tick
against the trace's own sample steps (offsets spread over 0-29 s).
"""
import argparse
import functools
import json
import math
import multiprocessing
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "firmware"))
sys.path.insert(0, HERE)

from divert.controller import DivertController, MODE_ECO  # noqa: E402  (the exact firmware code)
import divert_traces as TR  # noqa: E402

SHARED = os.path.join(REPO, "..", "shared", "divert-data", "openevse_divert_sim")
STRESS = os.path.join(HERE, "traces", "stress_clouds.csv")
PLOT_DIR = os.path.join(REPO, "docs", "divert")
V_DEFAULT = 240.0
EV_MAX_A = 32
MAX_A = 32
NIGHT_LOAD_W = 250.0
MAX_CHANGES = 30  # the cap, also the same-rules bound's
CAP_STARTS = 1.2
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# ----------------------------------------------------------------------------- days
class Day:
    def __init__(self, name, t0, solar, load, vrms):
        self.name = name
        self.t0 = t0  # absolute seconds of the first sample
        self.solar = solar  # W per second
        self.load = load
        self.vrms = vrms


def split_days(rows, name):
    """rows (time_s, solar, load, vrms): split at gaps over 60 s, expand each block to 1 s (each row held
    until the next; the last one for the block's usual step)."""
    rows = sorted(rows, key=lambda r: r[0])
    blocks = []
    cur = [rows[0]]
    for r in rows[1:]:
        if r[0] - cur[-1][0] > 60:
            blocks.append(cur)
            cur = [r]
        else:
            cur.append(r)
    blocks.append(cur)
    days = []
    for k, b in enumerate(blocks):
        if len(b) < 10:
            continue
        step = int(round(b[1][0] - b[0][0])) if len(b) > 1 else 60
        t0 = int(b[0][0])
        n = int(b[-1][0]) - t0 + max(1, step)
        solar, load, vr = [0.0] * n, [0.0] * n, [V_DEFAULT] * n
        j = 0
        for i in range(n):
            t = t0 + i
            while j + 1 < len(b) and b[j + 1][0] <= t:
                j += 1
            r = b[j]
            solar[i], load[i], vr[i] = r[1], r[2], r[3]
        days.append(Day("%s#%d" % (name, len(days) + 1), t0, solar, load, vr))
    return days


# ----------------------------------------------------------------------------- controllers
class Ours:
    name = "ours"

    def __init__(self, phase_t=0, **tunables):
        # tunables: names in DEFAULTS of firmware/divert/controller.py (the ablation and frontier runs)
        self.c = DivertController(min_a=6, max_a=MAX_A, feed="grid", **tunables)
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

    def __init__(self, phase_t=0, ratio=1.1, attack=20.0, decay=600.0, min_charge=600.0):
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
    """evcc PV mode defaults (30 s tick, enable 0 W / 1 min, disable 0 W / 3 min, trunc), per divert.md 6.5.
    phase_t: the time of its first tick (the phase offset against the trace's steps). The user settings
    (enable / disable threshold in W, grid import +, and delay in s) follow shared/reference/divert.md 2.3."""

    name = "evcc"

    def __init__(self, phase_t=0, en_w=0, en_s=60, dis_w=0, dis_s=180):
        self.en_w, self.en_s, self.dis_w, self.dis_s = en_w, en_s, dis_w, dis_s
        self.grid = None
        self.enabled = False
        self.cur = 6
        self.next_tick = phase_t
        self.en_since = None
        self.dis_since = None

    def on_feed(self, t, grid_w, v):
        self.grid = grid_w

    def step(self, t, charging, amps, v):
        if t >= self.next_tick:
            self.next_tick = t + 30 - (t - self.next_tick) % 30
            if self.grid is not None:
                self._tick(t, v)
        return self.enabled, self.cur

    def _tick(self, t, v):
        ieff = self.cur if self.enabled else 0
        target = max(ieff + (-self.grid) / v, 0.0)
        if not self.enabled:
            # threshold 0: export of at least the minimum current; otherwise site power <= the threshold
            if (target >= 6) if self.en_w == 0 else (self.grid <= self.en_w):
                if self.en_since is None:
                    self.en_since = t
                if t - self.en_since >= self.en_s:
                    self.enabled = True
                    self.cur = 6
                    self.en_since = None
                    self.dis_since = None
            else:
                self.en_since = None
            return
        if target < 6:
            if self.grid >= self.dis_w:
                if self.dis_since is None:
                    self.dis_since = t
                if t - self.dis_since >= self.dis_s:
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


CONTROLLERS = {"ours": Ours, "openevse": OpenEVSE, "evcc": Evcc}
CTRL_NAMES = ("ours", "openevse", "evcc")


# ----------------------------------------------------------------------------- bounds
def _surplus(day):
    return [max(0.0, s - l) for s, l in zip(day.solar, day.load)]


def net_w(p, s):
    """Net value rate of charging at p W with s W of surplus: captured minus EV-caused import."""
    return min(p, s) - max(0.0, p - s)


def _best_run(vals, lo, hi, step):
    """Kadane from lo towards hi (step +1 or -1): per index, the best sum of a run lying between lo
    and that index, and the run's (first, last)."""
    out = []
    best, cur, cs, run = 0.0, 0.0, lo, None
    for i in range(lo, hi, step):
        if cur <= 0:
            cur, cs = 0.0, i
        cur += vals[i]
        if cur > best:
            best, run = cur, (min(cs, i), max(cs, i))
        out.append((best, run))
    return out


def bound_unconstrained(day, sessions=1):
    """The best sessions of the day (one, or two apart) with perfect knowledge, lambda = 1 rounding, no
    EV lag (divert.md 6.3: Kadane over per-second values min(P,S) - max(0,P-S)). Returns the amps."""
    n = len(day.solar)
    S = _surplus(day)
    vals = [0.0] * n
    pe = [0.0] * n
    for i in range(n):
        v = day.vrms[i]
        a = S[i] / v
        fl = int(a)
        i_a = fl + 1 if a - fl > 0.5 else fl
        i_a = min(MAX_A, max(6, i_a))
        p = i_a * v
        pe[i] = p
        vals[i] = net_w(p, S[i])
    fwd = _best_run(vals, 0, n, 1)
    best, run = fwd[-1] if n else (0.0, None)
    runs = [run]
    if sessions > 1 and n > 1:
        bwd = _best_run(vals, n - 1, -1, -1)[::-1]  # bwd[i]: best run within [i, n)
        for i in range(n - 1):
            v = fwd[i][0] + bwd[i + 1][0]
            if v > best + 1e-9 and fwd[i][1] and bwd[i + 1][1]:
                best, runs = v, [fwd[i][1], bwd[i + 1][1]]
    amps = [0.0] * n
    for r in filter(None, runs):
        for i in range(r[0], r[1] + 1):
            amps[i] = pe[i] / day.vrms[i]
    return amps


def block_values(day, block=60):
    """Per block of `block` seconds and per pilot level 6..MAX_A A: (levels, val, imp, startable): the net
    value (lambda = 1) and the EV-caused import, in W*s, of holding that level through the block, and
    whether the block begins with >= 6 A of surplus (a session may start there)."""
    import numpy as np

    S = np.array(_surplus(day))
    V = np.array(day.vrms)
    n = len(S)
    nb = (n + block - 1) // block
    pad = nb * block - n
    Sb = np.concatenate([S, np.zeros(pad)]).reshape(nb, block)
    Vb = np.concatenate([V, np.full(pad, V[-1])]).reshape(nb, block)
    mask = np.concatenate([np.ones(n), np.zeros(pad)]).reshape(nb, block)[:, :, None]
    levels = np.arange(6, MAX_A + 1)
    P = Vb[:, :, None] * levels[None, None, :]
    val = (np.minimum(P, 2 * Sb[:, :, None] - P) * mask).sum(axis=1)  # (nb, L)
    imp = (np.maximum(0.0, P - Sb[:, :, None]) * mask).sum(axis=1)
    return levels, val, imp, Sb[:, 0] >= 6 * Vb[:, 0]


def bound_same_rules(day, max_changes=MAX_CHANGES, block=60, sessions=1):
    """Clairvoyant controller under the seed's rules and our caps: sessions that may only start where
    the surplus is >= 6 A, a whole-amp pilot in [6, 32] A that changes at most max_changes times a day
    (all sessions together), no pause until a session ends; at most `sessions` (1 or 2) sessions, the
    second at least one block after the first has ended. Exact dynamic programme over (level, changes
    used) on 60 s blocks (the traces step once a minute, so within a block the best level is constant;
    on finer traces this restricts changes to minute boundaries). No EV lag, like the unconstrained
    bound. Returns the per-second amps."""
    import numpy as np

    n = len(day.solar)
    levels, val, _, startable = block_values(day, block)
    nb = len(val)
    C = max_changes
    NL = len(levels)
    neg = -1e18
    rows = np.arange(C + 1)

    def advance(on, b, start):
        """One block of a session: stay, change (one more of the budget) or start (from `start`,
        value so far per changes used, or None)."""
        am = on.argmax(axis=1)
        mx = on[rows, am]
        prev = on.copy()
        ch = np.zeros((C + 1, NL), dtype=np.int8)  # 0 stay, 1 change, 2 start
        chg = np.full((C + 1, NL), neg)
        chg[1:] = mx[:-1, None]
        better = chg > prev
        prev = np.where(better, chg, prev)
        ch[better] = 1
        if start is not None and startable[b]:
            st = np.repeat(start[:, None], NL, axis=1)
            better = st > prev
            prev = np.where(better, st, prev)
            ch[better] = 2
        nxt = prev + val[b][None, :]
        nxt[nxt < neg / 2] = neg
        src = np.zeros(C + 1, dtype=np.int16)  # level before a change that made c changes
        src[1:] = am[:-1]
        return nxt, ch, src

    first_start = np.full(C + 1, neg)
    first_start[0] = 0.0
    on1 = np.full((C + 1, NL), neg)
    on2 = np.full((C + 1, NL), neg)
    mid = np.full(C + 1, neg)  # off after the first session, per changes used
    ch1 = np.zeros((nb, C + 1, NL), dtype=np.int8)
    ap1 = np.zeros((nb, C + 1), dtype=np.int16)
    ch2 = np.zeros((nb, C + 1, NL), dtype=np.int8)
    ap2 = np.zeros((nb, C + 1), dtype=np.int16)
    mids = np.full((nb, C + 1), -1, dtype=np.int16)  # level the first session ended at, -1: was off
    best, end = 0.0, None
    for b in range(nb):
        if sessions > 1:
            n_on2, ch2[b], ap2[b] = advance(on2, b, mid)
            # off in block b: stay off, or the first session ended after block b - 1
            am = on1.argmax(axis=1)
            e = on1[rows, am]
            take = e > mid
            mids[b] = np.where(take, am, -1)
            mid = np.where(take, e, mid)
            on2 = n_on2
        on1, ch1[b], ap1[b] = advance(on1, b, first_start)
        for s, on in ((1, on1), (2, on2)):
            k = on.argmax()
            if on.flat[k] > best:
                best = on.flat[k]
                end = (s, b, k // NL, k % NL)
    amps = [0.0] * n
    if end is None:
        return amps
    s, b, c, li = end
    while b >= 0:
        lo, hi = b * block, min(n, b * block + block)
        for i in range(lo, hi):
            amps[i] = float(levels[li])
        ch = (ch1 if s == 1 else ch2)[b, c, li]
        if ch == 1:
            li = int((ap1 if s == 1 else ap2)[b, c])
            c -= 1
            b -= 1
        elif ch == 2 and s == 2:
            b -= 1  # off in block b - 1 (mid): walk back to where the first session ended
            while mids[b, c] < 0:
                b -= 1
            li = int(mids[b, c])
            s, b = 1, b - 1
        elif ch == 2:
            break
        else:
            b -= 1
    return amps


# ----------------------------------------------------------------------------- simulation
class Plant:
    def __init__(self):
        self.relay = False
        self.i_ev = 0.0
        self.relay_age = 0
        self.first_ramp = True
        self.prev_pilot = 0  # last pilot while the relay is closed (change counting)
        self.cmd = 0  # command of the previous second (1 s dead time)
        self.last_dir = 0
        self.last_change_t = -10**9


def _event(pl, rec, en, pilot, t):
    """Count starts, pilot changes and reversals for a command; update the relay."""
    if en:
        if not pl.relay:
            pl.relay = True
            pl.relay_age = 0
            rec["starts"] += 1
            pl.first_ramp = True
            pl.prev_pilot = pilot
        elif pilot != pl.prev_pilot:
            rec["changes"] += 1
            d = 1 if pilot > pl.prev_pilot else -1
            if pl.last_dir and d != pl.last_dir and t - pl.last_change_t < 60:
                rec["reversals"] += 1
            pl.last_dir = d
            pl.last_change_t = t
            pl.prev_pilot = pilot
    else:
        pl.relay = False
        pl.prev_pilot = 0


def _new_rec():
    return {"starts": 0, "changes": 0, "reversals": 0, "night_import_kwh": 0.0, "first_on": None}


def run_day(ctrl, pl, day, offset, feed_s, shift, rec, outage=None, keep_amps=False):
    n = len(day.solar)
    amps = [0.0] * n
    grid_acc = 0.0
    grid_cnt = 0
    fallback_t = None
    solar, load, vrms = day.solar, day.load, day.vrms
    for i in range(n):
        t = day.t0 + i + shift
        v = vrms[i]
        en, pilot = ctrl.step(t, pl.relay, pl.i_ev, v)
        _event(pl, rec, en, pilot, t)
        if en and rec.get("first_on") is None:
            rec["first_on"] = i
        eff = pl.cmd
        pl.cmd = pilot if en else 0
        if not pl.relay:
            pl.i_ev = 0.0
        else:
            pl.relay_age += 1
            if pl.relay_age > 5:
                eff = min(eff if eff else pilot, EV_MAX_A)
                if pl.i_ev < eff:
                    pl.i_ev = min(eff, pl.i_ev + (1.0 if pl.first_ramp else 2.0))
                    if pl.i_ev >= eff:
                        pl.first_ramp = False
                elif pl.i_ev > eff:
                    pl.i_ev = max(eff, pl.i_ev - 5.0)
                    pl.first_ramp = False
        amps[i] = pl.i_ev
        if outage is not None and fallback_t is None and outage[0] <= i < outage[1]:
            if (not en) or (pilot <= 6 and ctrl.fallback_state(t)):
                fallback_t = i - outage[0]
        grid_acc += load[i] + v * pl.i_ev - solar[i]
        grid_cnt += 1
        if (i + offset) % feed_s == feed_s - 1:
            if outage is None or not (outage[0] <= i < outage[1]):
                ctrl.on_feed(t, grid_acc / grid_cnt, v)
            grid_acc = 0.0
            grid_cnt = 0
    m = metrics(day, amps)
    rec.update(m)
    rec["fallback_s"] = fallback_t
    if keep_amps:
        rec["amps"] = amps
    return amps


def run_night(ctrl, pl, t_from, t_to, rec):
    """No PV, house base load, 10 s steps (feed and controller every step). An EV charging at night
    imports all it draws."""
    t = t_from
    while t < t_to:
        en, pilot = ctrl.step(t, pl.relay, pl.i_ev, V_DEFAULT)
        _event(pl, rec, en, pilot, t)
        pl.cmd = pilot if en else 0
        pl.i_ev = float(min(pilot, EV_MAX_A)) if pl.relay else 0.0
        rec["night_import_kwh"] += pl.i_ev * V_DEFAULT * 10 / 3.6e6
        ctrl.on_feed(t, NIGHT_LOAD_W + V_DEFAULT * pl.i_ev, V_DEFAULT)
        t += 10


def simulate(name, days, offset, feed_s, continuous, keep_amps=False):
    """Per-day records for one controller. continuous: one controller for all days, nights simulated
    (a gap longer than a day is shortened to the same time of day, so the controller sees a night)."""
    cls = CONTROLLERS[name]
    out = []
    ctrl = None
    pl = None
    shift = 0
    prev_end = None
    for day in days:
        rec = _new_rec()
        if not continuous or ctrl is None:
            ctrl = cls(day.t0 + offset)
            pl = Plant()
        else:
            gap = day.t0 + shift - prev_end
            night = gap % 86400 if gap > 86400 else gap
            if night < 600:
                night += 86400 if gap > 86400 else 0
            shift -= gap - night
            run_night(ctrl, pl, prev_end, day.t0 + shift, out[-1])
        run_day(ctrl, pl, day, offset, feed_s, shift, rec, keep_amps=keep_amps)
        prev_end = day.t0 + shift + len(day.solar)
        out.append(rec)
    return out


def metrics(day, amps, a=0, b=None):
    b = len(amps) if b is None else b
    sur = cap = imp = 0.0
    below = 0
    for i in range(a, b):
        s = max(0.0, day.solar[i] - day.load[i])
        p = amps[i] * day.vrms[i]
        sur += s
        cap += min(p, s)
        imp += max(0.0, p - s)
        if amps[i] > 0 and s < 6 * day.vrms[i]:
            below += 1
    k = 1.0 / 3.6e6
    return {"surplus_kwh": sur * k, "capture_kwh": cap * k, "import_kwh": imp * k, "below6_min": below / 60.0}


def _starts(amps):
    return sum(1 for i in range(len(amps)) if amps[i] and (i == 0 or not amps[i - 1]))


def bound_amps(days, bound=None):
    """A bound's per-second amps for each day of a trace (the same-rules bound unless `bound` says
    otherwise). Every day may have one session; int(0.2 * days) of them (the days where it gains most)
    a second one, so that its starts stay within the 1.2-a-day cap averaged over the trace, as ours'
    are judged."""
    bound = bound or bound_same_rules
    one = [bound(day) for day in days]
    extra = len(days) // 5
    if not extra:
        return one
    gains = []
    for d, day in enumerate(days):
        two = bound(day, sessions=2)
        m1, m2 = metrics(day, one[d]), metrics(day, two)
        g = (m2["capture_kwh"] - m2["import_kwh"]) - (m1["capture_kwh"] - m1["import_kwh"])
        if _starts(two) > 1 and g > 1e-9:
            gains.append((g, d, two))
    gains.sort(key=lambda x: -x[0])
    for g, d, two in gains[:extra]:
        one[d] = two
    return one


def bounds_for(days):
    out = []
    same = bound_amps(days)
    free = bound_amps(days, bound_unconstrained)
    for d, day in enumerate(days):
        r = {}
        for key, amps in (("unconstrained", free[d]), ("same_rules", same[d])):
            m = metrics(day, amps)
            ch = sum(1 for i in range(1, len(amps)) if amps[i] and amps[i - 1] and amps[i] != amps[i - 1])
            m.update(starts=_starts(amps), changes=ch, reversals=0, night_import_kwh=0.0)
            r[key] = m
        out.append(r)
    return out


def _noon_index(day):
    tot = sum(day.solar)
    acc = 0.0
    for i, x in enumerate(day.solar):
        acc += x
        if acc >= tot / 2:
            return i
    return len(day.solar) // 2


def stale_test(name, day, offset, feed_s):
    """Feed silent for 15 min from solar noon while a cloud cuts PV to 20 % (worst case)."""
    a = _noon_index(day)
    b = a + 900
    solar = list(day.solar)
    for i in range(a, min(b, len(solar))):
        solar[i] *= 0.2
    d2 = Day(day.name, day.t0, solar, day.load, day.vrms)
    ctrl = CONTROLLERS[name](day.t0 + offset)
    rec = _new_rec()
    amps = run_day(ctrl, Plant(), d2, offset, feed_s, 0, rec, outage=(a, b))
    m = metrics(d2, amps, a, min(len(amps), b + 1))
    after = amps[min(len(amps) - 1, b + 300)] > 0
    # no session when the feed went silent (a winter day too dull to start): nothing to fall back from
    ran = a > 0 and amps[a - 1] > 0
    return {"fallback_s": rec["fallback_s"], "outage_import_kwh": m["import_kwh"], "resumed": after, "ran": ran}


# ----------------------------------------------------------------------------- series
SERIES = {}  # key -> dict(title, days, tuned, source); filled before the worker pool forks


def offsets_list(n):
    return [int(round(k * 30.0 / n)) for k in range(n)]


def _job(args):
    key, what, offset, feed_s, continuous = args
    days = SERIES[key]["days"]
    if what == "bounds":
        return args, bounds_for(days)
    if what == "stale":
        day = max(days, key=lambda d: sum(d.solar))  # the sunniest day (if no session runs at its noon: n/a)
        return args, {nm: stale_test(nm, day, offset, feed_s) for nm in CTRL_NAMES}
    return args, simulate(what, days, offset, feed_s, continuous)


def load_series(args):
    series = []
    if os.path.isdir(SHARED):
        days = []
        for k in (1, 2, 3):
            p = os.path.join(SHARED, "day%d_grid_ie.csv" % k)
            if not os.path.exists(p):
                sys.exit("divert bench: %s is missing (../shared beside the checkout)" % p)
            d = split_days(TR.load_grid_ie(p), "day%d_grid_ie" % k)
            days.extend(d)
        series.append(("shared", "real, shared: OpenEVSE day1-3_grid_ie (1 min PV + load, UK/IE)", days, True))
    elif not args.no_shared:
        sys.exit("divert bench: the shared real days are missing: expected %s (../shared beside the checkout). "
                 "Run with --no-shared to bench without them." % os.path.normpath(SHARED))
    if not os.path.exists(STRESS):
        TR.stress_file(STRESS)
    series.append(("stress", "synthetic: one stress day (bench/traces/stress_clouds.csv, 5 s)",
                   split_days(TR.load_csv(STRESS), "stress"), True))
    series.append(("fast_clouds", "synthetic: 7 days of fast cumulus clouds (10 s)",
                   split_days(TR.synthetic("fast_clouds", 7, seed=11), "fast_clouds"), True))
    series.append(("clear", "synthetic: 7 clear days, winter to summer (10 s)",
                   split_days(TR.synthetic("clear", 7, seed=12), "clear"), True))
    series.append(("overcast", "synthetic: a week of overcast with short breaks (10 s)",
                   split_days(TR.synthetic("overcast", 7, seed=13), "overcast"), True))
    series.append(("winter", "synthetic: a winter week: short days, each clear, cumulus or overcast (10 s)",
                   split_days(TR.synthetic("winter", 7, seed=14), "winter"), True))
    # real data that packages ship, held out (key, title, package, file, loader, how to install)
    held_out = (
        ("payerne", "real, not tuned on: BSRN Payerne (CH) June 2016, 1 min GHI -> 4 kWp PV, synthetic load",
         "pvlib", "data/bsrn-pay0616.dat.gz", lambda p: TR.load_bsrn(p, 2016, 6, 2 * 3600),
         "pip install --no-deps -r requirements-bench.txt"),
        ("carpentras", "real, not tuned on: BSRN Carpentras (FR) May 2016, 1 min GHI -> 4 kWp PV, synthetic load",
         "solarpandas", "sample_data/car_bsrn_2016.parquet", lambda p: TR.load_bsrn_parquet(p, 2016, 5, 2 * 3600),
         "pip install --no-deps --ignore-requires-python solarpandas==0.2.1"),
        ("serf", "real, not tuned on: NREL SERF east (Golden CO) 2 days, 1 min AC power, synthetic load",
         "pvanalytics", "data/serf_east_1min_ac_power.csv", TR.load_serf,
         "pip install --no-deps -r requirements-bench.txt"),
    )
    if getattr(args, "year", False):
        # the other eleven months of the Carpentras year (May is "carpentras" above); local time for the
        # household load: CET, CEST from April to October (2016: 27 March to 30 October)
        held_out += tuple(
            ("carpentras_" + MONTHS[m - 1].lower(), "real, not tuned on: BSRN Carpentras (FR) %s 2016, 1 min GHI "
             "-> 4 kWp PV, synthetic load" % MONTHS[m - 1],
             "solarpandas", "sample_data/car_bsrn_2016.parquet",
             functools.partial(TR.load_bsrn_parquet, year=2016, month=m, tz_s=(2 if 4 <= m <= 10 else 1) * 3600),
             "pip install --no-deps --ignore-requires-python solarpandas==0.2.1")
            for m in range(1, 13) if m != 5)
    for key, title, pkg, rel, load, how in held_out:
        p = TR.pkg_file(pkg, rel)
        if p:
            series.append((key, title, split_days(load(p), key), False))
        elif not args.no_pkg_data:
            sys.exit("divert bench: %s's data file %s is missing: make bench-data installs it (%s), "
                     "or run with --no-pkg-data" % (pkg, rel, how))
    for p in args.trace:
        nm = os.path.basename(p).replace(".csv", "")
        series.append((nm, "trace " + p, split_days(TR.load_csv(p), nm), False))
    if args.only:
        keep = set(args.only.split(","))
        if "year" in keep:  # all twelve Carpentras months, in calendar order
            keep |= set(s[0] for s in series if s[0].startswith("carpentras"))
            month = {"carpentras_" + m.lower(): i for i, m in enumerate(MONTHS)}
            month["carpentras"] = 4
            series.sort(key=lambda s: month.get(s[0], -1))
        series = [s for s in series if s[0] in keep]
    return series


# ----------------------------------------------------------------------------- aggregation
def _mean_days(runs):
    """runs: list over offsets of per-day records -> per-day records averaged over offsets."""
    nd = len(runs[0])
    out = []
    for d in range(nd):
        r = {}
        for k in ("surplus_kwh", "capture_kwh", "import_kwh", "below6_min", "starts", "changes", "reversals",
                  "night_import_kwh"):
            r[k] = sum(run[d][k] for run in runs) / float(len(runs))
        out.append(r)
    return out


def _total(per_day):
    nd = float(len(per_day))
    sur = sum(d["surplus_kwh"] for d in per_day)
    cap = sum(d["capture_kwh"] for d in per_day)
    imp = sum(d["import_kwh"] + d["night_import_kwh"] for d in per_day)
    return {
        "days": len(per_day),
        "surplus_kwh": sur,
        "capture_kwh": cap,
        "import_kwh": imp,
        "net_kwh": cap - imp,
        "capture_pct": 100.0 * cap / sur if sur else 0.0,
        "starts_per_day": sum(d["starts"] for d in per_day) / nd,
        "changes_per_day": sum(d["changes"] for d in per_day) / nd,
        "reversals_per_day": sum(d["reversals"] for d in per_day) / nd,
        "below6_min_per_day": sum(d["below6_min"] for d in per_day) / nd,
    }


def summarise(key, res, n_off):
    days = SERIES[key]["days"]
    b = res["bounds"]
    tab = {}
    for nm in CTRL_NAMES:
        tab[nm] = _total(_mean_days(res["day"][nm]))
        tab[nm + " cont"] = _total(_mean_days(res["cont"][nm]))
    tab["same-rules bound"] = _total([d["same_rules"] for d in b])
    tab["unconstrained bound"] = _total([d["unconstrained"] for d in b])
    bs = tab["same-rules bound"]["net_kwh"]
    bu = tab["unconstrained bound"]["net_kwh"]
    for r in tab.values():
        r["vs_same_rules_pct"] = 100.0 * r["net_kwh"] / bs if bs > 0 else float("nan")
        r["vs_unconstrained_pct"] = 100.0 * r["net_kwh"] / bu if bu > 0 else float("nan")
    # per-day wins of ours against evcc (day-wise runs, mean over offsets)
    o = _mean_days(res["day"]["ours"])
    e = _mean_days(res["day"]["evcc"])
    wins = sum(1 for x, y in zip(o, e) if x["capture_kwh"] - x["import_kwh"] >= y["capture_kwh"] - y["import_kwh"] - 1e-9)
    per_day = []
    for d, day in enumerate(days):
        row = {"day": day.name}
        for nm in CTRL_NAMES:
            x = _mean_days(res["day"][nm])[d]
            row[nm] = x["capture_kwh"] - x["import_kwh"]
        row["same_rules"] = b[d]["same_rules"]["capture_kwh"] - b[d]["same_rules"]["import_kwh"]
        row["unconstrained"] = b[d]["unconstrained"]["capture_kwh"] - b[d]["unconstrained"]["import_kwh"]
        row["sessions"] = {k: max(1, b[d][k]["starts"]) for k in ("same_rules", "unconstrained")}
        per_day.append(row)
    st = {}
    for nm in CTRL_NAMES:
        runs = [s[nm] for s in res["stale"]]
        fb = [r["fallback_s"] for r in runs]
        st[nm] = {
            "fallback_s": None if any(x is None for x in fb) else sum(fb) / float(len(fb)),
            "fallback_max_s": None if any(x is None for x in fb) else max(fb),
            "outage_import_kwh": sum(r["outage_import_kwh"] for r in runs) / len(runs),
            "resumed": sum(1 for r in runs if r["resumed"]),
            "runs": len(runs),
            "ran": sum(1 for r in runs if r["ran"]),
        }
    # night defect check: does the controller that lived through the night start later than a fresh one?
    late = {}
    for nm in CTRL_NAMES:
        cnt, worst = 0, 0
        for run_d, run_c in zip(res["day"][nm], res["cont"][nm]):
            for a, c in zip(run_d, run_c):
                if a["first_on"] is None:
                    continue
                dl = None if c["first_on"] is None else c["first_on"] - a["first_on"]  # None: never started
                if dl is None or dl > 60:
                    cnt += 1
                    worst = max(worst, 0 if dl is None else dl)
        late[nm] = (cnt / float(len(res["day"][nm])), worst / 60.0)
    return {"table": tab, "wins_vs_evcc": wins, "per_day": per_day, "stale": st, "late": late}


COLS = ("ours", "openevse", "evcc", "same-rules bound", "unconstrained bound")


def fmt_table(title, s, n_days):
    tab = s["table"]
    lines = ["## " + title, "", "| metric | " + " | ".join(COLS) + " |", "|---|" + "---|" * len(COLS)]

    def row(label, key, f, suffix=""):
        cells = []
        for c in COLS:
            v = tab[c + suffix].get(key) if (c + suffix) in tab else None
            cells.append("-" if v is None or (isinstance(v, float) and math.isnan(v)) else f % v)
        lines.append("| %s | %s |" % (label, " | ".join(cells)))

    row("net value kWh (capture - EV-caused import)", "net_kwh", "%.2f")
    row("net % of same-rules bound", "vs_same_rules_pct", "%.1f")
    row("net % of unconstrained bound", "vs_unconstrained_pct", "%.1f")
    row("capture %", "capture_pct", "%.1f")
    row("EV-caused grid import kWh", "import_kwh", "%.2f")
    row("starts per day", "starts_per_day", "%.2f")
    row("pilot changes per day", "changes_per_day", "%.1f")
    row("reversals < 60 s per day", "reversals_per_day", "%.2f")
    if n_days > 1:
        row("continuous run: net kWh", "net_kwh", "%.2f", " cont")
        row("continuous run: net % of same-rules bound", "vs_same_rules_pct", "%.1f", " cont")
        row("continuous run: import kWh (incl. night)", "import_kwh", "%.2f", " cont")
        row("continuous run: starts per day", "starts_per_day", "%.2f", " cont")
        row("continuous run: pilot changes per day", "changes_per_day", "%.1f", " cont")
        cells = []
        for c in COLS:
            x = s["late"].get(c)
            cells.append("-" if x is None else "%.1f (max %.0f min)" % x)
        lines.append("| continuous run: days starting > 1 min later than a fresh controller | %s |" % " | ".join(cells))
    cells = []
    for c in COLS:
        x = s["stale"].get(c)
        if not x:
            cells.append("-")
            continue
        fb = "none" if x["fallback_s"] is None else "%.0f s (max %d)" % (x["fallback_s"], x["fallback_max_s"])
        if not x["ran"]:
            fb = "no session at noon"
        cells.append("%s, %.2f kWh, resumed %d/%d" % (fb, x["outage_import_kwh"], x["resumed"], x["runs"]))
    lines.append("| stale feed: fallback, import, charging 5 min after | %s |" % " | ".join(cells))
    lines.append("")
    lines.append("days: %d; ours >= evcc on %d of %d days" % (n_days, s["wins_vs_evcc"], n_days))
    return "\n".join(lines)


def targets(s):
    t = s["table"]
    o = t["ours"]
    oc = t["ours cont"]
    b = t["same-rules bound"]
    fb = s["stale"]["ours"]["fallback_max_s"]
    ran = s["stale"]["ours"]["ran"]
    return {
        "starts": (max(o["starts_per_day"], oc["starts_per_day"]) <= CAP_STARTS,
                   "%.2f / %.2f" % (o["starts_per_day"], oc["starts_per_day"])),
        "changes": (max(o["changes_per_day"], oc["changes_per_day"]) <= MAX_CHANGES,
                    "%.1f / %.1f" % (o["changes_per_day"], oc["changes_per_day"])),
        "net95": (min(o["vs_same_rules_pct"], oc["vs_same_rules_pct"]) >= 95.0 or b["net_kwh"] <= 0,
                  "%.1f / %.1f %%" % (o["vs_same_rules_pct"], oc["vs_same_rules_pct"])),
        "import": (max(o["import_kwh"], oc["import_kwh"]) <= b["import_kwh"] + 1e-9,
                   "%.2f / %.2f vs %.2f" % (o["import_kwh"], oc["import_kwh"], b["import_kwh"])),
        "stale": ((fb is not None and fb <= 120, "max %s s" % fb) if ran else
                  (None, "no session at noon on the sunniest day")),
    }


def fmt_targets(summ, order):
    lines = ["## Targets for ours (day-wise / continuous; mean over offsets)", "",
             "| trace | tuned on | starts/day <= 1.2 | changes/day <= 30 | net >= 95 % of same-rules bound | "
             "import <= bound's | stale fallback <= 120 s |", "|---|---|---|---|---|---|---|"]
    for key in order:
        tg = targets(summ[key])
        cells = []
        for k in ("starts", "changes", "net95", "import", "stale"):
            ok, txt = tg[k]
            cells.append("%s %s" % ("n/a:" if ok is None else "yes" if ok else "**no**", txt))
        lines.append("| %s | %s | %s |" % (key, "yes" if SERIES[key]["tuned"] else "no", " | ".join(cells)))
    return "\n".join(lines)


def fmt_totals(summ, order):
    lines = ["## All traces (sum of days; mean over offsets; day-wise runs, and the continuous run)", "",
             "| group | days | " + " | ".join(c + " net kWh (% same-rules)" for c in COLS[:3]) +
             " | same-rules bound | unconstrained bound | ours import / bound import | ours starts/day | ours changes/day |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    groups = [("tuned on (shared + synthetic)", [k for k in order if SERIES[k]["tuned"]]),
              ("not tuned on (real, from packages)", [k for k in order if not SERIES[k]["tuned"]]),
              ("all", list(order))]
    rows = []
    for title, keys in groups:
        rows.append((title, keys, ""))
        rows.append((title + ", continuous run", keys, " cont"))
    for title, keys, suffix in rows:
        if not keys:
            continue
        agg = {}
        nd = 0
        for c in COLS:
            agg[c] = {"net": 0.0, "imp": 0.0, "st": 0.0, "ch": 0.0}
        for k in keys:
            t = summ[k]["table"]
            n = t["ours"]["days"]
            nd += n
            for c in COLS:
                r = t[c + suffix] if c in CTRL_NAMES else t[c]
                agg[c]["net"] += r["net_kwh"]
                agg[c]["imp"] += r["import_kwh"]
                agg[c]["st"] += r["starts_per_day"] * n
                agg[c]["ch"] += r["changes_per_day"] * n
        bs = agg["same-rules bound"]["net"]
        cells = ["%.1f (%.1f)" % (agg[c]["net"], 100 * agg[c]["net"] / bs if bs else 0) for c in COLS[:3]]
        lines.append("| %s | %d | %s | %.1f | %.1f | %.1f / %.1f | %.2f | %.1f |" % (
            title, nd, " | ".join(cells), bs, agg["unconstrained bound"]["net"], agg["ours"]["imp"],
            agg["same-rules bound"]["imp"], agg["ours"]["st"] / nd, agg["ours"]["ch"] / nd))
    return "\n".join(lines)


# ----------------------------------------------------------------------------- plots
def plot(key, s, feed_s):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib not installed: no plot)")
        return
    days = SERIES[key]["days"]
    pd = s["per_day"]
    # the day on which ours falls furthest below the same-rules bound (the first day for one-day traces)
    worst = 0
    if len(days) > 1:
        worst = max(range(len(days)), key=lambda d: pd[d]["same_rules"] - pd[d]["ours"])
    day = days[worst]
    curves = {}
    for nm in CTRL_NAMES:
        recs = simulate(nm, [day], 0, feed_s, False, keep_amps=True)
        curves[nm] = recs[0]["amps"]
    ses = pd[worst]["sessions"]  # as judged: a second session on some days (bound_amps)
    curves["same-rules bound"] = bound_same_rules(day, sessions=ses["same_rules"])
    curves["unconstrained"] = bound_unconstrained(day, sessions=ses["unconstrained"])
    fig, ax = plt.subplots(3, 1, figsize=(12, 9.5), gridspec_kw={"height_ratios": [1, 1.2, 1.2]})
    x = range(1, len(pd) + 1)
    w = 0.2
    for j, (nm, col) in enumerate((("ours", "blue"), ("openevse", "red"), ("evcc", "purple"))):
        ax[0].bar([k + (j - 1) * w for k in x], [r[nm] for r in pd], width=w, color=col, label=nm)
    ax[0].plot(list(x), [r["same_rules"] for r in pd], "k_", markersize=18, mew=2, label="same-rules bound")
    ax[0].set_ylabel("net kWh / day")
    ax[0].set_xticks(list(x))
    ax[0].set_xlabel("day", fontsize=8)
    top = max([1.0] + [max(r["ours"], r["openevse"], r["evcc"], r["same_rules"]) for r in pd])
    ax[0].set_ylim(min(0.0, min(r["ours"] for r in pd)), top * 1.35)
    ax[0].set_title("%s: net value per day (mean over phase offsets); below: day %d (the one furthest below "
                    "the same-rules bound), offset 0" % (key, worst + 1), fontsize=10)
    ax[0].legend(loc="upper left", fontsize=8, ncol=4)
    n = len(day.solar)
    hrs = [((day.t0 + i) % 86400) / 3600.0 for i in range(n)]
    ax[1].plot(hrs, [v / 1000.0 for v in day.solar], color="orange", lw=0.8, label="solar")
    ax[1].plot(hrs, [v / 1000.0 for v in day.load], color="grey", lw=0.6, label="house load")
    ax[1].plot(hrs, [max(0.0, a - b) / 1000.0 for a, b in zip(day.solar, day.load)], color="green", lw=0.6,
               label="surplus")
    ax[1].set_ylabel("kW")
    ax[1].legend(loc="upper right", fontsize=8)
    colors = {"ours": "blue", "openevse": "red", "evcc": "purple", "same-rules bound": "black", "unconstrained": "grey"}
    ax[2].plot(hrs, [max(0.0, a - b) / v for a, b, v in zip(day.solar, day.load, day.vrms)], color="green", lw=0.5,
               alpha=0.5, label="surplus A")
    for nm in ("unconstrained", "same-rules bound", "openevse", "evcc", "ours"):
        ax[2].plot(hrs, curves[nm], color=colors[nm], lw=1.1 if nm == "ours" else 0.7, label=nm)
    ax[2].set_ylim(0, 20)
    ax[2].set_ylabel("EV current A")
    ax[2].set_xlabel("hour of day (UTC)")
    ax[2].legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    os.makedirs(PLOT_DIR, exist_ok=True)
    fig.savefig(os.path.join(PLOT_DIR, key + ".png"), dpi=72)
    plt.close(fig)


# ----------------------------------------------------------------------------- main
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trace", action="append", default=[], help="CSV time_s,solar_w,load_w[,vrms]")
    ap.add_argument("--only", default="", help="comma-separated trace keys")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--no-shared", action="store_true", help="allow running without ../shared")
    ap.add_argument("--no-pkg-data", action="store_true", help="allow running without requirements-bench.txt")
    ap.add_argument("--year", action="store_true",
                    help="also the other 11 months of the Carpentras year (held out; make bench-divert-year)")
    ap.add_argument("--feed-s", type=int, default=10)
    ap.add_argument("--offsets", type=int, default=5, help="phase offsets, spread over 0-29 s")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args(argv)
    t_start = time.time()
    order = []
    for key, title, days, tuned in load_series(args):
        SERIES[key] = {"title": title, "days": days, "tuned": tuned}
        order.append(key)
    offs = offsets_list(args.offsets)
    jobs = []
    for key in order:
        jobs.append((key, "bounds", 0, args.feed_s, False))
        for o in offs:
            jobs.append((key, "stale", o, args.feed_s, False))
            for nm in CTRL_NAMES:
                jobs.append((key, nm, o, args.feed_s, False))
                if len(SERIES[key]["days"]) > 1:
                    jobs.append((key, nm, o, args.feed_s, True))
    # longest first, so the pool finishes together
    jobs.sort(key=lambda j: -len(SERIES[j[0]]["days"]))
    res = {k: {"day": {n: [] for n in CTRL_NAMES}, "cont": {n: [] for n in CTRL_NAMES}, "stale": []} for k in order}
    if args.jobs > 1:
        pool = multiprocessing.get_context("fork").Pool(args.jobs)
        it = pool.imap_unordered(_job, jobs)
    else:
        pool = None
        it = map(_job, jobs)
    for (key, what, o, fs, cont), r in it:
        if what == "bounds":
            res[key]["bounds"] = r
        elif what == "stale":
            res[key]["stale"].append(r)
        else:
            res[key]["cont" if cont else "day"][what].append(r)
    if pool:
        pool.close()
    for key in order:  # one-day traces: the continuous run is the day-wise run
        for nm in CTRL_NAMES:
            if not res[key]["cont"][nm]:
                res[key]["cont"][nm] = res[key]["day"][nm]
    summ = {key: summarise(key, res[key], len(offs)) for key in order}
    text = []
    for key in order:
        text.append(fmt_table("%s: %s" % (key, SERIES[key]["title"]), summ[key], len(SERIES[key]["days"])))
        if not args.no_plot:
            plot(key, summ[key], args.feed_s)
    text.append(fmt_totals(summ, order))
    text.append(fmt_targets(summ, order))
    secs = time.time() - t_start
    if args.json:
        print(json.dumps({"offsets": offs, "seconds": secs, "traces": summ}, indent=1, sort_keys=True, default=str))
    else:
        print("\n\n".join(text))
        print("\nEvery figure is the mean over %d phase offsets of the feed and evcc's tick (%s s)." % (
            len(offs), ", ".join(str(o) for o in offs)))
        print("Stale feed test: feed silent 15 min from solar noon while PV drops to 20 % (sunniest day of each trace).")
        print("bench time %.0f s (%d jobs on %d processes)" % (secs, len(jobs), args.jobs))


if __name__ == "__main__":
    main()
