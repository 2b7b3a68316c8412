# The clock (civil dates, ISO forms), POSIX time zones and the scheduler's rules. Pure logic
# (the clock's offset is set directly): run under CPython and both MicroPython builds.
import claims as C
import clock
import schedule
import tzrule
from events import Bus

# 2026-07-01T10:00:00Z, a Wednesday
T = 1782900000


def test_civil_round_trip_and_weekday():
    for days in (-1, 0, 59, 10957, 11016, 20000, 47482):
        y, m, d = clock.civil(days)
        assert clock.days_from_civil(y, m, d) == days
    assert clock.iso(0) == "1970-01-01T00:00:00Z"
    assert clock.iso(951782400) == "2000-02-29T00:00:00Z"
    assert clock.iso(T) == "2026-07-01T10:00:00Z"
    assert clock.fields(T)[6] == 3  # Wednesday (0 = Sunday)


def test_iso_with_offset_is_the_real_firmwares_form():
    assert clock.iso(T, 0) == "2026-07-01T10:00:00+0000"
    assert clock.iso(T, 7200) == "2026-07-01T12:00:00+0200"
    assert clock.iso(T, -16200) == "2026-07-01T05:30:00-0430"
    assert clock.zone(19800) == "+0530"


def test_london_rule_changes_on_the_last_sundays():
    tz = "GMT0BST,M3.5.0/1,M10.5.0"
    # 2026: BST from 29 March 01:00 UTC to 25 October 01:00 UTC
    start = clock.days_from_civil(2026, 3, 29) * 86400 + 3600
    end = clock.days_from_civil(2026, 10, 25) * 86400 + 3600
    assert tzrule.span(tz, start - 1)[2] == 0
    assert tzrule.span(tz, start) == (start, end, 3600)
    assert tzrule.span(tz, end)[2] == 0
    assert tzrule.span("Europe/London|" + tz, T)[2] == 3600


def test_other_rules():
    ny = "EST5EDT,M3.2.0,M11.1.0"
    # 2026-03-08 02:00 EST = 07:00 UTC
    t = clock.days_from_civil(2026, 3, 8) * 86400 + 7 * 3600
    assert tzrule.span(ny, t - 1)[2] == -18000 and tzrule.span(ny, t)[2] == -14400
    syd = "AEST-10AEDT,M10.1.0,M4.1.0/3"  # southern hemisphere: DST over the new year
    assert tzrule.span(syd, clock.days_from_civil(2026, 1, 15) * 86400)[2] == 39600
    assert tzrule.span(syd, T)[2] == 36000
    assert tzrule.span("<+0530>-5:30", T)[2] == 19800
    assert tzrule.span("UTC0", T) == (0, tzrule.FAR, 0)


def test_bad_rules_are_refused_and_read_as_utc():
    for bad in ("", "X1", "GMT0BST,M13.1.0,M10.5.0", "GMT0BST,M3.5.0", "EST5EDT,J0,M11.1.0",
                "CET-1CEST,M3.5.0,M10.5.0/x"):
        try:
            tzrule.parse(bad)
        except (ValueError, IndexError):
            pass
        else:
            raise AssertionError("accepted " + bad)
        assert tzrule.span(bad, T) == (0, tzrule.FAR, 0)


class _Cfg:
    def __init__(self, window=0):
        self.v = {"scheduler_start_window": window}

    def get(self, k):
        return self.v[k]


class _Model:
    hw_max_a = 40


class _Gw:
    def __init__(self, window=0):
        self.config = _Cfg(window)
        self.claims = C.Claims(lambda: (6, 32))
        self.bus = Bus()
        self.model = _Model()


class _Svc:
    def __init__(self, window=0):
        self.gw = _Gw(window)
        self.events = []
        self.seed = 12345
        self.current = None
        self.claimed = False
        self.plan_version = 1
        self.pokes = 0

    def poke(self):
        self.pokes += 1


def _at(t):
    clock.set_zone("UTC0")
    clock.set_time(t, "manual")


def test_event_check():
    e = schedule.check({"id": 3, "state": "active", "time": "22:30", "days": ["monday", "sunday"]},
                       None, 9)
    assert e == [3, 81000, 3, True, 0]
    assert schedule._obj(e) == {"id": 3, "state": "active", "time": "22:30:00",
                                "days": ["sunday", "monday"]}
    assert schedule.check({"state": "disabled", "time": "06:00:30", "days": []}, None, 9)[0] == 9
    for bad in ({"state": "on", "time": "1:00", "days": []}, {"state": "active", "time": "25:00",
                "days": []}, {"state": "active", "time": "1:00", "days": ["someday"]},
                {"state": "active", "time": "1:00", "days": "monday"},
                {"id": 0, "state": "active", "time": "1:00", "days": []},
                {"state": "active", "time": "1:00", "days": [], "current": 3}, []):
        try:
            schedule.check(bad, None, 1)
        except ValueError:
            pass
        else:
            raise AssertionError(repr(bad))
    try:
        schedule.check({"id": 2, "state": "active", "time": "1:00", "days": []}, 3, 1)
    except ValueError:
        pass
    else:
        raise AssertionError("id not matching the path")


def test_state_holds_until_the_next_event_across_the_week():
    s = _Svc()
    s.events = [[1, 22 * 3600, 0x7F, True, 0], [2, 6 * 3600, 0x7F, False, 0]]
    _at(T)  # Wednesday 10:00: the 06:00 disabled event is in force
    wait = schedule.evaluate(s)
    assert s.gw.claims.get(C.CLIENT_SCHEDULE) == {"state": "disabled", "priority": C.DEFAULT}
    assert wait == 12 * 3600
    _at(T + 13 * 3600)  # Wednesday 23:00: the 22:00 active event, at the hardware maximum
    schedule.evaluate(s)
    assert s.gw.claims.get(C.CLIENT_SCHEDULE) == {"state": "active", "charge_current": 40,
                                                  "priority": C.TIMER}
    # the claims clamp it to the configured maximum
    assert s.gw.claims.target()[0]["charge_current"] == 32
    # Sunday-only event, now Wednesday: the one from last Sunday is still in force
    s.events = [[1, 3600, 1, True, 16]]
    _at(T)
    assert schedule.evaluate(s) == 3 * 86400 + 15 * 3600  # to Sunday 01:00
    assert s.gw.claims.get(C.CLIENT_SCHEDULE)["charge_current"] == 16
    s.events = []
    schedule.evaluate(s)
    assert s.gw.claims.get(C.CLIENT_SCHEDULE) is None


def test_overrides_and_divert_interact_as_in_the_cpp_gateway():
    s = _Svc()
    s.events = [[1, 6 * 3600, 0x7F, False, 0]]
    _at(T)
    schedule.evaluate(s)
    c = s.gw.claims
    c.set(C.CLIENT_DIVERT, C.DIVERT, {"state": "active", "charge_current": 8})
    assert c.target()[0]["state"] == "active"  # Eco (50) over a disabled event (10)
    s.events = [[1, 6 * 3600, 0x7F, True, 0]]
    schedule.evaluate(s)
    assert c.target()[0]["charge_current"] == 32  # an active event (100) over Eco's current
    c.set(C.CLIENT_MANUAL, C.MANUAL, {"state": "disabled"})
    assert c.target()[0]["state"] == "disabled"  # the manual override over the schedule


def test_random_start_window():
    s = _Svc(window=600)
    s.events = [[1, 300, 0x7F, True, 0], [2, 12 * 3600, 0x7F, False, 0]]
    diffs = set()
    for seed in range(40):
        s.seed = seed
        for pos, day, e, d in schedule.instances(s):
            if e[3]:
                assert -300 <= d < 600  # never before midnight: -min(window, time)
                diffs.add(d)
            else:
                assert d == 0  # stop events are not moved
    assert len(diffs) > 20
    s.seed = 7
    assert schedule.instances(s) == schedule.instances(s)  # stable until the next change


def test_plan_shape():
    s = _Svc()
    s.events = [[1, 9 * 3600, 8, False, 0], [2, 11 * 3600, 8 | 16, True, 0]]
    _at(T)
    p = schedule.plan(s)
    assert p["current_day"] == "wednesday" and p["current_offset"] == 36000
    assert p["next_event_delay"] == 3600
    assert p["current_event"]["id"] == 1 and p["current_event"]["duration"] == 7200
    assert p["next_event"]["id"] == 2 and p["next_event"]["day"] == "wednesday"
    assert [e["id"] for e in p["wednesday"]] == [1, 2]
    assert p["thursday"][0]["duration"] == 5 * 86400 + 22 * 3600  # to Wednesday 09:00
    s.events = []
    p = schedule.plan(s)
    assert p["current_event"] is False and p["next_event_delay"] is False


class _Board:
    data_dir = "/nonexistent-oevse/dir"


def test_a_failed_save_changes_nothing():
    s = _Svc()
    s.gw.board = _Board()
    s.version = 1
    s.events = [[1, 3600, 1, True, 0]]
    try:
        schedule.update(s, {"state": "disabled", "time": "02:00", "days": ["monday"]}, None)
    except OSError:
        pass
    else:
        raise AssertionError("saved into a missing folder")
    assert s.events == [[1, 3600, 1, True, 0]] and s.version == 1
    try:
        schedule.remove(s, 1)
    except OSError:
        pass
    assert s.events == [[1, 3600, 1, True, 0]]
