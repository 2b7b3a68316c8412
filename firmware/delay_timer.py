# The delay timer the gateway runs in place of the controller's own ($GD / $ST, taken over by
# rapi/boot.py), as the C++ gateway imports it into its scheduler: inside the daily window a
# claim at timer priority (100) lets the EV charge, outside it one at the default priority
# (10) pauses it, so the manual override, API clients and Eco divert still win. The clock is
# the controller's RTC ($GT), the one its own timer ran on (the gateway has no other local
# time). Started by startup.py once the setting delay_timer holds a window.
import asyncio

import claims as C
from compat import wait_for_ms

CLIENT = C.CLIENT_SCHEDULE
STEP_MS = 20000


def parse(window):
    """"HH:MM-HH:MM" -> (start, stop) in minutes of the day; None if not a window."""
    try:
        if len(window) != 11 or window[2] != ":" or window[5] != "-" or window[8] != ":":
            return None
        h1, m1, h2, m2 = int(window[0:2]), int(window[3:5]), int(window[6:8]), int(window[9:11])
    except (ValueError, TypeError):
        return None
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59 or (h1, m1) == (h2, m2):
        return None
    return h1 * 60 + m1, h2 * 60 + m2


def inside(win, now):
    """Is minute-of-day `now` inside the window (start, stop)? The same rule as the
    controller's DelayTimer::IsInAwakeTimeInterval: a stop before the start ends the next day."""
    start, stop = win
    if stop < start:
        return now >= start or now < stop
    return start <= now < stop


async def minute_of_day(rapi):
    """The controller's RTC ($GT) as minutes of the day; None without a clock (an unset
    or missing RTC reads 165 / 85)."""
    try:
        ln = await rapi.command("$GT")
    except Exception:
        return None
    if not ln.ok or len(ln.fields) < 6:
        return None
    try:
        h, mi = int(ln.fields[3]), int(ln.fields[4])
    except ValueError:
        return None
    if h > 23 or mi > 59:
        return None
    return h * 60 + mi


def claim(claims, ins):
    if ins:
        claims.replace(CLIENT, C.TIMER, {"state": "active"})
    else:
        claims.replace(CLIENT, C.DEFAULT, {"state": "disabled"})


class DelayTimerService:
    def __init__(self, gw):
        self.gw = gw
        self._wake = asyncio.Event()
        gw.config.on_change.append(self._config_changed)

    def _config_changed(self, keys):
        if "delay_timer" in keys or "delay_timer_owner" in keys:
            self._wake.set()

    async def step(self):
        gw = self.gw
        m = gw.model
        win = parse(gw.config.get("delay_timer"))
        sched = getattr(gw, "scheduler", None)
        if sched is not None and sched.events:
            # the weekly schedule holds the same claim (client 65540, as in the C++ gateway,
            # where the imported timer becomes two schedule events): its events win
            m.set("timer", "")
            m.commit()
            return
        if win is None or gw.manager.ctl_timer:
            gw.claims.release(CLIENT)
            if not gw.manager.ctl_timer:
                m.set("timer", "")
                m.commit()
            return
        m.set("timer", gw.config.get("delay_timer"))
        m.commit()
        if not m.evse_connected:
            return  # the claim stands until the clock can be read again
        now = await minute_of_day(gw.rapi)
        if now is None:
            gw.claims.release(CLIENT)  # no clock: charging is not held back
            return
        claim(gw.claims, inside(win, now))

    async def run(self):
        while True:
            self._wake.clear()
            await self.step()
            try:
                await wait_for_ms(self._wake.wait(), STEP_MS)
            except asyncio.TimeoutError:
                pass
