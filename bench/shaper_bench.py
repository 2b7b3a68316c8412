"""Closed-loop current shaper benchmark: how often, how long and by how much the house goes over
its limit with our shaper (firmware/shaper.py, the firmware code itself), the C++ gateway's
algorithm (src/current_shaper.cpp as read at commit 053d829, re-implemented from its text) and no
shaper, side by side in one run.

python bench/shaper_bench.py [--limits 6000,9000] [--json]

Plant at 1 s steps: live power = house load + V * I_ev (the meter on the house's supply, the EV
included, as the shaper's live power is defined). V = 230 V (the limits are French 6 / 9 kVA
subscriptions, the breaker trips above them).
House load: OpenEVSE divert_sim day1..3_grid_ie (real emoncms, 1 min, load = grid + solar; read
from ../shared/divert-data, GPL-3.0, not committed), held between minutes; and 7 synthetic days of
bench/divert_traces.house_load (kettle 2.2 kW, hob, oven 2.4 kW, washing machine) at 1 s.
Meter feed (data_shaper.csv: live power refreshes every ~5-10 s): the meter reads every 10 s and
its value reaches the gateway 1 s later; variant "10s-rep2": the same 10 s meter republished every
2 s (an HA automation or a broker bridge re-sending the last value).
EV (data_shaper.csv and divert.md 6.1): relay closes -> 5 s nothing -> ramp 1 A/s; pilot changes
seen 1 s late, then +1 A/s up / -5 A/s down; draws the full pilot; never full. The gateway reads
the EV current once a second ($GG), 1 s old; our shaper takes a reading every 2 s and at each
sample, as the firmware's housekeeping task steps it. Pause: the relay opens, the current drops at once.
Gateways: shaper settings at their defaults (smoothing 60 s, min pause 300 s, max interval 120 s).

Figures per limit and feed, summed over all days. Over the limit because of the EV (the house
alone under it): events (runs of such seconds), seconds, the longest event (s), Wh above the line
(at most the EV's own power each second). Then the seconds the house alone was over the limit (no
charger can help: the same for every gateway but "none"'s EV adds to them), EV kWh delivered,
pauses (relay openings), pilot changes.
"""
import argparse
import json
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "firmware"))
sys.path.insert(0, HERE)

from shaper import Shaper  # noqa: E402  (the exact firmware code)
import divert_traces as TR  # noqa: E402

SHARED = os.path.join(REPO, "..", "shared", "divert-data", "openevse_divert_sim")
V = 230
MIN_A, MAX_A = 6, 32
SMOOTH_S, PAUSE_S, MAXINT_S = 60, 300, 120


# ----------------------------------------------------------------------------- gateways
class Ours:
    name = "ours"

    def __init__(self, max_w):
        self.c = Shaper(max_w=max_w, min_a=MIN_A, max_a=MAX_A, smooth_s=SMOOTH_S, pause_s=PAUSE_S,
                        maxint_s=MAXINT_S)

    def on_feed(self, t, live_w, amp_ma):
        self.c.ev(t * 1000, amp_ma, V * 1000)
        self.c.feed(t * 1000, live_w)

    def step(self, t, amp_ma):
        """-> (paused, cap A or None). The firmware steps it every 2 s (the housekeeping
        task) and at each sample."""
        if t % 2 == 0:
            self.c.ev(t * 1000, amp_ma, V * 1000)
        return self.c.update(t * 1000)


class Cpp:
    """CurrentShaperTask (src/current_shaper.cpp): shapeCurrent() at every live-power sample with
    the EV's current at that moment; loop() every EVSE_SHAPER_LOOP_TIME (2 s) claims
    floor(max_cur) as max current when a sample came in; below the minimum it pauses; it resumes
    after min_pause_time with EVSE_SHAPER_HYSTERESIS (0.5 A); while paused live power is smoothed
    (up at once, down with InputFilter tau = smoothing_time); live power is clipped at max_pwr;
    no sample for data_maxinterval pauses."""
    name = "c++"
    clip = True

    def __init__(self, max_w):
        self.max_w = max_w
        self.live = 0.0
        self.smoothed = 0.0
        self.max_cur = 0.0
        self.changed = False
        self.updated = False
        self.timer = 0
        self.pause_timer = 0  # 0 = not paused (millis() in the C++ code)
        self.filt_t = None
        self.claim = (True, None)  # the claim in force: (paused, cap)
        self.next_loop = 0

    def on_feed(self, t, live_w, amp_ma):
        self.live = float(live_w)
        self.updated = True
        if self.pause_timer == 0:
            self.smoothed = self.live
            lp = self.live
        else:
            if self.live > self.smoothed:
                self.smoothed = self.live
            else:
                dt = 0 if self.filt_t is None else t - self.filt_t
                f = 1 - math.exp(-dt / float(max(SMOOTH_S, 10)))  # INPUT_FILTER_MIN_TAU 10 s
                self.smoothed = self.live * f + self.smoothed * (1 - f)
            lp = self.smoothed
        self.filt_t = t
        if self.clip:
            lp = min(lp, self.max_w)
        self.max_cur = (self.max_w - lp) / V + amp_ma / 1000.0
        self.changed = True

    def step(self, t, amp_ma):
        if t < self.next_loop:
            return self.claim
        self.next_loop = t + 2
        if self.changed:
            paused, cap = self.claim
            cap = int(math.floor(self.max_cur))
            if self.max_cur < MIN_A:
                paused = True
                if not self.pause_timer:
                    self.pause_timer = t
            elif t - self.pause_timer >= PAUSE_S and self.max_cur - MIN_A >= 0.5:
                self.pause_timer = 0
                paused = False
            self.timer = t
            self.changed = False
            self.claim = (paused, cap)
        elif not self.updated or t - self.timer > MAXINT_S:
            if self.updated:
                self.pause_timer = t
                self.updated = False
                self.smoothed = self.live
            self.claim = (True, self.claim[1])
        return self.claim


class CppNoClip(Cpp):
    """The same without clipping live power at max_pwr (a later revision of the file drops
    the clip): over the limit the cap then falls below the EV's draw."""
    name = "c++nc"
    clip = False


class NoShaper:
    name = "none"

    def __init__(self, max_w):
        pass

    def on_feed(self, t, live_w, amp_ma):
        pass

    def step(self, t, amp_ma):
        return False, None


# ----------------------------------------------------------------------------- EV and loop
class EV:
    def __init__(self):
        self.ma = 0
        self.relay_since = None
        self.seen = 0  # pilot the EV acts on
        self.pending = None  # (pilot, since)

    def step(self, t, relay, pilot):
        if not relay:
            self.ma = 0
            self.relay_since = None
            self.pending = None
            self.seen = pilot
            return
        if self.relay_since is None:
            self.relay_since = t
            self.seen = pilot
        if pilot != self.seen and (self.pending is None or self.pending[0] != pilot):
            self.pending = (pilot, t)
        if self.pending is not None and t - self.pending[1] >= 1:
            self.seen = self.pending[0]
            self.pending = None
        target = self.seen * 1000 if t - self.relay_since >= 5 else 0
        if self.ma < target:
            self.ma = min(target, self.ma + 1000)
        elif self.ma > target:
            self.ma = max(target, self.ma - 5000)


def run(ctrl, house, limit, feed):
    """house: W per second. Returns the figures."""
    ev = EV()
    period, rep = feed
    rec = {"events": 0, "over_s": 0, "longest_s": 0, "over_wh": 0.0, "house_s": 0,
           "ev_kwh": 0.0, "pauses": 0, "changes": 0}
    run_len = 0
    pending = []  # (deliver t, live W)
    meter = None
    measured = 0  # the EVSE's $GG reading, 1 s old
    pilot, relay = MAX_A, True
    for t in range(len(house)):
        ev_w = ev.ma * V // 1000
        live = house[t] + ev_w
        if live > limit and house[t] > limit:
            rec["house_s"] += 1  # the house alone is over: no charger can help
        if live > limit and house[t] <= limit:
            # the EV's part: over the limit only because the EV draws
            rec["over_s"] += 1
            rec["over_wh"] += min(live - limit, ev_w) / 3600.0
            run_len += 1
            if run_len == 1:
                rec["events"] += 1
            rec["longest_s"] = max(rec["longest_s"], run_len)
        else:
            run_len = 0
        rec["ev_kwh"] += ev.ma * V / 3.6e9
        if t % period == 0:
            meter = live
        if meter is not None and (t % rep == 0):
            pending.append((t + 1, meter))
        while pending and pending[0][0] <= t:
            _, w = pending.pop(0)
            ctrl.on_feed(t, w, measured)
        paused, cap = ctrl.step(t, measured)
        new_pilot = MAX_A if cap is None else max(MIN_A, min(MAX_A, cap))
        new_relay = not paused
        if relay and not new_relay:
            rec["pauses"] += 1
        if new_relay and new_pilot != pilot:
            rec["changes"] += 1
        if new_relay:
            pilot = new_pilot
        relay = new_relay
        measured = ev.ma
        ev.step(t, relay, pilot)
    return rec


# ----------------------------------------------------------------------------- traces
def load_days():
    days = []
    if not os.path.isdir(SHARED):
        sys.exit("shaper bench: the shared real days are missing: expected %s" % os.path.normpath(SHARED))
    for k in (1, 2, 3):
        rows = TR.load_grid_ie(os.path.join(SHARED, "day%d_grid_ie.csv" % k))
        sec = []
        for i in range(len(rows) - 1):
            n = int(rows[i + 1][0] - rows[i][0])
            if 0 < n <= 120:
                sec.extend([int(rows[i][2])] * n)
        days.append(("day%d_grid_ie" % k, sec))
    for s in range(7):
        days.append(("synthetic%d" % s, [int(w) for w in TR.house_load(1000 + s, 6 * 3600, 16 * 3600, 1)]))
    return days


CTRLS = (NoShaper, Cpp, CppNoClip, Ours)
FEEDS = (("10s", (10, 10)), ("10s-rep2", (10, 2)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limits", default="6000,9000")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    days = load_days()
    hours = sum(len(d) for _, d in days) / 3600.0
    out = {}
    print("shaper bench: %d days, %.1f h of house load at 1 s (real: day1-3_grid_ie; synthetic: 7), "
          "V %d, EV 32 A, defaults smoothing %d s, min pause %d s, max interval %d s"
          % (len(days), hours, V, SMOOTH_S, PAUSE_S, MAXINT_S))
    for limit in [int(x) for x in a.limits.split(",")]:
        for fname, feed in FEEDS:
            print("\nlimit %d W, feed %s (meter every %d s, sent every %d s, 1 s late)"
                  % (limit, fname, feed[0], feed[1]))
            print("%-6s %7s %8s %8s %9s %8s %8s %7s %8s" % (
                "", "events", "over s", "longest", "over Wh", "house s", "EV kWh", "pauses", "changes"))
            for cls in CTRLS:
                tot = {}
                for _, house in days:
                    r = run(cls(limit), house, limit, feed)
                    for k, v in r.items():
                        tot[k] = max(tot.get(k, 0), v) if k == "longest_s" else tot.get(k, 0) + v
                out["%d/%s/%s" % (limit, fname, cls.name)] = tot
                print("%-6s %7d %8d %8d %9.1f %8d %8.1f %7d %8d" % (
                    cls.name, tot["events"], tot["over_s"], tot["longest_s"], tot["over_wh"],
                    tot["house_s"], tot["ev_kwh"], tot["pauses"], tot["changes"]))
    if a.json:
        print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
