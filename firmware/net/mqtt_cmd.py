# net/mqtt_cmd.py: the rarely sent MQTT commands under <base>/ (rapi/in, override/set,
# config/set, limit/set, schedule/set, schedule/clear, shaper/set, restart); net/mqtt_service.py imports it per command and drops it.
import asyncio
import json


def _obj(msg):
    d = json.loads(msg)
    if not isinstance(d, dict):
        raise ValueError("expected a JSON object")
    return d


async def _settings(up, d):
    try:
        await up(d)
    except ValueError as e:
        print("mqtt: config/set not applied:", e)


def run(svc, sub, msg, retained):
    """Carry out the command on topic <base>/<sub>. Raises ValueError for a bad one."""
    gw = svc.gw
    if retained:
        # a retained command would run again on every reconnect
        raise ValueError("retained command")
    rapi = sub.startswith(b"rapi/in/")
    if not rapi and not msg.strip():
        # how a client deletes a retained message: the broker passes the empty payload on
        raise ValueError("empty command")
    if rapi:
        cmd = sub[8:].decode()
        if msg.strip():
            cmd += " " + msg.decode().strip()
        if svc._rapi_busy >= 2:
            raise ValueError("rapi busy")
        svc._rapi_busy += 1
        asyncio.create_task(svc._rapi(cmd))
    elif sub == b"override/set":
        m = msg.strip()
        if m == b"clear":
            gw.override_clear()
        elif m == b"toggle":
            gw.override_toggle()
        else:
            gw.override_set(_obj(m))
    elif sub == b"config/set":
        d = _obj(msg)
        up = getattr(gw, "update_settings", None)
        if up is None:
            gw.config.update(d)
        else:  # the charger's settings go to the controller: in a task of their own
            asyncio.create_task(_settings(up, d))
    elif sub == b"limit/set":
        if msg.strip() == b"clear":
            gw.limit_clear()
        else:
            gw.limit_set(_obj(msg))
    elif sub == b"schedule/set":
        d = json.loads(msg)
        if not isinstance(d, (dict, list)):
            raise ValueError("expected an event or a list")
        gw.scheduler.update(d)
    elif sub == b"schedule/clear":
        if not gw.scheduler.remove(int(msg.strip())):
            raise ValueError("no such event")
    elif sub == b"shaper/set":  # 0|1, temporary as POST /shaper
        m = msg.strip()
        if m not in (b"0", b"1"):
            raise ValueError("shaper must be 0 or 1")
        gw.set_shaper(m == b"1")
    elif sub == b"restart":
        m = msg.strip()
        dev = _obj(m).get("device") if m.startswith(b"{") else m.decode()
        gw.restart(dev)
    else:
        raise ValueError("unknown command")
