"""Electric-vehicle model seen through the J1772 pilot and the mains current.

Pure: no I/O, time is passed in as ``now_ms``.

The EV:
- is plugged in or not (``connected``);
- answers the pilot: with no PWM it shows state B (9 V); once PWM has been
  present for ``request_delay_ms`` and it is not ``full`` it closes S2 and
  shows state C (6 V), i.e. it asks for charge;
- once the EVSE relay is closed it waits ``start_delay_ms`` and then ramps its
  current at ``ramp_ma_per_s`` towards ``pilot * draw_ratio`` (capped by its
  on-board charger ``max_ma``); it sees pilot changes ``lag_ms`` late and
  reduces its current at ``ramp_down_ma_per_s``;
- draws nothing while the relay is open;
- optionally becomes ``full`` after ``battery_wh`` (then it shows B only).
"""

PILOT_A = 1
PILOT_B = 2
PILOT_C = 3


class EV:
    def __init__(self, connected=False, full=False, draw_ratio=0.97,
                 start_delay_ms=2000, ramp_ma_per_s=1000,
                 ramp_down_ma_per_s=10000, lag_ms=1000, request_delay_ms=500,
                 max_ma=32000, battery_wh=None, nominal_mv=240000):
        self.connected = connected
        self.full = full
        self.draw_ratio = draw_ratio
        self.start_delay_ms = start_delay_ms
        self.ramp_ma_per_s = ramp_ma_per_s
        self.ramp_down_ma_per_s = ramp_down_ma_per_s
        self.lag_ms = lag_ms
        self.request_delay_ms = request_delay_ms
        self.max_ma = max_ma
        self.battery_wh = battery_wh
        self.nominal_mv = nominal_mv
        self.current_ma = 0
        self.received_wh = 0.0
        self._last_ms = None
        self._pwm_since = None        # when PWM was first seen
        self._requesting = False
        self._relay_since = None      # when the relay was seen closed
        self._pilot_seen = 0          # pilot amps the EV acts upon (lagged)
        self._pilot_pending = None    # (amps, since_ms)

    # -- user actions -------------------------------------------------------
    def plug(self):
        self.connected = True

    def unplug(self):
        self.connected = False
        self.current_ma = 0
        self._requesting = False
        self._pwm_since = None
        self._relay_since = None
        self._pilot_pending = None

    def set_full(self, full=True):
        self.full = bool(full)

    # -- what the EVSE measures ----------------------------------------------
    def pilot_reading(self):
        """Pilot state the EVSE reads: 1 (A), 2 (B) or 3 (C)."""
        if not self.connected:
            return PILOT_A
        return PILOT_C if self._requesting else PILOT_B

    # -- physics ------------------------------------------------------------
    def update(self, now_ms, pwm_amps, relay_closed):
        """Advance to now_ms. pwm_amps = advertised amps (0 = no PWM)."""
        dt = 0 if self._last_ms is None else max(0, now_ms - self._last_ms)
        self._last_ms = now_ms
        if not self.connected:
            self.current_ma = 0
            self._requesting = False
            self._pwm_since = None
            self._relay_since = None
            return
        if self.battery_wh is not None and self.received_wh >= self.battery_wh:
            self.full = True

        # S2: request charge while PWM is present and we are not full
        if pwm_amps > 0:
            if self._pwm_since is None:
                self._pwm_since = now_ms
            self._requesting = (not self.full and
                                now_ms - self._pwm_since >= self.request_delay_ms)
        else:
            self._pwm_since = None
            self._requesting = False

        # pilot seen with a lag
        if self._pilot_pending is None or self._pilot_pending[0] != pwm_amps:
            if pwm_amps != self._pilot_seen:
                self._pilot_pending = (pwm_amps, now_ms)
            else:
                self._pilot_pending = None
        if self._pilot_pending is not None:
            amps, since = self._pilot_pending
            if now_ms - since >= self.lag_ms or self._relay_since is None:
                self._pilot_seen = amps
                self._pilot_pending = None
        if pwm_amps == 0:
            self._pilot_seen = 0   # PWM off is obeyed at once

        if not relay_closed:
            self.current_ma = 0
            self._relay_since = None
            return
        if self._relay_since is None:
            self._relay_since = now_ms
        target = 0
        if self._requesting and now_ms - self._relay_since >= self.start_delay_ms:
            target = min(int(self._pilot_seen * 1000 * self.draw_ratio), self.max_ma)
        if self.current_ma < target:
            self.current_ma = min(target, self.current_ma + self.ramp_ma_per_s * dt // 1000)
        elif self.current_ma > target:
            self.current_ma = max(target, self.current_ma - self.ramp_down_ma_per_s * dt // 1000)
        self.received_wh += self.current_ma * self.nominal_mv * dt / 3.6e12

    def snapshot(self):
        return {
            "connected": self.connected,
            "full": self.full,
            "requesting": self._requesting,
            "draw_ratio": self.draw_ratio,
            "current_ma": self.current_ma,
            "pilot_seen_a": self._pilot_seen,
            "received_wh": round(self.received_wh, 3),
        }
