# The gateway's wall clock and its time service (SNTP, the controller's RTC, manual set).
#
# Hot and small: now() is the board's clock plus an offset (set from SNTP, POST /time or the
# controller's RTC), so setting it never touches the port's RTC and works the same on the PC,
# where the host's clock cannot be set. The local offset of the POSIX time zone is cached
# with the span it holds for; working it out again (tzrule.py) and the SNTP query and RAPI
# clock commands (timesync.py) are cold modules, imported for the job and dropped after.
# As the C++ gateway (time_man.cpp): SNTP every 8 h (10 s after a failure), the controller's
# RTC set with $S1 (UTC) after a set, and read with $GT at its boot as a fallback clock.
import asyncio

from compat import drop, unix_time, wait_for_ms

VALID_FROM = 1609459200  # 2021-01-01: earlier is an unset clock (the C++ event log's test)
SNTP_EVERY_S = 8 * 3600
SNTP_RETRY_S = 10  # after a failure (time_man.cpp), doubling up to SNTP_RETRY_MAX_S: a name
SNTP_RETRY_MAX_S = 900  # that does not resolve blocks the chip's loop for lwIP's DNS timeout
_off = 0
_span = None  # (from, until, offset s) of the zone rule in force
_rule = "UTC0"
source = ""  # what set the clock: "", "sntp", "manual", "evse"
set_at = 0  # unix time of the last set


def now():
    """Seconds since 1970 (UTC)."""
    return unix_time() + _off


def valid(t=None):
    return (now() if t is None else t) >= VALID_FROM


def set_time(t, src):
    """Set the clock to unix time t; src says who did (shown in GET /time)."""
    global _off, source, set_at
    _off = int(t) - unix_time()
    source = src
    set_at = int(t)


def start_unset():
    """Start at 2000-01-01 as the chip does at power-on (the PC board: its host clock is
    not the gateway's)."""
    global _off
    _off = 946684800 - unix_time()


def set_zone(tz):
    """The time zone setting: "Location|POSIX rule" or a bare rule."""
    global _rule, _span
    _rule = tz.split("|")[-1] or "UTC0"
    _span = None


def offset(t):
    """The local offset from UTC in seconds at unix time t."""
    global _span
    s = _span
    if s is None or not s[0] <= t < s[1]:
        import tzrule

        try:
            s = tzrule.span(_rule, t)
        finally:
            drop("tzrule")
        _span = s
    return s[2]


def civil(days):
    """Days since 1970-01-01 -> (year, month, day); integers only (H. Hinnant's algorithm),
    so the same on both ports whatever their epoch."""
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (y + 1 if m <= 2 else y), m, d


def days_from_civil(y, m, d):
    if m <= 2:
        y -= 1
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def fields(t):
    """unix time -> (year, month, day, hour, minute, second, weekday 0=Sunday)."""
    days, s = divmod(int(t), 86400)
    y, mo, d = civil(days)
    return y, mo, d, s // 3600, s // 60 % 60, s % 60, (days + 4) % 7


def iso(t, off=None):
    """"2026-11-30T08:30:00Z" (off None) or with the offset "+0100" (the real firmware's
    strftime %z form)."""
    f = fields(t + (off or 0))
    s = "%04d-%02d-%02dT%02d:%02d:%02d" % f[:6]
    return s + "Z" if off is None else s + zone(off)


def zone(off):
    a = -off if off < 0 else off
    return "%s%02d%02d" % ("-" if off < 0 else "+", a // 3600, a // 60 % 60)


def local(t=None):
    """(day of the week 0=Sunday, seconds since local midnight) now or at t."""
    if t is None:
        t = now()
    lt = t + offset(t)
    return (lt // 86400 + 4) % 7, lt % 86400


def status():
    """The /status and /time keys: time (UTC), local_time and offset."""
    t = now()
    off = offset(t)
    return {"time": iso(t), "local_time": iso(t, off), "offset": zone(off)}


class TimeService:
    """The task keeping the clock: SNTP when enabled, the controller's RTC read at its boot
    (forward only, as the C++ gateway) and set after a sync or manual set."""

    def __init__(self, gw):
        self.gw = gw
        self.wake = asyncio.Event()
        self.next_sntp = 0  # uptime s of the next query
        self.fails = 0
        self.sntp_ok = 0  # unix time of the last good answer
        self.sntp_error = ""
        self.push = False  # the controller's RTC wants the gateway's time ($S1)
        self._evse = False  # the controller's RTC was read since it (re)connected
        self._boots = -1
        self._evse_at = 0  # uptime s of the next try at the controller's RTC
        self.host_ip = None  # the SNTP server, resolved once per host name
        self._host = None
        if not getattr(gw.board, "clock_valid_at_boot", True):
            start_unset()
        set_zone(gw.config.get("time_zone"))
        gw.config.on_change.append(self._config_changed)

    def _config_changed(self, keys):
        if "time_zone" in keys:
            set_zone(self.gw.config.get("time_zone"))
            self.gw.bus.publish(status())
        if "sntp_enabled" in keys or "sntp_hostname" in keys:
            self.sync_now()

    def changed(self, src):
        """The clock was set (by src): tell the clients, put it in the controller."""
        self.push = src != "evse"
        self.gw.bus.publish(status())
        self.wake.set()
        cb = getattr(self.gw, "clock_set", None)
        if cb is not None:
            cb()

    def sync_now(self):
        self.next_sntp = 0
        self.fails = 0
        self.wake.set()

    def _online(self):
        # the chip needs its home network for SNTP; the PC's server is on loopback
        if not getattr(self.gw.board, "sntp_needs_sta", True):
            return True
        w = self.gw.wifi
        return w is not None and bool(getattr(w, "sta_ip", ""))

    async def step(self):
        gw = self.gw
        m = gw.model
        conn = m is not None and m.evse_connected
        if not conn or m.boots != self._boots:
            self._evse = False
        if conn and (not self._evse or self.push) and gw.uptime() >= self._evse_at:
            import timesync

            try:
                if not self._evse:
                    self._boots = m.boots
                    self._evse = await timesync.from_evse(self)
                if self.push and self._evse:
                    await timesync.to_evse(self)
            finally:
                drop("timesync")
            if not self._evse or self.push:
                # unanswered (a noisy link): again in 30 s, not competing with the heartbeat
                self._evse_at = gw.uptime() + 30
        if gw.config.get("sntp_enabled") and gw.uptime() >= self.next_sntp and self._online():
            import timesync

            try:
                ok = await timesync.sntp(self)
            finally:
                drop("timesync")
            self.fails = 0 if ok else self.fails + 1
            wait = SNTP_EVERY_S if ok else min(SNTP_RETRY_MAX_S, SNTP_RETRY_S << min(self.fails - 1, 7))
            self.next_sntp = gw.uptime() + wait

    def wait_s(self):
        if (not self._evse or self.push) and self.gw.uptime() >= self._evse_at:
            return 2  # the controller's RTC still to be read or set
        if not self.gw.config.get("sntp_enabled"):
            return 60
        return max(1, min(60, self.next_sntp - self.gw.uptime()))

    async def run(self):
        """The task: the clock's jobs, then the scheduler's and the energy meter's (one task
        for the three: each task and its wake-up event cost heap)."""
        gw = self.gw
        while True:
            self.wake.clear()
            await self.step()
            wait = self.wait_s()
            for name in ("scheduler", "emeter"):
                svc = getattr(gw, name, None)
                if svc is not None:
                    wait = min(wait, svc.tick(gw.uptime()))
            try:
                await wait_for_ms(self.wake.wait(), max(wait, 1) * 1000)
            except asyncio.TimeoutError:
                pass
