# web/api_time.py: GET /time, POST /time and /settime (the C++ gateway's web_server_time.cpp):
# JSON {sntp_enabled, time_zone, time:"YYYY-MM-DDTHH:MM:SSZ"} or the form ntp=1&tz=...&time=...;
# {"sync_now": true} asks for an SNTP query now (C++ HEAD). Cold: imported per request.
import clock

TEXT = {"Content-Type": "text/plain"}


def parse_iso(s):
    """"2026-11-30T08:30:00Z" -> unix time, or None."""
    if not isinstance(s, str) or len(s) != 20 or s[4] != "-" or s[7] != "-" or s[10] != "T" \
            or s[13] != ":" or s[16] != ":" or s[19] != "Z":
        return None
    try:
        y, mo, d = int(s[0:4]), int(s[5:7]), int(s[8:10])
        h, mi, se = int(s[11:13]), int(s[14:16]), int(s[17:19])
    except ValueError:
        return None
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60 and se < 60):
        return None
    if clock.civil(clock.days_from_civil(y, mo, d))[1] != mo:
        return None  # 31 April and the like
    return clock.days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se


async def time_get(app, req):
    gw = app.gw
    d = clock.status()
    d["uptime"] = gw.uptime()
    d["sntp_enabled"] = gw.config.get("sntp_enabled")
    d["time_zone"] = gw.config.get("time_zone")
    d["time_source"] = clock.source
    d["time_valid"] = clock.valid()
    svc = getattr(gw, "time", None)
    ok = svc.sntp_ok if svc is not None else 0
    d["ntp_last_sync"] = clock.iso(ok) if ok else ""
    d["ntp_error"] = svc.sntp_error if svc is not None else ""
    return d


async def time_post(app, req):
    gw = app.gw
    ctype = req.header("content-type").split(";")[0].strip().lower()
    form = ctype == "application/x-www-form-urlencoded"
    if form:
        p = req.params()
        sntp = p.get("ntp", "") in ("1", "true", "on", "yes")
        tz = p.get("tz", "") or "UTC0"  # the C++ gateway's default for an empty form field
        t = p.get("time", "")
        d = {"sntp_enabled": sntp, "time_zone": tz}
    else:
        body = req.json()
        if not isinstance(body, dict):
            return {"msg": "Could not parse JSON"}, 400
        if body.get("sync_now") is True and len(body) == 1:
            if not gw.config.get("sntp_enabled"):
                return {"msg": "SNTP is disabled"}, 400
            svc = getattr(gw, "time", None)
            if svc is not None:
                svc.sync_now()
            return {"msg": "done"}
        d = {}
        for k in ("sntp_enabled", "time_zone"):
            if k in body:
                d[k] = body[k]
        sntp = d.get("sntp_enabled", gw.config.get("sntp_enabled"))
        t = body.get("time", "")
    secs = None
    if sntp is not True:
        secs = parse_iso(t)
        if secs is None or not clock.valid(secs):
            msg = "Could not parse time"
            return (msg.lower(), 400, TEXT) if form else ({"msg": msg, "field": "time"}, 400)
    try:
        gw.config.update(d)  # checked first: a bad time zone changes nothing
    except ValueError as e:
        m = getattr(e, "msg", None) or str(e)
        return (m, 400, TEXT) if form else ({"msg": m, "field": getattr(e, "field", "")}, 400)
    if secs is not None:
        clock.set_time(secs, "manual")
        svc = getattr(gw, "time", None)
        if svc is not None:
            svc.changed("manual")
    return ("set", 200, TEXT) if form else {"msg": "done"}
