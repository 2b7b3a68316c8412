# web/api_control.py: what sets the charge: the manual override, claims, session limit,
# divert mode and the current shaper.
import claims as C

LIMIT_TYPES = ("time", "energy", "soc", "range")
TEXT = {"Content-Type": "text/plain"}


def _msg(text, code=200, field=None):
    d = {"msg": text}
    if field:
        d["field"] = field
    return d, code


async def _maybe_await(r):
    # coroutine objects (CPython) and generators (MicroPython) both have send()
    if hasattr(r, "send"):
        r = await r
    return r


def _is_num(v):
    return not isinstance(v, bool) and isinstance(v, (int, float)) and v == v


async def override_get(app, req):
    return app.gw.override_get() or {}


async def override_post(app, req):
    d = req.json()
    if not isinstance(d, dict):
        return _msg("Failed to parse JSON", 400)
    try:
        props = C.validate_props(d)
    except C.ClaimError as e:
        s = str(e)
        f = s.split(" ")[0]
        return _msg(s, 400, f if f in C.PROPS else None)
    await _maybe_await(app.gw.override_set(props))
    return _msg("Created", 201)


async def override_patch(app, req):
    await _maybe_await(app.gw.override_toggle())
    return _msg("Updated")


async def override_delete(app, req):
    await _maybe_await(app.gw.override_clear())
    return _msg("Deleted")


async def claims_list(app, req):
    return app.gw.claims.list()


async def claims_target(app, req):
    props, winners = app.gw.claims.target()
    return {"properties": props, "claims": winners}


async def claim_get(app, req):
    c = app.gw.claims.get(req.arg)
    return c if c is not None else _msg("Not found", 404)


async def claim_post(app, req):
    d = req.json()
    if not isinstance(d, dict):
        return _msg("Could not parse JSON", 400)
    try:
        props = C.validate_props(d)
        app.gw.claims.replace(req.arg, C.API, props)
    except C.ClaimError as e:
        return _msg("Could not make claim: " + str(e), 400)
    return _msg("done")


async def claim_delete(app, req):
    if app.gw.claims.release(req.arg):
        return _msg("done")
    return _msg("Not found", 404)


async def divertmode(app, req):
    v = req.params().get("divertmode", "")
    try:
        app.gw.set_divert_mode(v)  # "1" or "2"; anything else raises with the reason
    except ValueError as e:
        return str(e), 400, TEXT
    return "Divert Mode changed", 200, TEXT


async def shaper(app, req):
    fn = getattr(app.gw, "set_shaper", None)
    if fn is None:
        return "", 404
    v = req.params().get("shaper", "")
    if v not in ("0", "1"):
        return "shaper must be 0 or 1", 400, TEXT
    try:
        fn(v == "1")
    except ValueError as e:
        return str(e), 400, TEXT
    return "Current Shaper state changed", 200, TEXT


async def limit_get(app, req):
    return app.gw.limit_get() or {}


async def limit_post(app, req):
    d = req.json()
    if not isinstance(d, dict):
        return _msg("Could not parse JSON", 400)
    t = d.get("type")
    if t not in LIMIT_TYPES:
        return _msg("type must be time, energy, soc or range", 400, "type")
    v = d.get("value")
    if not _is_num(v) or v < 0 or v > 1e9:  # 1e309 is inf: int() of it would raise
        return _msg("value must be a number from 0 to 1000000000", 400, "value")
    ar = d.get("auto_release", d.get("release", True))
    if not isinstance(ar, bool):
        return _msg("auto_release must be true or false", 400, "auto_release")
    await _maybe_await(app.gw.limit_set({"type": t, "value": int(v), "auto_release": ar}))
    return _msg("done", 201)


async def limit_delete(app, req):
    if await _maybe_await(app.gw.limit_clear()) is False:
        return _msg("no limit")
    return _msg("done")
