# The current shaper's service: live house power (POST /status shaper_live_pwr, the MQTT
# topic in mqtt_live_pwr) -> shaper.Shaper -> its claim. Imported only once the shaper is
# enabled (current_shaper_enabled, or POST /shaper shaper=1): startup.OPTIONAL. No task of its
# own (a task and its event cost ~0.5 KB): it steps at each sample and from the gateway's
# housekeeping task every 2 s (staleness, the EV's readings).
import claims as C
from compat import ticks_diff, ticks_ms
from shaper import FS_MIN, FS_PAUSE, Shaper

KEYS = ("current_shaper_max_pwr", "current_shaper_smoothing_time",
        "current_shaper_min_pause_time", "current_shaper_data_maxinterval",
        "current_shaper_failsafe", "is_threephase")


class ShaperService:
    """gw.shaper. enabled may differ from the setting: POST /shaper is temporary (as in the
    C++ gateway's CurrentShaperTask::setState)."""

    def __init__(self, gw):
        self.gw = gw
        self.ctrl = Shaper()
        self.enabled = bool(gw.config.get("current_shaper_enabled"))
        self._mono = 0  # monotonic ms: ticks_ms wraps
        self._last = ticks_ms()
        self._want = None
        self._shown = None
        self.claim_error = None
        self._apply()
        gw.config.on_change.append(self._config_changed)

    def _apply(self):
        g = self.gw.config.get
        self.ctrl.configure(max_w=g("current_shaper_max_pwr"),
                            smooth_s=g("current_shaper_smoothing_time"),
                            pause_s=g("current_shaper_min_pause_time"),
                            maxint_s=g("current_shaper_data_maxinterval"),
                            failsafe=FS_MIN if g("current_shaper_failsafe") == "min" else FS_PAUSE,
                            phases=3 if g("is_threephase") else 1)

    def _config_changed(self, keys):
        if "current_shaper_enabled" in keys:
            self.set_enabled(self.gw.config.get("current_shaper_enabled"))
        for k in KEYS:
            if k in keys:
                self._apply()
                self.step()
                break

    def now(self):
        t = ticks_ms()
        self._mono += ticks_diff(t, self._last)
        self._last = t
        return self._mono

    def set_enabled(self, on):
        self.enabled = bool(on)
        self.step()

    def feed(self, live_w):
        """A live-power sample (W), already range-checked (gateway.status_input)."""
        m = self.gw.model
        now = self.now()
        self.ctrl.ev(now, m.amp_ma if m.charging else 0, m.voltage_mv)
        self.ctrl.feed(now, live_w)
        self.step()

    def _claim(self, key):
        if key == self._want:
            return
        cl = self.gw.claims
        try:
            if key is None:
                cl.release(C.CLIENT_SHAPER)
            elif key == "pause":
                cl.replace(C.CLIENT_SHAPER, C.SHAPER, {"state": "disabled"})
            else:
                cl.replace(C.CLIENT_SHAPER, C.SHAPER, {"max_current": key})
        except Exception as e:  # not remembered as made: tried again at the next step
            self.claim_error = repr(e)
            return
        self._want = key
        self.claim_error = None

    def step(self):
        m = self.gw.model
        now = self.now()
        min_a, max_a = m.limits()
        c = self.ctrl
        if (min_a, max_a) != (c.min_a, c.max_a):
            c.configure(min_a=min_a, max_a=max_a)
        c.ev(now, m.amp_ma if m.charging else 0, m.voltage_mv)
        d = self.gw.divert
        # current_shaper.cpp calcMaxCur: max_pwr += solar with divert enabled on a solar feed
        c.extra_w = d.solar if d is not None and self.gw.config.get("divert_enabled") and \
            d.ctrl.feed_type == "solar" and d.solar > 0 and not d.ctrl.is_stale(d.now()) else 0
        if not self.enabled:
            self._claim(None)
        else:
            paused, cap = c.update(now)
            self._claim("pause" if paused else cap)
        st = self.status()
        key = (st["shaper"], st["shaper_live_pwr"], st["shaper_cur"], st["shaper_updated"],
               st["shaper_max_pwr"], st["shaper_paused"])
        if key != self._shown:
            self._shown = key
            self.gw.bus.publish(st)

    def status(self):
        c = self.ctrl
        now = self.now()
        d = {"shaper": 1 if self.enabled else 0, "shaper_live_pwr": c.live_w,
             "shaper_cur": c.shown_cur(now) if self.enabled else 255,
             "shaper_updated": not c.stale(now), "shaper_max_pwr": c.max_w,
             "shaper_paused": self.enabled and c.paused}
        if self.claim_error is not None:
            d["shaper_error"] = self.claim_error
        return d
