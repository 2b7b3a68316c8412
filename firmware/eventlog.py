# The event log (/logs), as the C++ gateway's event_log.cpp keeps it: one JSON line per event
# appended to a block file in /data/eventlog (named by its index), a new block once the
# current one passes ROTATE_SIZE, the oldest deleted beyond MAX_BLOCKS. Nothing is ever
# rewritten: an event costs the bytes of its line (counted in gw.evlog, shown in GET /logs),
# and on LittleFS at most the block's partial last page again, so wear is bounded by the
# block size. Events before the clock is set (a boot without network) wait in RAM (at most
# PENDING) and are stamped back once it is. Cold: imported per event and dropped after.
import json
import os

import clock

ROTATE_SIZE = 1024  # EVENTLOG_ROTATE_SIZE
MAX_BLOCKS = 16  # the C++ gateway keeps 10
PENDING = 8
TYPES = ("information", "notification", "warning")


def _dir(gw):
    return gw.board.data_dir + "/eventlog"


def state(gw):
    """gw.evlog: [min index, max index, size of the max block, events, bytes, pending]; the
    directory is scanned once per boot (as EventLog::begin)."""
    st = gw.evlog
    if st is None:
        d = _dir(gw)
        idx = []
        try:
            for n in os.listdir(d):
                if n.isdigit():
                    idx.append(int(n))
        except OSError:
            try:
                os.mkdir(d)
            except OSError:
                pass
        lo = min(idx) if idx else 0
        hi = max(idx) if idx else 0
        size = 0
        try:
            size = os.stat("%s/%d" % (d, hi))[6]
        except OSError:
            pass
        st = gw.evlog = [lo, hi, size, 0, 0, []]
    return st


def _snapshot(gw, kind, msg):
    m = gw.model
    props, _ = gw.claims.target()
    t = m.temp if m is not None else None
    d = {"ty": TYPES.index(kind) if kind in TYPES else 0, "ms": props["state"],
         "es": m.shown if m else 0, "ef": m.vflags if m else 0, "p": m.pilot if m else 0,
         "e": m.session_ws // 3600 if m else 0, "el": m.elapsed if m else 0,
         "tp": t if t is not None else 0, "tm": m.temp_max if m and m.temp_max > -2560 else 0,
         "dm": gw.divert_mode(), "sh": 1 if getattr(gw, "shaper", None) and gw.shaper.enabled else 0}
    if msg:
        d["m"] = msg
    return d


def log(gw, kind, msg=""):
    st = state(gw)
    d = _snapshot(gw, kind, msg)
    if not clock.valid():
        # no time yet: kept with its uptime (the C++ gateway drops such events)
        if len(st[5]) < PENDING:
            d["up"] = gw.uptime()
            st[5].append(d)
        return
    flush(gw)
    d["t"] = clock.now()
    _write(gw, st, d)


def flush(gw):
    """Write the events that waited for the clock, with their times worked back."""
    st = state(gw)
    if not st[5] or not clock.valid():
        return
    now, up = clock.now(), gw.uptime()
    for d in st[5]:
        d["t"] = now - (up - d.pop("up"))
        _write(gw, st, d)
    st[5] = []


def _write(gw, st, d):
    line = json.dumps(d) + "\n"
    d0 = _dir(gw)
    if st[2] > ROTATE_SIZE:
        st[1] += 1
        st[2] = 0
        while st[1] + 1 - st[0] > MAX_BLOCKS:
            try:
                os.remove("%s/%d" % (d0, st[0]))
            except OSError:
                pass
            st[0] += 1
    with open("%s/%d" % (d0, st[1]), "a") as f:
        f.write(line)
    st[2] += len(line)
    st[3] += 1
    st[4] += len(line)


def index(gw):
    st = state(gw)
    return {"min": st[0], "max": st[1], "events": st[3], "bytes_written": st[4],
            "pending": len(st[5]), "block_size": ROTATE_SIZE, "blocks": MAX_BLOCKS}


def block(gw, i):
    """Block i as the C++ gateway's /logs/<i> entries; None when out of range."""
    st = state(gw)
    if not st[0] <= i <= st[1]:
        return None
    out = []
    try:
        f = open("%s/%d" % (_dir(gw), i))
    except OSError:
        return out
    with f:
        for ln in f:
            try:
                d = json.loads(ln)
                e = {"time": clock.iso(d["t"]), "type": TYPES[d.get("ty", 0) % 3],
                     "managerState": d.get("ms", ""), "evseState": d.get("es", 0),
                     "evseFlags": d.get("ef", 0), "pilot": d.get("p", 0),
                     "energy": d.get("e", 0), "elapsed": d.get("el", 0),
                     "temperature": d.get("tp", 0) / 10, "temperatureMax": d.get("tm", 0) / 10,
                     "divertMode": d.get("dm", 1), "shaper": d.get("sh", 0)}
            except (ValueError, KeyError, TypeError):
                continue  # a line cut by a power loss: skipped, the rest is read
            if d.get("m"):
                e["message"] = d["m"]
            out.append(e)
    return out
