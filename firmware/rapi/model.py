# The EVSE model: what the gateway knows about the controller, in integer units
# (mA, mV, Wh, 0.1 C). Reply parsers are pure functions so both interpreters test them.
# Changes are collected and published on the bus as /status keys.

VF_CHARGING_ON = 0x0040
VF_EV_CONNECTED = 0x0100
VF_TIMER_ON = 0x1000  # the controller's own delay timer is set (8.1.0+; older ones lack the flag)
VF_BOOT_LOCK = 0x4000
ECF_BUTTON_DISABLED = 0x8000  # $GE settings: front button presses go out as $AN
TEMP_NONE = -2560


def is_fault(state):
    # 4..14 (rapi.md 4.1) and the D9 faults 0x0f-0x11 (PP shorted, PP missing, EEPROM)
    return 4 <= state <= 17


def actionable(state):
    """A state the gateway may command from: A/B/C, sleeping, disabled. Start-up (0), faults
    and codes rapi.md does not list are left alone and count as not charging."""
    return 1 <= state <= 3 or state >= 254


def _int(s, base=10):
    try:
        return int(s, base)
    except (ValueError, TypeError):
        return None


def parse_gs(fields):
    """$GS -> (state, elapsed_s, pilot_state, vflags) or None."""
    if len(fields) < 4:
        return None
    v = (_int(fields[0], 16), _int(fields[1]), _int(fields[2], 16), _int(fields[3], 16))
    return None if None in v else v


def parse_at(fields):
    """$AT -> (state, pilot_state, pilot_amps, vflags) or None."""
    if len(fields) < 4:
        return None
    v = (_int(fields[0], 16), _int(fields[1], 16), _int(fields[2]), _int(fields[3], 16))
    return None if None in v else v


def parse_ints(fields, n, base=10):
    if len(fields) < n:
        return None
    v = tuple(_int(f, base) for f in fields[:n])
    return None if None in v else v


def parse_version(s):
    """'8.2.3.EU' -> (8, 2, 3); None if unparsable."""
    parts = s.split(".")
    if len(parts) < 3:
        return None
    v = tuple(_int(p) for p in parts[:3])
    return None if None in v else v


class EvseModel:
    """Holds the controller's state. set() records changes; commit() publishes them."""

    def __init__(self, bus):
        self.bus = bus
        self.state = 0  # as last read; the transient 0 after an enable is not shown
        self.shown = 0  # the state /status reports
        self.pilot_state = 0
        self.vflags = 0
        self.pilot = 0  # A, advertised capacity
        self.min_a = 6
        self.hw_max_a = 32
        self.max_a = 32  # controller's configured (EEPROM) max
        self.amp_ma = 0
        self.voltage_mv = 240000
        self.temps = [TEMP_NONE, TEMP_NONE, TEMP_NONE]
        self.temp_max = TEMP_NONE
        self.session_ws = 0
        self.total_wh = 0
        self.elapsed = 0
        self.flags = 0  # ECF settings word from $GE
        self.fw = ""
        self.protocol = ""
        self.serial = ""
        self.gfci = self.nognd = self.stuck = 0
        self.scale = 220  # ammeter scale and offset ($GA)
        self.offset = 0
        self.timer = ""  # delay timer window "HH:MM-HH:MM" in effect ("" none)
        self.set_retry = ""  # a set command being backed off: "$FE 3 8" (tries, wait s)
        self.rapi_connected = False
        self.evse_connected = False
        self.boots = 0
        self.meter = None  # energy.EnergyMeter, when running
        self._changes = {}

    # -- derived --------------------------------------------------------------
    @property
    def vehicle(self):
        return 1 if self.vflags & VF_EV_CONNECTED else 0

    @property
    def charging(self):
        return self.state == 3

    @property
    def temp(self):
        for t in self.temps:
            if t != TEMP_NONE:
                return t
        return None

    @property
    def power_w(self):
        return self.amp_ma * self.voltage_mv // 1000000

    @property
    def service_level(self):
        return 2 if self.flags & 0x0001 else 1

    def limits(self):
        """(min A, max A) that any commanded current must respect."""
        return self.min_a, min(self.max_a, self.hw_max_a)

    # -- updates --------------------------------------------------------------
    def set(self, attr, value):
        if attr == "state":
            # state 0 (starting) is what the controller passes through for ~70 ms after an
            # enable; clients read it as "unknown" / "invalid status", so the last real
            # state is shown until the next one arrives
            self.state = value
            if value and value != self.shown:
                self.shown = value
                self._changes["state"] = value
        elif getattr(self, attr) != value:
            setattr(self, attr, value)
            self._changes[attr] = value

    def commit(self):
        """Publish what changed since the last commit as /status keys."""
        ch = self._changes
        if not ch:
            return
        self._changes = {}
        self.bus.publish(self.status_delta(ch))

    def status_delta(self, ch):
        out = {}
        for k in ch:
            if k == "state":
                out["state"] = self.shown
            elif k == "vflags":
                out["flags"] = self.vflags
                out["vehicle"] = self.vehicle
            elif k == "pilot":
                out["pilot"] = self.pilot
            elif k == "amp_ma":
                out["amp"] = self.amp_ma
                out["power"] = self.power_w
            elif k == "voltage_mv":
                out["voltage"] = self.voltage_mv // 1000
                out["power"] = self.power_w
            elif k == "temps":
                t = self.temp
                out["temp"] = t if t is not None else False
                for i in range(3):
                    out["temp%d" % (i + 1)] = self.temps[i] if self.temps[i] != TEMP_NONE else False
            elif k == "temp_max":
                out["temp_max"] = self.temp_max if self.temp_max != TEMP_NONE else False
            elif k == "session_ws":
                out["session_energy"] = self.session_ws // 3600
                out["wattsec"] = self.session_ws
            elif k == "total_wh":
                if self.meter is None:  # else the gateway's meter reports it (energy.py)
                    out["total_energy"] = self.total_wh / 1000
                out["watthour"] = self.total_wh
            elif k == "elapsed":
                out["elapsed"] = self.elapsed
                out["session_elapsed"] = self.elapsed
            elif k == "rapi_connected":
                out["rapi_connected"] = 1 if self.rapi_connected else 0
            elif k == "evse_connected":
                out["evse_connected"] = 1 if self.evse_connected else 0
            elif k in ("gfci", "nognd", "stuck"):
                out["gfcicount"] = self.gfci
                out["nogndcount"] = self.nognd
                out["stuckcount"] = self.stuck
            elif k == "flags":
                out["service_level"] = self.service_level
            elif k == "timer":
                out["delay_timer"] = self.timer
            elif k == "set_retry":
                out["set_retry"] = self.set_retry
        return out

    def status(self):
        """All model-owned /status keys."""
        keys = ("state", "vflags", "pilot", "amp_ma", "voltage_mv", "temps", "temp_max",
                "session_ws", "total_wh", "elapsed", "rapi_connected", "evse_connected",
                "gfci", "flags", "timer", "set_retry")
        d = self.status_delta(keys)
        d["max_current"] = self.limits()[1]
        return d
