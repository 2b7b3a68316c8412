# The energy meter's cold part (energy.py): the file /data/emeter.json (the C++ gateway's
# short keys), saved atomically (temp file + rename), the calendar roll-over in local time
# (EnergyMeter::rotate: day, week from Sunday, month, year) and DELETE /emeter's resets.
import json
import os

import clock

KEYS = ("to", "dy", "wk", "mo", "yr")


def _path(m):
    return m.gw.board.data_dir + "/emeter.json"


def load(m):
    try:
        with open(_path(m)) as f:
            d = json.load(f)
        for i in range(5):
            v = d.get(KEYS[i], 0)
            if isinstance(v, int) and 0 <= v < 10 ** 12:
                m.wh[i] = v
        sw = d.get("sw", 0)
        m.switches = sw if isinstance(sw, int) and sw >= 0 else 0
        dt = d.get("dt")
        if isinstance(dt, list) and len(dt) == 4:
            m.date = tuple(dt)
        m.imported = bool(d.get("im"))
    except (OSError, ValueError, TypeError, AttributeError):
        pass  # none yet, or damaged: start from zero (the controller's total is imported)


def save(m):
    d = {"sw": m.switches, "dt": list(m.date) if m.date else None, "im": m.imported}
    for i in range(5):
        d[KEYS[i]] = m.wh[i]
    text = json.dumps(d)
    tmp = _path(m) + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, _path(m))
    m.dirty = False
    m.saved_up = m.gw.uptime()
    m.writes += 1
    m.bytes += len(text)


def _today():
    t = clock.now()
    days = (t + clock.offset(t)) // 86400
    y, mo, _ = clock.civil(days)
    return days, days - (days + 4) % 7, mo, y


def rotate(m):
    """Zero the figures whose period has ended (local time; only with a set clock)."""
    if not clock.valid():
        return False
    now = _today()
    old = m.date
    if old == now:
        return False
    m.date = now
    if old is not None:
        w = m.wh
        if old[0] != now[0]:
            w[1] = 0
        if old[1] != now[1]:
            w[2] = 0
        if old[2] != now[2] or old[3] != now[3]:
            w[3] = 0
        if old[3] != now[3]:
            w[4] = 0
    m.dirty = True
    m.gw.bus.publish(m.status())
    return True


def step(m):
    """Every STEP_S and when a charge stops: roll over, save when due."""
    rolled = rotate(m)
    if not m.dirty:
        return
    from energy import SAVE_S

    charging = m._charging
    if rolled or not charging or m.gw.uptime() - m.saved_up >= SAVE_S:
        save(m)
        m.gw.bus.publish(m.status())


def import_total(m, wh):
    m.wh[0] = wh
    m.imported = True
    save(m)
    m.gw.bus.publish(m.status())


def reset(m, hard, imp):
    """DELETE /emeter: the periods are zeroed; hard also the total and the switch count;
    import takes the total from the controller's counter (EnergyMeter::reset)."""
    for i in range(1, 5):
        m.wh[i] = 0
    if hard:
        m.wh[0] = 0
        m.switches = 0
    if imp and m.last_ctl is not None:
        m.wh[0] = m.last_ctl
        m.imported = True
    save(m)
    m.gw.bus.publish(m.status())
