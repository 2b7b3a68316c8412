# Divert service: connects the pure controller to the feeds, the EVSE model and the
# claims. Runs once a second and right after every feed sample.
import asyncio

import claims as C
from compat import ticks_diff, ticks_ms, wait_for_ms
from divert.controller import FEED_GRID, FEED_SOLAR, MODE_ECO, MODE_NORMAL, DivertController


class DivertService:
    def __init__(self, gw):
        self.gw = gw
        cfg = gw.config
        self.ctrl = DivertController(min_a=6, max_a=32, feed=self._feed_type())
        self._apply_config()
        self.solar = 0
        self.grid_ie = 0
        self._mono = 0  # monotonic ms: ticks_ms wraps after ~12 days on MicroPython
        self._last = ticks_ms()
        self._wake = asyncio.Event()
        self._want = None
        self.claim_error = None  # why the last claim could not be made (status divert_error)
        self._vrms_mv = None
        cfg.on_change.append(self._config_changed)
        if cfg.get("divert_enabled") and cfg.get("charge_mode") == "eco":
            self.ctrl.set_mode(MODE_ECO)

    @property
    def mode(self):
        return self.ctrl.mode

    def _feed_type(self):
        t = self.gw.config.get("divert_type")
        if t == 0:
            return FEED_SOLAR
        if t == 1:
            return FEED_GRID
        return FEED_SOLAR if self.gw.config.get("mqtt_solar") and not self.gw.config.get(
            "mqtt_grid_ie") else FEED_GRID

    def _apply_config(self):
        cfg = self.gw.config
        self.ctrl.configure(stale_ms=cfg.get("divert_stale_time") * 1000,
                            start_ms=cfg.get("divert_start_time") * 1000,
                            min_change_ms=cfg.get("divert_change_time") * 1000)

    def _config_changed(self, keys):
        if "divert_enabled" in keys or "charge_mode" in keys:
            # at once, as the C++ gateway: Eco iff divert is enabled and the mode is eco
            cfg = self.gw.config
            mode = MODE_ECO if cfg.get("divert_enabled") and cfg.get("charge_mode") == "eco" \
                else MODE_NORMAL
            if mode != self.ctrl.mode:
                self.gw.set_divert_mode(mode)
        if "divert_type" in keys or "mqtt_solar" in keys or "mqtt_grid_ie" in keys:
            self.ctrl.configure(feed=self._feed_type())
        for k in keys:
            if k.startswith("divert_"):
                self._apply_config()
                break

    def now(self):
        t = ticks_ms()
        self._mono += ticks_diff(t, self._last)
        self._last = t
        return self._mono

    def set_mode(self, mode):
        self.ctrl.set_mode(mode)
        if mode == MODE_NORMAL:
            self._claim(None, 0)
        self._wake.set()

    def feed(self, kind, value):
        """kind 'solar' | 'grid_ie' (W) | 'voltage' (V); value already range-checked."""
        now = self.now()
        if kind == "voltage":
            # used with the next sample; /status shows it once the controller has it ($SV)
            self._vrms_mv = value * 1000
            return
        want = FEED_SOLAR if kind == "solar" else FEED_GRID
        if self.ctrl.feed_type != want:
            self.ctrl.configure(feed=want)
        if kind == "solar":
            self.solar = value
        else:
            self.grid_ie = value
        self.ctrl.feed(now, value, self._vrms_mv)
        self.gw.bus.publish({kind: value})
        self._wake.set()

    def _claim(self, want, amps):
        key = (want, amps)
        if key == self._want:
            return
        cl = self.gw.claims
        try:
            if want is None:
                cl.release(C.CLIENT_DIVERT)
            elif want == "active":
                cl.replace(C.CLIENT_DIVERT, C.DIVERT, {"state": "active", "charge_current": amps})
            else:
                cl.replace(C.CLIENT_DIVERT, C.DIVERT, {"state": "disabled"})
        except Exception as e:
            # not remembered as made: the next step (within 1 s) tries again, so Eco never
            # leaves the charger at the normal current for want of its claim
            if self.claim_error is None:
                print("divert: claim failed, retrying:", repr(e))
            self.claim_error = repr(e)
            return
        self._want = key
        self.claim_error = None

    def step(self):
        m = self.gw.model
        now = self.now()
        min_a, max_a = m.limits()
        if (min_a, max_a) != (self.ctrl.min_a, self.ctrl.max_a):
            self.ctrl.configure(min_a=min_a, max_a=max_a)
        want, amps = self.ctrl.update(now, m.vehicle, m.charging, m.amp_ma, m.voltage_mv)
        if self.ctrl.pop_reverted():
            self.gw.bus.publish({"divertmode": MODE_NORMAL})
        self._claim(want, amps)

    async def run(self):
        while True:
            self._wake.clear()
            self.step()
            try:
                await wait_for_ms(self._wake.wait(), 1000)
            except asyncio.TimeoutError:
                pass

    def status(self):
        d = self.ctrl.status(self.now())
        d.pop("voltage_mv", None)
        d["solar"] = self.solar
        d["grid_ie"] = self.grid_ie
        if self.claim_error is not None:
            d["divert_error"] = self.claim_error
        return d
