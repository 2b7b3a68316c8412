# web/api_sched.py: /schedule, /schedule/<id>, /schedule/plan (the C++ gateway's
# web_server.cpp handleSchedule*). Cold: imported per request and dropped after.


def _svc(app):
    return getattr(app.gw, "scheduler", None)


async def sched_get(app, req):
    s = _svc(app)
    if s is None:
        return []
    if req.arg is None:
        return s.list()
    d = s.list(req.arg)
    return d if d is not None else ({"msg": "Not found"}, 404)


async def sched_post(app, req):
    s = _svc(app)
    if not req.body.strip() and req.arg is None:
        # python-openevse-http before 1.9 (Home Assistant's 1.5.0) reads the list this way
        return s.list()
    body = req.json()
    if not isinstance(body, (dict, list)):
        return {"msg": "Could not parse JSON"}, 400
    try:
        s.update(body, req.arg)
    except ValueError as e:
        return {"msg": str(e)}, 400
    except OSError as e:
        return {"msg": "could not save the schedule: %r" % e}, 500
    return {"msg": "done"}


async def sched_delete(app, req):
    s = _svc(app)
    if s.remove(req.arg):
        return {"msg": "done"}
    return {"msg": "Not found"}, 404


async def sched_plan(app, req):
    return _svc(app).plan()
