# Safety property of the divert controller: whatever the feed does (absurd, negative, huge values,
# gaps, irregular timing, voltage garbage, settings changes), the command is "no opinion", a pause,
# or an active current within [min_a, max_a].
from hypothesis import given, settings, strategies as st

from divert.controller import DivertController, MODE_ECO, MODE_NORMAL

watts = st.one_of(st.integers(-10**9, 10**9), st.integers(-20000, 20000), st.sampled_from([0, -1, 1, -1440, -1560]))
volts = st.one_of(st.none(), st.integers(-10**7, 10**7), st.integers(200000, 260000))
event = st.tuples(
    st.integers(0, 400000),  # ms until this event (gaps up to 400 s)
    st.one_of(st.none(), watts),  # feed sample or not
    volts,  # feed voltage
    st.booleans(),  # ev connected
    st.booleans(),  # charging
    st.integers(-10**6, 10**7),  # measured mA
    volts,  # EVSE voltage
    st.integers(0, 60),  # 0 => runtime reconfigure of max_a to this value
)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["grid", "solar"]),
    st.integers(6, 16),
    st.integers(6, 80),
    st.lists(event, min_size=1, max_size=200),
    st.booleans(),
)
def test_command_is_pause_or_within_limits(feed, min_a, max_a, events, toggle_mode):
    c = DivertController(min_a=min_a, max_a=max(max_a, min_a), feed=feed, stale_ms=30000, stale_pause_ms=90000)
    c.set_mode(MODE_ECO)
    now = 0
    for i, (gap, w, fv, conn, chg, ma, ev_v, newmax) in enumerate(events):
        now += gap
        if w is not None:
            c.feed(now, w, fv)
        if newmax == 0:
            c.configure(max_a=(i % 40) + 1)
        if toggle_mode and i % 17 == 16:
            c.set_mode(MODE_NORMAL if c.mode == MODE_ECO else MODE_ECO)
        want, amps = c.update(now, conn, chg, ma, ev_v)
        assert want in (None, "active", "disabled")
        if want == "active":
            assert c.min_a <= amps <= c.max_a
            assert 6 <= amps
        else:
            assert amps == 0
        if c.mode == MODE_NORMAL or not conn:
            assert want is None
        s = c.status(now)
        assert s["charge_rate"] == 0 or c.min_a <= s["charge_rate"] <= c.max_a


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30000), watts), min_size=1, max_size=300))
def test_stale_feed_always_falls_back(samples):
    # after any feed history, 120 s of silence leaves the pilot at min or paused
    c = DivertController(max_a=32)
    c.set_mode(MODE_ECO)
    now = 0
    want, amps = None, 0
    for gap, w in samples:
        for _ in range(gap // 1000):
            now += 1000
            want, amps = c.update(now, True, want == "active", amps * 1000, 240000)
        c.feed(now, w)
    for _ in range(120):
        now += 1000
        want, amps = c.update(now, True, want == "active", amps * 1000, 240000)
    assert want == "disabled" or amps == c.min_a
