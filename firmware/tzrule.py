# POSIX TZ rules ("GMT0BST,M3.5.0/1,M10.5.0", "EST5EDT,M3.2.0,M11.1.0", "<+10>-10"), as the
# C++ gateway takes them (its time_zone setting is "Location|rule" and only the rule is used,
# time_man.cpp setTimeZone). Cold: clock.py imports it when the cached span runs out (twice
# a year with DST) or the setting changes, and drops it after.
from clock import civil, days_from_civil

FAR = 4102444800  # 2100: the end of a span without transitions


def _name(s, i):
    if i < len(s) and s[i] == "<":
        j = s.find(">", i)
        if j < 0:
            raise ValueError("unclosed <")
        return j + 1
    j = i
    while j < len(s) and s[j].isalpha():
        j += 1
    if j - i < 3:
        raise ValueError("zone name")
    return j


def _hms(s, i, signed=True):
    """[+-]hh[:mm[:ss]] -> (seconds, next index)."""
    sign = 1
    if signed and i < len(s) and s[i] in "+-":
        sign = -1 if s[i] == "-" else 1
        i += 1
    v = 0
    for k in range(3):
        j = i
        while j < len(s) and s[j].isdigit():
            j += 1
        if j == i:
            if k == 0:
                raise ValueError("number")
            break
        v += int(s[i:j]) * (3600, 60, 1)[k]
        i = j
        if k < 2 and i < len(s) and s[i] == ":":
            i += 1
        else:
            break
    return sign * v, i


def _rule(r):
    """"M3.5.0/1" | "J60" | "59" (optionally /time) -> (kind, a, b, c, secs)."""
    t = 7200
    if "/" in r:
        r, ts = r.split("/", 1)
        t, k = _hms(ts, 0)
        if k != len(ts):
            raise ValueError("rule time")
    if r[:1] == "M":
        m, w, d = [int(x) for x in r[1:].split(".")]
        if not (1 <= m <= 12 and 1 <= w <= 5 and 0 <= d <= 6):
            raise ValueError("rule M")
        return ("M", m, w, d, t)
    if r[:1] == "J":
        n = int(r[1:])
        if not 1 <= n <= 365:
            raise ValueError("rule J")
        return ("J", n, 0, 0, t)
    n = int(r)
    if not 0 <= n <= 365:
        raise ValueError("rule n")
    return ("n", n, 0, 0, t)


def parse(tz):
    """A POSIX rule -> (std offset s east of UTC, dst offset or None, start, end) or raises
    ValueError. POSIX offsets are west of UTC ("EST5" is UTC-5), hence the sign flip."""
    tz = tz.split("|")[-1]
    i = _name(tz, 0)
    std, i = _hms(tz, i)
    std = -std
    if i == len(tz):
        return std, None, None, None
    i = _name(tz, i)
    dst = std + 3600
    if i < len(tz) and tz[i] != ",":
        dst, i = _hms(tz, i)
        dst = -dst
    if i == len(tz):  # no rule: the US default (the one POSIX leaves to the implementation)
        return std, dst, ("M", 3, 2, 0, 7200), ("M", 11, 1, 0, 7200)
    parts = tz[i + 1:].split(",")
    if tz[i] != "," or len(parts) != 2:
        raise ValueError("rules")
    return std, dst, _rule(parts[0]), _rule(parts[1])


def _leap(y):
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


def _day(y, r):
    """Days since 1970 of rule r in year y (local date)."""
    kind, a, b, c = r[0], r[1], r[2], r[3]
    if kind == "M":
        first = days_from_civil(y, a, 1)
        wd = (first + 4) % 7
        d = first + (c - wd) % 7 + (b - 1) * 7
        nxt = days_from_civil(y + 1 if a == 12 else y, a % 12 + 1, 1)
        while d >= nxt:  # week 5 = the last such day of the month
            d -= 7
        return d
    jan1 = days_from_civil(y, 1, 1)
    if kind == "J":  # 1..365, February 29 never counted
        return jan1 + a - 1 + (1 if _leap(y) and a >= 60 else 0)
    return jan1 + a


def span(tz, t):
    """(from, until, offset s) of the rule in force at unix time t; a bad rule is UTC."""
    try:
        std, dst, r1, r2 = parse(tz)
    except (ValueError, IndexError):
        return 0, FAR, 0
    if dst is None:
        return 0, FAR, std
    y = civil(t // 86400)[0]
    edges = []
    for yy in (y - 1, y, y + 1):
        # a start is given in standard time, an end in daylight time (local)
        edges.append((_day(yy, r1) * 86400 + r1[4] - std, dst))
        edges.append((_day(yy, r2) * 86400 + r2[4] - dst, std))
    edges.sort()
    prev = (0, std if edges[0][1] == dst else dst)
    for e in edges:
        if e[0] > t:
            return prev[0], e[0], prev[1]
        prev = e
    return prev[0], FAR, prev[1]
