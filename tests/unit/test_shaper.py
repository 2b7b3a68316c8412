# The current shaper's controller (firmware/shaper.py). Plain functions with assert: run by
# CPython pytest and by the MicroPython runner (tests/run_mpy.py). Time is passed in.
from shaper import FS_MIN, NO_CAP, Shaper

V = 230000  # mV


def make(**kw):
    kw.setdefault("max_w", 9200)  # 40 A at 230 V
    kw.setdefault("pause_s", 300)
    kw.setdefault("smooth_s", 60)
    kw.setdefault("maxint_s", 120)
    return Shaper(**kw)  # its voltage until the first reading: 230 V


def test_no_sample_yet_pauses_without_a_pause_timer():
    s = make()
    assert s.update(0) == (True, None)
    assert s.shown_cur(0) == NO_CAP
    s.feed(1000, 2300)  # house 2.3 kW, EV off: room (9200 - 2300) / 230 = 30 A
    assert s.update(1000) == (False, 30)


def test_cap_is_room_plus_the_evs_own_draw_never_above_max():
    s = make(max_a=40)
    s.ev(0, 20000, V)  # EV draws 20 A = 4600 W
    s.feed(0, 4600 + 1150)  # house 1150 W besides the EV: room 35 A
    assert s.update(10000) == (False, 35)
    s.configure(max_a=32)
    assert s.update(10000) == (False, 32)
    s.ev(20000, 20000, V)
    s.feed(20000, 4600 + 4600)  # house now 4600 W: room 20 A
    assert s.update(20000) == (False, 20)


def test_over_the_limit_the_cap_drops_at_once():
    s = make()
    s.ev(10000, 30000, V)  # 6900 W
    s.feed(10000, 6900 + 4600)  # 11.5 kW against 9.2 kW: room for 20 A, not the 30 drawn
    paused, cap = s.update(10000)
    assert not paused and cap == 20


def test_least_recent_draw_is_the_evs_share():
    # the meter read the EV at 10 A; 2 s later it draws 25 A: crediting 25 A to the EV
    # would hide 15 A of house load
    s = make()
    s.ev(8000, 10000, V)
    s.ev(9000, 18000, V)
    s.ev(10000, 25000, V)
    s.feed(10000, 2300 + 2300)  # a meter reading from before the ramp
    paused, cap = s.update(10000)
    assert cap == (9200 - 2300) // 230  # house counted as 2300 W: 30 A, not 45
    # readings older than LAG_MS are not the meter's: the steady 25 A is the EV's share
    for t in (14000, 15000, 16000):
        s.ev(t, 25000, V)
    s.feed(16000, 2300 + 5750)
    assert s.update(16000) == (False, 30)


def test_the_same_value_again_keeps_the_feed_alive_without_a_new_cap():
    s = make(maxint_s=120)
    s.ev(0, 10000, V)
    s.feed(0, 2300 + 2300)
    assert s.update(0) == (False, 30)
    s.ev(100000, 30000, V)  # the EV took the room; the republished old value must not
    s.feed(100000, 2300 + 2300)  # be paired with the new draw (house 2300 - 4600 < 0)
    assert s.update(100000) == (False, 30)
    assert s.update(200000) == (False, 30)  # alive: not stale


def test_no_room_for_6a_pauses_and_min_pause_time_holds():
    s = make(pause_s=300, max_a=40)
    s.feed(0, 8000)  # room 5.2 A
    assert s.update(0) == (True, None)
    s.feed(10000, 1000)  # room again at once: still paused (contactor)
    assert s.update(10000)[0] is True
    s.feed(299000, 1000)
    assert s.update(299000)[0] is True
    s.feed(300000, 1000)
    assert s.update(300000) == (False, (9200 - 1000) // 230)


def test_resume_needs_the_hysteresis():
    s = make(pause_s=0, smooth_s=0)
    s.feed(0, 9200 - 5 * 230)  # 5 A room
    assert s.update(0)[0] is True
    s.feed(10000, 9200 - 6 * 230 - 50)  # 6.2 A: below 6 + 0.5
    assert s.update(10000)[0] is True
    s.feed(20000, 9200 - 7 * 230)  # 7 A
    assert s.update(20000) == (False, 7)


def test_smoothed_house_load_falls_slowly_while_paused():
    s = make(pause_s=0, smooth_s=60)
    s.feed(0, 8000)
    assert s.update(0)[0] is True
    s.feed(1000, 1000)  # a dip 1 s later: the smoothed load has hardly moved
    assert s.update(1000)[0] is True
    t = 1000
    for _ in range(30):  # 5 min of the low load: the filter has followed
        t += 10000
        s.feed(t, 1000)
    assert s.update(t)[0] is False


def test_stale_feed_pauses_by_default():
    s = make(maxint_s=120)
    s.feed(0, 1000)
    assert s.update(120000)[0] is False
    assert s.update(120001) == (True, None)
    assert s.shown_cur(120001) == NO_CAP
    # fresh data again: the pause timer runs from the stale moment
    s.feed(130000, 1000)
    assert s.update(130000)[0] is True
    s.feed(120001 + 299999, 1000)
    assert s.update(120001 + 299999)[0] is True
    s.feed(120001 + 300000, 1000)
    assert s.update(120001 + 300000)[0] is False


def test_stale_feed_with_min_failsafe_gives_the_minimum():
    s = make(maxint_s=120, failsafe=FS_MIN)
    assert s.update(0) == (False, 6)  # no data yet: 6 A
    s.feed(0, 1000)
    assert s.update(1000) == (False, 32)
    assert s.update(200000) == (False, 6)


def test_three_phase_divides_by_three():
    s = make(max_w=22080, phases=3)  # 32 A per phase at 230 V
    s.feed(0, 6900)  # 10 A per phase of house load
    assert s.update(0) == (False, 22)


def test_never_below_minimum_nor_above_maximum():
    for max_w in (0, 1000, 1380, 1500, 5000, 9200, 100000):
        for house in (-3000, 0, 500, 4000, 12000):
            s = make(max_w=max_w, max_a=16, pause_s=0, smooth_s=0)
            s.feed(0, house)
            paused, cap = s.update(0)
            assert paused or 6 <= cap <= 16, (max_w, house, cap)


def test_solar_added_to_the_limit():
    # divert on a solar feed (the C++ calcMaxCur): 1200 W of PV raises a 4800 W limit
    s = make(max_w=4800, max_a=32)
    s.feed(0, 2400)
    assert s.update(0) == (False, (4800 - 2400) // 230)
    s.extra_w = 1200
    assert s.update(1000) == (False, (4800 + 1200 - 2400) // 230)
