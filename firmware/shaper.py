# The current shaper's controller (load limiting): keeps the house's total draw under
# current_shaper_max_pwr by capping the charge current. Pure logic: no I/O, time passed in
# as now_ms, integers (W, mA, mV). shaper_service.py wires it to the feed and the claims.
#
# What it copies from the C++ gateway (src/current_shaper.cpp, read at commit 053d829):
# the live power is the house's total (the EV included); the room left is
# (max_pwr - live) / V (/ 3 three-phase) plus what the EV draws; below the controller's
# minimum it pauses (claim state disabled) and resumes only after min_pause_time with 0.5 A
# to spare (EVSE_SHAPER_HYSTERESIS), judged on a smoothed house load that rises at once and
# falls with smoothing_time; a feed older than data_maxinterval pauses the charge.
# What differs, and why (docs/features.md, bench/shaper_bench.py measures it):
# - the EV's share is the least it drew in the LAG_MS before the sample arrived, not its draw
#   now: the meter read an older draw, and pairing an old live power with a newer, higher
#   draw over-counts the room (the 22<->28 A oscillation in data_shaper.csv). The least draw
#   can only over-count the house, so the error is on the safe side; the window is short
#   (a meter's latency, ~1 s there) so the EV's own ramp between samples is not taken for
#   house load (a 10 s window did that and cycled 17<->25 A: bench/shaper_bench.py);
# - the cap is recomputed only when a new value arrives: the same value again (a broker or an
#   automation re-sending the last reading) only shows that the feed is alive;
# - over the limit the room is negative and the cap drops at once (the C++ code clips live
#   power at max_pwr, which leaves the cap at the EV's present draw);
# - the failsafe is configurable: pause (as the C++ gateway) or the minimum current.
# As the C++ code, with divert on a solar feed the solar production is added to the limit
# (live power is then the house's consumption, solar not netted): extra_w, only while the
# solar feed is fresh.

FS_PAUSE = 0
FS_MIN = 1
LAG_MS = 3000  # the meter's reading is at most this old when it arrives (data_shaper.csv: ~1 s)
HYST_MA = 500  # resume needs the minimum + 0.5 A (EVSE_SHAPER_HYSTERESIS)
NO_CAP = 255  # shaper_cur when the shaper does not limit (clients then use the pilot)


class Shaper:
    """One instance per gateway. feed() each live-power sample, ev() each EV current
    reading, update() for the decision: (paused, cap_a). paused True: the charge must be
    paused (claim state disabled); else cap_a is the highest current the house allows
    (min_a..max_a), or None when nothing is known to limit by (only with the min failsafe)."""

    def __init__(self, max_w=0, min_a=6, max_a=32, smooth_s=60, pause_s=300, maxint_s=120,
                 failsafe=FS_PAUSE, phases=1):
        self.max_w = max_w
        self.min_a = min_a
        self.max_a = max_a
        self.smooth_ms = smooth_s * 1000
        self.pause_ms = pause_s * 1000
        self.maxint_ms = maxint_s * 1000
        self.failsafe = failsafe
        self.phases = phases
        self.extra_w = 0  # solar production added to the limit (divert on a solar feed, as C++)
        self.live_w = 0
        self.fed = None  # ms of the last sample (None: none yet)
        self.house_w = 0  # the house without the EV, from the last sample
        self.smooth_w = 0  # house load for the resume decision (rises at once, falls slowly)
        self.paused = False
        self.paused_at = 0
        self._hist = []  # [(ms, mA)] the EV's readings of the last LAG_MS
        self.mv = 230000

    def configure(self, **kw):
        for k, v in kw.items():
            if k.endswith("_s"):
                setattr(self, k[:-2] + "_ms", v * 1000)
            else:
                setattr(self, k, v)

    def ev(self, now_ms, amp_ma, voltage_mv=0):
        """The EV's measured current (mA) and the supply voltage (mV, 0 = unknown)."""
        h = self._hist
        while h and (now_ms - h[0][0] > LAG_MS or len(h) > 7):
            h.pop(0)
        h.append((now_ms, amp_ma))
        if voltage_mv > 50000:
            self.mv = voltage_mv

    def _ev_share(self, now_ms):
        low = None
        for t, ma in self._hist:
            if now_ms - t <= LAG_MS and (low is None or ma < low):
                low = ma
        return 0 if low is None else low

    def _room(self, house_w):
        # mA the EV may draw with the house at house_w: W * 1e6 / mV = mA (per phase)
        return (self.max_w + self.extra_w - house_w) * 1000000 // (self.mv * self.phases)

    def feed(self, now_ms, live_w):
        """A live-power sample: the house's total draw, the EV included (W)."""
        if self.fed is not None and live_w == self.live_w and not self.stale(now_ms):
            # the same reading again: the feed is alive, the house load is as it was (the
            # pause's smoothed load goes on following it), nothing new about the EV's share
            self._smooth(now_ms, self.house_w)
            self.fed = now_ms
            return
        house = live_w - self._ev_share(now_ms) * self.mv * self.phases // 1000000
        if self.fed is None or not self.paused:
            self.smooth_w = house
        else:
            self._smooth(now_ms, house)
        self.live_w = live_w
        self.house_w = house
        self.fed = now_ms

    def _smooth(self, now_ms, house):
        if not self.paused or house >= self.smooth_w or self.smooth_ms <= 0:
            self.smooth_w = house
            return
        dt = now_ms - self.fed
        if dt > 0:  # first order filter, time constant smoothing_time (backward Euler)
            self.smooth_w += (house - self.smooth_w) * dt // (self.smooth_ms + dt)

    def stale(self, now_ms):
        return self.fed is None or now_ms - self.fed > self.maxint_ms

    def _pause(self, now_ms):
        if not self.paused:
            self.paused = True
            self.paused_at = now_ms

    def update(self, now_ms):
        """(paused, cap_a) for now."""
        min_ma = self.min_a * 1000
        if self.stale(now_ms):
            if self.failsafe == FS_MIN:
                # stay paused if the last data said there was no room; else the minimum
                return self.paused, None if self.paused else self.min_a
            if self.fed is None:
                # no sample yet (just enabled, just booted): paused, but no pause timer, so
                # the first sample with room starts the charge at once
                self.paused = True
                self.paused_at = now_ms - self.pause_ms
            else:
                self._pause(now_ms)
            return True, None
        room = self._room(self.house_w)  # now: the limit may have changed since the sample
        if self.paused:
            if now_ms - self.paused_at >= self.pause_ms and room >= min_ma + HYST_MA and \
                    self._room(self.smooth_w) >= min_ma + HYST_MA:
                self.paused = False
            else:
                return True, None
        elif room < min_ma:
            self._pause(now_ms)
            self.smooth_w = self.house_w
            return True, None
        cap = room // 1000
        return False, self.max_a if cap > self.max_a else cap

    def shown_cur(self, now_ms):
        """shaper_cur as the C++ gateway reports it: the room in whole A (0..254), or
        NO_CAP (255) when there is no fresh sample."""
        if self.stale(now_ms):
            return NO_CAP
        a = self._room(self.house_w) // 1000
        return 0 if a < 0 else 254 if a > 254 else a
