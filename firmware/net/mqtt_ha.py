# net/mqtt_ha.py: Home Assistant MQTT discovery (entities for the charger), built once per
# connection: net/mqtt_service.py imports it for that and drops it after.
import json

STATES = ("{{ {1:'Ready',2:'Connected',3:'Charging',254:'Sleeping',255:'Disabled'}"
          ".get(value|int,'Error') }}")


def messages(svc):
    """Yields (topic, payload, retain) of each entity's retained config message."""
    b = svc.base.decode() + "/"
    node = "openevse_" + svc.serial
    dev = {"identifiers": [node], "name": svc.name, "manufacturer": "OpenEVSE",
           "model": "MicroPython WiFi gateway"}
    avail = {"topic": svc.announce.decode(), "value_template": "{{ value_json.state }}",
             "payload_available": "connected", "payload_not_available": "disconnected"}

    def ent(comp, obj, name, **kw):
        kw["name"] = name
        kw["unique_id"] = node + "_" + obj
        kw["device"] = dev
        kw["availability"] = [avail]
        return (("homeassistant/%s/%s/%s/config" % (comp, node, obj)).encode(),
                json.dumps(kw).encode(), True)

    def sensor(obj, key, name, unit=None, dc=None, sc="measurement", tpl=None):
        kw = {"state_topic": b + key}
        if unit:
            kw["unit_of_measurement"] = unit
        if dc:
            kw["device_class"] = dc
        if sc:
            kw["state_class"] = sc
        if tpl:
            kw["value_template"] = tpl
        return ent("sensor", obj, name, **kw)

    yield sensor("state", "state", "State", sc=None, tpl=STATES)
    yield sensor("current", "amp", "Current", "A", "current",
                 tpl="{{ (value|float / 1000) | round(1) }}")
    yield sensor("power", "power", "Power", "W", "power")
    yield sensor("session_energy", "session_energy", "Session energy", "Wh", "energy",
                 "total_increasing")
    yield sensor("total_energy", "total_energy", "Total energy", "kWh", "energy",
                 "total_increasing")
    yield sensor("temp", "temp", "Temperature", "°C", "temperature",
                 tpl="{{ value|float / 10 }}")
    yield ent("select", "divert_mode", "Divert mode", state_topic=b + "divertmode",
              command_topic=b + "divertmode/set", options=["normal", "eco"],
              value_template="{{ 'eco' if value == '2' else 'normal' }}",
              command_template="{{ 2 if value == 'eco' else 1 }}")
    yield ent("number", "charge_current", "Charge current", state_topic=b + "pilot",
              command_topic=b + "override/set", min=6, max=int(_max_current(svc)),
              step=1, unit_of_measurement="A", mode="slider",
              command_template='{"charge_current": {{ value|int }}}')
    yield ent("switch", "charging", "Charging", state_topic=b + "status",
              command_topic=b + "override/set", state_on="active", state_off="disabled",
              payload_on='{"state": "active"}', payload_off='{"state": "disabled"}')


def _max_current(svc):
    try:
        v = svc._status_get("max_current_hard") or 32
    except Exception:
        v = 32
    return v if 6 < v <= 80 else 32
