# The scheduler's cold part (the C++ gateway's scheduler.cpp, v5.1.5), imported by
# scheduler.py for each job and dropped after: checking events, saving them (temp file +
# rename), the week's plan and the event in force with its claim.
#
# An event: {"id": n, "state": "active"|"disabled", "time": "HH:MM[:SS]", "days": ["monday",
# ...]} (+ our optional "current": A). Its state holds from its time until the next event of
# the week. An active event claims at timer priority (100) with the hardware maximum current
# (or its own), a disabled one at the default priority (10), as scheduler.cpp does: manual
# override (1000), API clients (500) and Eco divert (50, over a disabled event) still win.
# Active events start at a random offset in [-min(window, time), window) seconds
# (scheduler_start_window, randomiseStartOffset), so a street of chargers does not start at once.
import json
import os

import claims as C
import clock

DAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
MAX_EVENTS = 50  # SCHEDULER_MAX_EVENTS
WEEK = 7 * 86400
CLIENT = C.CLIENT_SCHEDULE


def _path(svc):
    return svc.gw.board.data_dir + "/schedule.json"


def load(svc):
    """Read the saved events; a damaged file is kept aside as .bad and the schedule starts
    empty (said in the log), never a crash."""
    try:
        with open(_path(svc)) as f:
            data = json.load(f)
    except OSError:
        return
    except ValueError:
        print("scheduler: schedule file damaged, kept as schedule.json.bad")
        try:
            os.rename(_path(svc), _path(svc) + ".bad")
        except OSError:
            pass
        return
    evs = []
    for d in data if isinstance(data, list) else ():
        try:
            evs.append(check(d, None, 0))
        except ValueError as e:
            print("scheduler: dropping a saved event:", e)
    svc.events = evs[:MAX_EVENTS]


def save(svc):
    tmp = _path(svc) + ".tmp"
    with open(tmp, "w") as f:
        json.dump([_obj(e) for e in svc.events], f)
    os.rename(tmp, _path(svc))


def parse_time(t):
    """"HH:MM" or "HH:MM:SS" -> seconds from midnight, or None."""
    if not isinstance(t, str):
        return None
    p = t.split(":")
    if len(p) not in (2, 3):
        return None
    try:
        v = [int(x) for x in p] + [0]
    except ValueError:
        return None
    if not (0 <= v[0] <= 23 and 0 <= v[1] <= 59 and 0 <= v[2] <= 59):
        return None
    return v[0] * 3600 + v[1] * 60 + v[2]


def check(d, path_id, next_id):
    """A posted event -> [id, secs, days, active, current]; raises ValueError."""
    if not isinstance(d, dict):
        raise ValueError("an event must be an object")
    i = d.get("id", path_id if path_id is not None else next_id)
    if isinstance(i, bool) or not isinstance(i, int) or i < 1 or i > 0xFFFF:
        raise ValueError("id must be a whole number 1..65535")
    if path_id is not None and i != path_id:
        raise ValueError("id does not match the path")
    secs = parse_time(d.get("time"))
    if secs is None:
        raise ValueError("time must be HH:MM or HH:MM:SS")
    st = d.get("state")
    if st not in ("active", "disabled"):
        raise ValueError("state must be active or disabled")
    days = d.get("days")
    if not isinstance(days, list):
        raise ValueError("days must be a list of week days")
    mask = 0
    for x in days:
        if x not in DAYS:
            raise ValueError("unknown day: %s" % x)
        mask |= 1 << DAYS.index(x)
    cur = d.get("current", 0)
    if d.get("feature") == "current":  # the C++ gateway's HEAD form
        cur = d.get("feature_value", 0)
    if isinstance(cur, bool) or not isinstance(cur, int) or (cur and not 6 <= cur <= 80):
        raise ValueError("current must be 6..80 A (or 0: the maximum)")
    return [i, secs, mask, st == "active", cur]


def _obj(e):
    d = {"id": e[0], "state": "active" if e[3] else "disabled",
         "time": "%02d:%02d:%02d" % (e[1] // 3600, e[1] // 60 % 60, e[1] % 60),
         "days": [DAYS[i] for i in range(7) if e[2] & 1 << i]}
    if e[4]:
        d["current"] = e[4]
    return d


def listing(svc, ev_id):
    if ev_id is None:
        return [_obj(e) for e in svc.events]
    for e in svc.events:
        if e[0] == ev_id:
            return _obj(e)
    return None


def _changed(svc, evs):
    """Take the new events: saved first, so a failed save (OSError) changes nothing."""
    import random

    old = svc.events
    svc.events = evs
    try:
        save(svc)
    except OSError:
        svc.events = old
        raise
    svc.seed = random.getrandbits(30)
    svc.version += 1
    svc.plan_version += 1
    svc.gw.bus.publish({"schedule_version": svc.version,
                        "schedule_plan_version": svc.plan_version})
    svc.poke()


def update(svc, body, path_id):
    """Upsert one event (or a list: all checked before any is taken, unlike the C++ one)."""
    items = body if isinstance(body, list) else [body]
    if not items:
        raise ValueError("no events")
    evs = [list(e) for e in svc.events]
    nxt = max([e[0] for e in evs] + [0]) + 1
    for d in items:
        e = check(d, path_id, nxt)
        for j in range(len(evs)):
            if evs[j][0] == e[0]:
                evs[j] = e
                break
        else:
            if len(evs) >= MAX_EVENTS:
                raise ValueError("at most %d events" % MAX_EVENTS)
            evs.append(e)
        nxt = max(nxt, e[0] + 1)
    _changed(svc, evs)


def remove(svc, ev_id):
    for e in svc.events:
        if e[0] == ev_id:
            _changed(svc, [x for x in svc.events if x[0] != ev_id])
            return True
    return False


def _diff(svc, e, day):
    """The random start offset of event e on day: stable until the schedule or the window
    changes (seeded per change, as the C++ gateway draws it when it rebuilds)."""
    w = svc.gw.config.get("scheduler_start_window")
    if not e[3] or w <= 0:
        return 0
    lo = -min(w, e[1])
    h = (svc.seed ^ (e[0] * 40503) ^ (day * 9973)) & 0x3FFFFFFF
    for _ in range(2):
        h = (h * 1103515245 + 12345) & 0x3FFFFFFF
    return lo + h % (w - lo)


def instances(svc):
    """The week as [(start in s from Sunday 00:00 local, day, event, diff)], sorted."""
    out = []
    for e in svc.events:
        for day in range(7):
            if e[2] & 1 << day:
                d = _diff(svc, e, day)
                out.append(((day * 86400 + e[1] + d) % WEEK, day, e, d))
    out.sort(key=lambda x: x[0])
    return out


def _find(ins, pos):
    """Index of the instance in force at week position pos (the last one started)."""
    k = len(ins) - 1  # before the first of the week: the last one of the previous week
    for i in range(len(ins)):
        if ins[i][0] <= pos:
            k = i
        else:
            break
    return k


def evaluate(svc):
    """Claim for the event in force; seconds until the next one starts."""
    gw = svc.gw
    if not svc.events or not clock.valid():
        # without events (or a clock) nothing is held back; the claim goes
        if svc.claimed:
            gw.claims.release(CLIENT)
            svc.claimed = False
        if svc.current is not None:
            svc.current = None
            _plan_bump(svc)
        return 60
    day, secs = clock.local()
    pos = day * 86400 + secs
    ins = instances(svc)
    k = _find(ins, pos)
    start, d, e, _ = ins[k]
    cur = (e[0], d, start)
    if e[3]:
        amps = e[4] or getattr(gw.model, "hw_max_a", 80)
        gw.claims.replace(CLIENT, C.TIMER, {"state": "active", "charge_current": amps})
    else:
        gw.claims.replace(CLIENT, C.DEFAULT, {"state": "disabled"})
    svc.claimed = True
    if cur != svc.current:
        svc.current = cur
        _plan_bump(svc)
        log = getattr(gw, "log_event", None)
        if log is not None:
            log("notification", "schedule %d %s" % (e[0], "active" if e[3] else "disabled"))
    nstart = ins[(k + 1) % len(ins)][0]
    wait = (nstart - pos) % WEEK
    return wait or WEEK


def _plan_bump(svc):
    svc.plan_version += 1
    svc.gw.bus.publish({"schedule_plan_version": svc.plan_version})


def _inst(e, day, start, diff, dur):
    o = _obj(e)
    o.pop("days")
    o["day"] = DAYS[day]
    o["offset"] = e[1]
    o["start_offset"] = e[1] + diff
    o["diff"] = diff
    o["duration"] = dur
    return o


def plan(svc):
    """GET /schedule/plan in the C++ gateway's shape (serializePlan)."""
    day, secs = clock.local()
    out = {"current_day": DAYS[day], "current_offset": secs}
    ins = instances(svc)
    if not ins:
        out["next_event_delay"] = False
        out["current_event"] = False
        out["next_event"] = False
        return out
    n = len(ins)

    def dur(i):
        d = (ins[(i + 1) % n][0] - ins[i][0]) % WEEK
        return d or WEEK

    pos = day * 86400 + secs
    k = _find(ins, pos)
    j = (k + 1) % n
    out["next_event_delay"] = (ins[j][0] - pos) % WEEK or WEEK
    out["current_event"] = _inst(ins[k][2], ins[k][1], ins[k][0], ins[k][3], dur(k))
    out["next_event"] = _inst(ins[j][2], ins[j][1], ins[j][0], ins[j][3], dur(j))
    for i in range(n):
        s, d, e, df = ins[i]
        out.setdefault(DAYS[d], []).append(_inst(e, d, s, df, dur(i)))
    return out
