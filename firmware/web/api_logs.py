# web/api_logs.py: GET /logs ({"min","max"} block indexes, + our write counters) and
# GET /logs/<i> (the block's events), as the C++ gateway's web_server_events.cpp. Cold.
from compat import drop


async def logs_get(app, req):
    import eventlog

    try:
        if req.arg is None:
            return eventlog.index(app.gw)
        b = eventlog.block(app.gw, req.arg)
    finally:
        drop("eventlog")
    if b is None:
        return {"msg": "Block out of range"}, 404
    return b


async def emeter_get(app, req):
    """Ours (the C++ gateway has DELETE only): the meter and its flash writes."""
    m = getattr(app.gw, "emeter", None)
    if m is None:
        return {"msg": "Not found"}, 404
    d = m.status()
    d["writes"] = m.writes
    d["bytes_written"] = m.bytes
    d["imported"] = m.imported
    d["saved"] = not m.dirty  # all counted energy is in flash
    return d


async def emeter_delete(app, req):
    """{"hard": 0|1, "import": 0|1}: both keys needed (handleEmeterDelete)."""
    m = getattr(app.gw, "emeter", None)
    d = req.json()
    if m is None:
        return {"msg": "Reset failed"}, 500
    if not isinstance(d, dict) or "hard" not in d or "import" not in d:
        # the C++ gateway answers 500 "Reset Failed"; a bad request is a 400 here
        return {"msg": "Reset failed: the body must be {\"hard\": 0|1, \"import\": 0|1}"}, 400
    m.reset(bool(d["hard"]), bool(d["import"]))
    return {"msg": "Reset done"}
