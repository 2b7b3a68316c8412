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
        self._shown = None  # the divert keys last published (the page shows them live)
        self._restored = False
        cfg.on_change.append(self._config_changed)
        if cfg.get("divert_enabled") and cfg.get("charge_mode") == "eco":
            self.ctrl.set_mode(MODE_ECO)
        elif self._session_mode() == MODE_ECO:
            # Eco chosen for the session that was running when the gateway restarted: kept
            # until the car is unplugged (the seed's rule), so a reboot never turns a solar
            # charge into a full-power grid charge
            self.ctrl.set_mode(MODE_ECO)
            self._restored = True

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

    def _session_path(self):
        b = self.gw.board
        d = getattr(b, "data_dir", None) if b is not None else None
        return d + "/session.json" if d else None

    def _session_mode(self):
        p = self._session_path()
        if p is None:
            return None
        try:
            with open(p) as f:
                return int(f.read().strip() or 0)
        except (OSError, ValueError):
            return None

    def _save_session(self, mode):
        """The session's mode, on flash: written only when it changes (a tap or an unplug)."""
        p = self._session_path()
        if p is None:
            return
        import os

        try:
            if mode == MODE_ECO:
                with open(p + ".tmp", "w") as f:
                    f.write("2")
                os.rename(p + ".tmp", p)
            else:
                os.remove(p)
        except OSError:
            pass

    def set_mode(self, mode):
        if mode != self.ctrl.mode:
            self._save_session(mode)
        self._restored = False
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
        self.gw.bus.publish({kind: value, "divert_update": 0})
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
        if self._restored and m.evse_connected and m.shown:
            # the first reading after a restart: a car unplugged meanwhile ends the session
            self._restored = False
            if not m.vehicle:
                self.set_mode(MODE_NORMAL)
                self.gw.bus.publish({"divertmode": MODE_NORMAL})
        want, amps = self.ctrl.update(now, m.vehicle, m.charging, m.amp_ma, m.voltage_mv)
        if self.ctrl.pop_reverted():
            self._save_session(MODE_NORMAL)
            self.gw.bus.publish({"divertmode": MODE_NORMAL})
        self._claim(want, amps)
        self._publish(now)

    def _publish(self, now):
        # what the page shows of divert, pushed when it changes (divert_update only with a
        # feed sample: clients count it up themselves)
        c = self.ctrl
        st = c.state
        key = (c.pilot_a if st == 1 else 0, c.mode == MODE_ECO and st == 1, st,
               c.mode == MODE_ECO and c.is_stale(now))
        if key != self._shown:
            self._shown = key
            self.gw.bus.publish({"charge_rate": key[0], "divert_active": key[1],
                                 "divert_state": ("waiting", "active", "stopped")[st],
                                 "divert_stale": key[3]})

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
