# Session limits (/limit, <base>/limit/set): stop charging once the session reaches a time,
# energy, state-of-charge or range. The check is pure; the service turns it into a claim.
import claims as C
from compat import sleep_ms


def reached(limit, elapsed_s, session_wh, soc=None, range_=None):
    """True when the session has reached the limit {type, value}. time is in minutes,
    energy in Wh, soc in %, range in the vehicle's unit; unknown vehicle data never stops."""
    if not limit:
        return False
    t, v = limit["type"], limit["value"]
    if t == "time":
        return elapsed_s >= v * 60
    if t == "energy":
        return session_wh >= v
    if t == "soc":
        return soc is not None and soc >= v
    if t == "range":
        return range_ is not None and range_ >= v
    return False


class LimitService:
    def __init__(self, gw):
        self.gw = gw
        gw.manager.on_unplug.append(self._session_end)

    def _session_end(self):
        lim = self.gw.limit_get()
        if lim and lim.get("auto_release", True):
            self.gw.limit_clear()
        self.gw.claims.release(C.CLIENT_LIMIT)

    def step(self):
        gw = self.gw
        m = gw.model
        lim = gw.limit_get()
        inputs = gw._inputs
        if m.vehicle and reached(lim, m.elapsed, m.session_ws // 3600,
                                 inputs.get("battery_level"), inputs.get("battery_range")):
            gw.claims.replace(C.CLIENT_LIMIT, C.LIMIT, {"state": "disabled", "auto_release": True})
        elif not lim:
            gw.claims.release(C.CLIENT_LIMIT)

    async def run(self):
        while True:
            self.step()
            await sleep_ms(1000)
