# Seed rules of Solar PV divert (Eco mode). Plain functions with assert: run by CPython pytest and by a
# MicroPython runner (no pytest import, no fixtures, no f-string "=", integer maths only).
from divert.controller import DivertController, MODE_NORMAL, MODE_ECO

V = 240000  # mV


def grid_w_for(surplus_a, ev_ma=0):
    # grid reading (import +) that leaves surplus_a amps available with ev_ma flowing into the EV
    return (ev_ma - surplus_a * 1000) * 240 // 1000


class Rig:
    """Drives a controller like the service does: update() every second, a feed sample every 10 s.
    The EV follows the pilot at once (the benchmark has the realistic EV)."""

    def __init__(self, **kw):
        kw.setdefault("max_a", 32)
        self.c = DivertController(**kw)
        self.c.set_mode(MODE_ECO)
        self.t = 0
        self.want = None
        self.amps = 0
        self.ev_ma = 0
        self.connected = True
        self.feed_on = True
        self.log = []  # (t_s, want, amps)

    def run(self, seconds, surplus_a):
        for _ in range(seconds):
            self.t += 1000
            charging = self.want == "active"
            self.ev_ma = self.amps * 1000 if charging else 0
            if self.feed_on and self.t % 10000 == 0:
                self.c.feed(self.t, grid_w_for(surplus_a, self.ev_ma))
            w, a = self.c.update(self.t, self.connected, charging, self.ev_ma, V)
            if (w, a) != (self.want, self.amps):
                self.log.append((self.t // 1000, w, a))
            self.want, self.amps = w, a
        return self.want, self.amps


def test_sleeps_without_surplus():
    r = Rig()
    assert r.run(600, 2) == ("disabled", 0)


def test_starts_at_6a_not_below():
    r = Rig()
    assert r.run(1800, 5)[0] == "disabled"
    r = Rig()
    w, a = r.run(600, 6)
    assert w == "active"
    assert a == 6


def test_start_needs_sustained_surplus():
    r = Rig()
    r.run(600, 0)
    r.run(30, 10)  # a 30 s sunny gap
    assert r.run(60, 0)[0] == "disabled"


def test_no_start_on_short_burst_in_cloudy_morning():
    # 30 min of 1 A, then 2 min of 10 A sun: the seed's 6 A is reached, but the long average says a
    # 6 A session would not pay; a sustained 10 A starts it a few minutes later.
    r = Rig()
    r.run(1800, 1)
    r.run(120, 10)
    assert r.run(300, 1)[0] == "disabled"
    assert r.run(900, 10)[0] == "active"
    assert r.c.starts == 1


def test_moves_down_fast_when_importing():
    r = Rig()
    r.run(900, 12)
    assert r.amps == 12
    r.run(120, 0)  # a cloud: importing, the pilot must reach 6 A within 2 min
    assert (r.want, r.amps) == ("active", 6)


def test_follows_surplus_in_1a_steps_within_limits():
    r = Rig(max_a=16)
    r.run(600, 6)
    assert r.run(600, 9) == ("active", 9)
    assert r.run(600, 12) == ("active", 12)
    assert r.run(600, 40) == ("active", 16)  # capped at max
    assert r.run(600, 7) == ("active", 7)
    for t, w, a in r.log:
        if w == "active":
            assert 6 <= a <= 16


def test_no_pause_on_dip():
    r = Rig()
    r.run(600, 10)
    w, a = r.run(600, 1)  # a 10 min cloud: stays on at 6 A
    assert w == "active"
    assert a == 6
    assert r.run(600, 4) == ("active", 6)
    assert r.run(600, 10)[0] == "active"
    assert r.c.starts == 1


def test_stops_when_clearly_over():
    r = Rig()
    r.run(600, 10)
    w, a = r.run(3600, 0)  # evening: an hour without surplus
    assert w == "disabled"
    # and a short evening glint does not restart it
    r.run(150, 7)
    assert r.run(60, 0)[0] == "disabled"
    assert r.c.starts == 1


def test_stale_feed_falls_back_to_6a_then_pauses_then_resumes():
    r = Rig()
    r.run(600, 12)
    assert r.want == "active" and r.amps > 6
    r.feed_on = False
    r.run(r.c.stale_ms // 1000 + 1, 12)
    assert r.c.status(r.t)["divert_stale"]
    assert (r.want, r.amps) == ("active", 6)
    r.run(r.c.stale_pause_ms // 1000, 12)
    assert r.want == "disabled"
    assert r.c.status(r.t)["divert_stale"]
    r.feed_on = True
    r.run(11, 12)
    assert r.want == "active"
    assert not r.c.status(r.t)["divert_stale"]
    assert r.run(600, 12) == ("active", 12)


def test_stale_fallback_within_120s():
    r = Rig()
    r.run(600, 15)
    r.feed_on = False
    r.run(120, 15)
    assert r.amps == 6 or r.want == "disabled"


def test_mode_normal_makes_no_claim():
    c = DivertController()
    assert c.mode == MODE_NORMAL
    for t in range(0, 600000, 1000):
        if t % 10000 == 0:
            c.feed(t, -5000)
        assert c.update(t, True, False, 0, V) == (None, 0)
    assert c.status(600000)["divert_active"] is False


def test_unplug_reverts_to_normal():
    r = Rig()
    r.run(600, 10)
    assert r.want == "active"
    r.connected = False
    assert r.run(2, 10) == (None, 0)
    assert r.c.mode == MODE_NORMAL
    assert r.c.pop_reverted() is True
    assert r.c.pop_reverted() is False


def test_entering_eco_while_charging_adopts_the_session():
    c = DivertController()
    c.feed(0, 0)
    c.set_mode(MODE_ECO)
    w, a = c.update(1000, True, True, 16000, V)
    assert w == "active"
    assert a == 16


def test_solar_feed_and_status_fields():
    c = DivertController(feed="solar", max_a=32)
    c.set_mode(MODE_ECO)
    w = None
    for s in range(1, 400):
        t = s * 1000
        if s % 10 == 0:
            c.feed(t, 2400)  # 10 A of PV
        w, a = c.update(t, True, w == "active", 0, V)
    assert w == "active"
    st = c.status(t)
    for k in ("charge_rate", "divert_active", "divert_update", "available_current",
              "smoothed_available_current", "divert_stale"):
        assert k in st
    assert st["available_current"] == 10
    assert st["divert_active"] is True


def test_configure_max_clamps_pilot():
    r = Rig()
    r.run(900, 20)
    assert r.amps == 20
    r.c.configure(max_a=10)
    assert r.run(1, 20) == ("active", 10)


def test_feed_voltage_is_used():
    c = DivertController(feed="solar")
    c.feed(0, 2300, 230000)
    assert c.status(0)["available_current"] == 10


def test_small_wobble_does_not_move_the_pilot():
    # the surplus wobbles 0.3 A around the rounding point: inside the hysteresis band, no change
    r = Rig()
    r.run(900, 9)
    n = len(r.log)
    for _ in range(20):
        r.run(60, 9)
    assert r.amps == 9
    assert len(r.log) == n


def _restart_after(session_s, sunny_s, **kw):
    # a session of session_s at 10 A, a deficit stop (an oven, 30 min without surplus), then sunny_s of
    # 7 A: (want, starts) at the end
    r = Rig(**kw)
    r.run(session_s, 10)
    r.run(1800, 0)
    assert r.c.status(r.t)["divert_state"] == "stopped"
    r.run(sunny_s, 7)
    return r.want, r.c.starts


def test_restart_waits_for_the_long_average_at_restart_long_ma():
    # a weak winter afternoon: after a 10-min session and a deficit stop the surplus comes back at 7 A. The
    # default restart waits for the 15-min average at 6 A (~26 min): no restart after 20 min. The tried
    # and rejected 5 A level (the hold level, ~16 min) restarts within those 20 min; it stays a tunable.
    assert _restart_after(600, 1200) == ("disabled", 1)
    assert _restart_after(600, 1200, restart_long_ma=5000) == ("active", 2)
    assert _restart_after(600, 1800) == ("active", 2)  # the 6 A rule does restart once the average gets there


def test_a_long_session_stopped_by_a_dip_restarts_after_ten_sunny_minutes():
    # the same dip and the same 7 A afterwards, but the session before it ran 40 min: the day had a
    # sunny spell, so 10 min of sustained 6 A restart it (sunny_restart_ms), without waiting for the
    # 15-min average. Ten minutes are needed (a 9-min spell is not enough), and a session shorter than
    # sunny_run_ms keeps the slow rule (test above).
    assert _restart_after(2400, 720) == ("active", 2)
    assert _restart_after(2400, 540) == ("disabled", 1)
    assert _restart_after(2400, 720, sunny_run_ms=3600000) == ("disabled", 1)


def test_band_widens_with_the_feeds_own_variability():
    # a feed that jumps 2 A between every pair of samples: its variability, not a trend;
    # without the variability term the pilot chases it, with it the pilot stays put
    def changes(**kw):
        r = Rig(**kw)
        r.run(900, 10)
        n = len(r.log)
        for k in range(90):  # 15 min of 9 <-> 11 A, one value per feed sample
            r.run(10, 11 if k % 2 else 9)
        return len(r.log) - n

    n0 = changes(var_pm=0)
    n1 = changes()
    assert n0 >= 6
    assert n1 * 2 < n0


def test_no_reversal_within_min_change_time():
    # a fast-changing surplus: two pilot changes in opposite directions are >= min_change_ms apart
    r = Rig()
    r.run(900, 12)
    for k in range(30):
        r.run(30, 6 if k % 2 else 14)
    last_t, last_a, last_d = None, None, 0
    for t, w, a in r.log:
        if w != "active":
            continue
        if last_a is not None and a != last_a:
            d = 1 if a > last_a else -1
            if last_d and d != last_d:
                assert t - last_t >= 60
            last_d = d
            last_t = t
        last_a = a


def test_change_budget_widens_the_band():
    # a long wobbly spell: once the budget is spent, the wider band skips most of the wobble
    r = Rig()
    r.run(900, 10)
    n0 = len(r.log)
    for k in range(60):  # 2 h of a 10 <-> 12 A wobble, 2 min each
        r.run(120, 12 if k % 2 else 10)
    changes = len(r.log) - n0
    # 60 edges; the budget is soft (it widens the band, a 2 A step still gets through now and then)
    assert changes <= 30


def _golden_run():
    # deterministic pseudo-random day (LCG): the decision sequence must be identical on CPython and
    # MicroPython (integer maths only); the checksum below was computed under CPython.
    c = DivertController(max_a=24)
    c.set_mode(MODE_ECO)
    x = 12345
    want, amps = None, 0
    ev = 0
    h = 0
    sur = 0
    for s in range(1, 20000):
        t = s * 1000
        if s % 10 == 0:
            x = (x * 1103515245 + 12345) % 2147483648
            sur = (x >> 8) % 16000 - 2000 if (s // 900) % 3 else (x >> 8) % 5000
            c.feed(t, (ev - sur) * 240 // 1000)
        want, amps = c.update(t, True, want == "active", ev, 240000)
        ev = amps * 1000
        h = (h * 31 + amps + (7 if want == "active" else 3)) % 1000000007
    return h


def test_golden_trace_identical_everywhere():
    assert _golden_run() == GOLDEN


GOLDEN = 14016715


def test_night_starts_the_new_day_fresh():
    # an evening stop is followed by a night; the next morning is a fresh start (the normal start test),
    # not a restart (which needs the 15-min average at 6 A and 5 minutes)
    r = Rig()
    r.run(3600, 10)
    r.run(5 * 3600, 0)  # evening stop, then a night (no surplus for hours)
    assert r.want == "disabled"
    assert r.c.status(r.t)["divert_state"] == "waiting"
    r.run(300, 7)  # a fresh start on a dull morning takes 4 min (start_weak_ms); a restart ~30 min
    assert r.want == "active"
    assert r.c.starts == 2


def test_solar_feed_at_zero_is_night():
    c = DivertController(feed="solar", max_a=32)
    c.set_mode(MODE_ECO)
    w = None
    t = 0
    for s in range(1, 1201):  # 20 min of 10 A of PV
        t = s * 1000
        if s % 10 == 0:
            c.feed(t, 2400)
        w, a = c.update(t, True, w == "active", 0, V)
    assert w == "active"
    states = []
    for s in range(1201, 1201 + 1500):  # 25 min of 0 W: the deficit stops it, 0 W for 15 min is night
        t = s * 1000
        if s % 10 == 0:
            c.feed(t, 0)
        w, a = c.update(t, True, w == "active", 0, V)
        states.append(c.status(t)["divert_state"])
    assert "stopped" in states
    assert states[-1] == "waiting"


def _learned_rig():
    # the day after boot is not learned (no dawn seen); day 2 teaches the envelope: 10 A for 8 h after
    # dawn, then nothing. Returns the rig at the dawn of day 3.
    r = Rig()
    for _ in range(2):
        r.run(8 * 3600, 10)
        r.run(10 * 3600, 0)
    return r


def test_learned_evening_stops_quickly():
    # nothing learned: a deficit may be a cloud, the session holds for ~12 min
    r = Rig()
    r.run(8 * 3600, 10)
    r.run(300, 0)
    assert r.want == "active"
    # day 3: the surplus ends 5 min before the time of day it ended on day 2; from that time on a
    # deficit is the evening: the session stops at once, 5 min into the deficit instead of 12
    r = _learned_rig()
    r.run(8 * 3600 - 300, 10)
    r.run(420, 0)
    assert r.want == "disabled"


def test_cloud_before_the_learned_evening_holds():
    # the same deficit four hours before the learned evening is a cloud: the session holds at 6 A
    # (longer than without an envelope: the sun is still to come) and goes on without a restart
    r = _learned_rig()
    r.run(4 * 3600, 10)
    n = r.c.starts
    r.run(20 * 60, 0)
    assert (r.want, r.amps) == ("active", 6)
    r.run(600, 10)
    assert r.want == "active"
    assert r.c.starts == n


def _golden_days():
    # four pseudo-random days with nights, 10 s steps: covers the night reset and the learned envelope
    # (evening and hold rules); the checksum below was computed under CPython
    c = DivertController(max_a=24)
    c.set_mode(MODE_ECO)
    x = 777
    want, amps = None, 0
    h = 0
    for s in range(1, 4 * 8640):
        t = s * 10000
        tod = s % 8640  # 10-s steps of the day
        if 2500 <= tod < 6500:
            x = (x * 1103515245 + 12345) % 2147483648
            peak = 14000 - abs(tod - 4500) * 7
            sur = peak if (x >> 12) % 5 else (x >> 8) % 3000
        else:
            sur = 0
        ev = amps * 1000 if want == "active" else 0
        c.feed(t, (ev - sur) * 240 // 1000)
        want, amps = c.update(t, True, want == "active", ev, 240000)
        h = (h * 31 + amps + (7 if want == "active" else 3) + c.state) % 1000000007
    return h


def test_golden_days_identical_everywhere():
    assert _golden_days() == GOLDEN_DAYS


GOLDEN_DAYS = 984080062
