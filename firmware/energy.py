# The gateway's energy meter, resident part: day / week / month / year / total energy and the
# relay switch count (the C++ gateway's energy_meter.cpp, /status total_*), fed by the
# controller's session energy ($GU W.s, read every 5 s while charging: the gateway adds its
# increases; the C++ gateway integrates V x A itself). The total starts from the controller's
# own counter ($GU Wh) the first time, as EnergyMeter::begin imports it. Loading, saving
# (temp file + rename), the calendar roll-over and resets are emeter.py, imported per job.
# Flash writes are bounded: while charging at most every SAVE_S, then once when the charge
# stops, at a roll-over and a reset; never while idle.
from compat import drop

SAVE_S = 300  # SAVE_INTERVAL: 5 min while charging
STEP_S = 30


def _cold(fn, *args):
    import emeter

    try:
        return getattr(emeter, fn)(*args)
    finally:
        drop("emeter")


class EnergyMeter:
    """gw.emeter. Wh as integers: total, day, week, month, year; switches; the date (local
    days since 1970) and week start they belong to."""

    def __init__(self, gw):
        self.gw = gw
        self.wh = [0, 0, 0, 0, 0]  # total, day, week, month, year
        self.switches = 0
        self.date = None  # (days, week start day, month, year) of the figures
        self.imported = False
        self.last_ctl = None  # the controller's total Wh last seen
        self.last_ws = None  # the session's W.s last seen
        self.frac = 0  # W.s not yet a whole Wh
        self.dirty = False
        self.saved_up = 0  # uptime of the last save
        self.writes = 0  # saves since boot (flash writes)
        self.bytes = 0
        self._charging = False
        self.due = 0  # uptime s of the next step (the clock's task calls tick)
        _cold("load", self)
        if gw.model is not None:
            gw.model.meter = self
        gw.bus.subscribe(self._on_bus)

    def _on_bus(self, ch):
        if "watthour" in ch:
            self.add_ctl(ch["watthour"])
        if "wattsec" in ch:
            self.add_session(ch["wattsec"])
        if "state" in ch:
            c = ch["state"] == 3
            if c and not self._charging:
                self.switches += 1
                self.dirty = True
                if self.last_ws is None:
                    self.last_ws = 0  # a session that starts now: counted from its start
            if self._charging and not c:
                self.due = 0  # the charge stopped: save now
                t = getattr(self.gw, "time", None)
                if t is not None:
                    t.wake.set()
            self._charging = c

    def add_ctl(self, total_wh):
        """The controller's total Wh: taken as the start of the total on the first run."""
        first = self.last_ctl is None
        self.last_ctl = total_wh
        if first and not self.imported and self.wh[0] == 0:
            _cold("import_total", self, total_wh)

    def add_session(self, ws):
        """The session's W.s: its increase is added (a smaller value is a new session)."""
        last = self.last_ws
        self.last_ws = ws
        if last is None:
            return  # the session so far was counted before a reboot (saved with the rest)
        d = ws - last if ws >= last else ws
        if d <= 0 or d > 360000000:  # more than 100 kWh in 5 s: not a reading to trust
            return
        self.frac += d
        d = self.frac // 3600
        self.frac %= 3600
        if not d:
            return
        w = self.wh
        for i in range(5):
            w[i] += d
        self.dirty = True
        self.gw.bus.publish(self.status())  # each $GU reading while charging (~5 s)

    def status(self):
        w = self.wh
        return {"total_energy": w[0] / 1000, "total_day": w[1] / 1000,
                "total_week": w[2] / 1000, "total_month": w[3] / 1000,
                "total_year": w[4] / 1000, "total_switches": self.switches}

    def reset(self, hard, imp):
        _cold("reset", self, hard, imp)

    def tick(self, up):
        """Called by the clock's task with the uptime; seconds until it is due again."""
        if up >= self.due:
            try:
                _cold("step", self)
            except Exception as e:
                print("emeter:", repr(e))
            self.due = up + STEP_S
        return self.due - up
