# MQTT service: publishes /status keys as <base>/<key>, takes divert feeds and commands,
# announces itself (retained birth + last will) and optionally Home Assistant discovery.
# Topics mirror the OpenEVSE C++ gateway (src/mqtt.cpp); see docs/mqtt.md.
import asyncio
import json

from compat import drop, sleep_ms, ticks_diff, ticks_ms, wait_for_ms
from net import tls_context
from net.mqtt import MQTTClient, valid_filter

PERIOD = 30000  # ms between full status publishes
BACKOFF_MAX = 4000  # ms: retry a lost broker at least this often (C++ gateway: every 5 s)
OUTBOX = 24  # messages queued in the client; the rest wait in _pending (RAM: each ~150 B x64)
MAX_CMD = 512  # bytes: larger command payloads are ignored
MAX_NUM = 24  # bytes: a feed value
WATCH = (
    "mqtt_enabled", "mqtt_protocol", "mqtt_server", "mqtt_port", "mqtt_topic", "mqtt_user",
    "mqtt_pass", "mqtt_solar", "mqtt_grid_ie", "mqtt_vrms", "mqtt_live_pwr", "mqtt_announce_topic",
    "mqtt_retained", "ha_discovery", "hostname",
)
# feed kind -> (config key, min, max)
FEEDS = (
    ("solar", "mqtt_solar", -100000, 100000),
    ("grid_ie", "mqtt_grid_ie", -100000, 100000),
    ("voltage", "mqtt_vrms", 50, 500),
    ("shaper_live_pwr", "mqtt_live_pwr", -100000, 100000),  # the shaper's house power, W
)


def _val(v):
    """Status value as the C++ gateway prints it."""
    if isinstance(v, bool):
        return b"true" if v else b"false"
    if isinstance(v, int):
        return b"%d" % v
    if isinstance(v, str):
        return v.encode()
    if isinstance(v, float):
        return str(v).encode()
    return json.dumps(v).encode()


def parse_number(msg, lo, hi):
    """Feed payload -> int, or ValueError for non-numbers, NaN/inf, out of [lo, hi]."""
    if len(msg) > MAX_NUM:
        raise ValueError("oversized")
    s = msg.decode().strip()
    if not s:
        raise ValueError("empty")
    v = float(s)
    if v != v or v < lo or v > hi:
        raise ValueError("out of range")
    return int(v + 0.5) if v >= 0 else -int(-v + 0.5)


class MqttService:
    def __init__(self, gw):
        self.gw = gw
        self.client = None
        self.stats = {"bad": 0, "feeds": 0, "commands": 0, "rapi": 0}
        self.last_bad = None
        self._pending = {}  # status key -> value, coalesced until published
        self._full = None  # (key, value) iterator of a full status publish in progress
        self._q = []  # (topic, payload, retain) sent before status keys
        self._wake = asyncio.Event()
        self._reconf = False
        self._need_full = False
        self._was = 0
        self._was_err = ""
        self._rapi_busy = 0
        self._feeds = {}
        gw.bus.subscribe(self._on_bus)
        oc = getattr(gw.config, "on_change", None)
        if isinstance(oc, list):
            oc.append(self._on_config)

    def status(self):
        c = self.client
        up = c is not None and c.connected
        return {"mqtt_connected": 1 if up else 0, "mqtt_status": self._status(up),
                "mqtt_error": self._err()}

    def _err(self):
        # the client's last failure as it was raised (the UI words it: refused, timeout ...)
        c = self.client
        return "" if c is None or c.connected else (c.last_error or "")

    def _status(self, up):
        # as the C++ gateway's getMqttStatus()
        if not self._cfg("mqtt_enabled"):
            return "disabled"
        return "connected" if up else "connecting" if self.client is not None else "disconnected"

    def _cfg(self, key, default=None):
        try:
            v = self.gw.config.get(key)
        except KeyError:
            return default
        return default if v is None else v

    # -- events from the rest of the gateway (must not block) --

    def _on_bus(self, changes):
        c = self.client
        if c is None or not c.connected:
            return
        self._pending.update(changes)
        if "override_version" in changes:
            self._queue_override()
        if "schedule_version" in changes:
            self._queue_schedule()
        if "schedule_plan_version" in changes:  # a change of timers, or an event has passed
            self._queue_next_event()
        self._wake.set()

    def _on_config(self, keys):
        for k in keys:
            if k in WATCH:
                self._reconf = True
        c = self.client
        if c is not None and c.connected and not self._reconf:
            self._queue_config()
        self._wake.set()

    # -- the task --

    async def run(self):
        while True:
            self._reconf = False
            if not self._cfg("mqtt_enabled") or not self._cfg("mqtt_server"):
                while not self._reconf:
                    self._wake.clear()
                    try:
                        await wait_for_ms(self._wake.wait(), 5000)
                    except asyncio.TimeoutError:
                        pass
                continue
            c = self._build()
            self.client = c
            task = asyncio.create_task(c.run())
            try:
                await self._loop(c)
            finally:
                await self._teardown(c)
                task.cancel()
                self.client = None
                self._set_connected(0)

    def _build(self):
        g = self._cfg
        self.base = (g("mqtt_topic") or g("hostname", "openevse")).encode()
        self.retain = bool(g("mqtt_retained"))
        self.ha = bool(g("ha_discovery"))
        serial = getattr(self.gw, "serial", "") or "000000000000"
        self.serial = serial.lower()
        self.name = g("hostname", "openevse")
        ann = g("mqtt_announce_topic") or "openevse/announce/" + self.serial[-4:]
        self.announce = ann.encode()
        will = json.dumps({"state": "disconnected", "id": self.serial, "name": self.name})
        ssl = None
        if g("mqtt_protocol") == "mqtts":
            ssl = tls_context()
        c = MQTTClient(
            self.name, g("mqtt_server"), int(g("mqtt_port", 1883)), g("mqtt_user") or None,
            g("mqtt_pass") or None, 30, (self.announce, will.encode(), True, 1), ssl,
            self._on_msg, self._on_connect, outbox=OUTBOX, backoff_max=BACKOFF_MAX,
        )
        b = self.base + b"/"
        for t in (b"divertmode/set", b"rapi/in/#", b"override/set", b"config/set",
                  b"limit/set", b"restart", b"schedule/set", b"schedule/clear", b"shaper/set"):
            c.subscribe(b + t)
        self._feeds = {}
        for kind, key, lo, hi in FEEDS:
            t = (g(key) or "").encode()
            if not t:
                continue
            if not valid_filter(t):
                print("mqtt: bad feed topic", key, t)
                continue
            self._feeds[t] = (kind, lo, hi)
            c.subscribe(t)
        return c

    async def _on_connect(self, c):
        self._need_full = True
        self._wake.set()

    def _set_connected(self, v):
        e = self._err()
        if v != self._was or e != self._was_err:
            self._was = v
            self._was_err = e
            self.gw.bus.publish({"mqtt_connected": v, "mqtt_status": self._status(v),
                                 "mqtt_error": e})

    async def _loop(self, c):
        last_full = ticks_ms()
        while not self._reconf:
            self._set_connected(1 if c.connected else 0)
            if c.connected:
                if self._need_full or ticks_diff(ticks_ms(), last_full) >= PERIOD:
                    if self._need_full:
                        self._on_connected()
                    self._need_full = False
                    last_full = ticks_ms()
                    self._full = self._status_items()
                self._flush(c)
            else:
                self._pending = {}
                self._full = None
            if c.connected and (self._q or self._pending or self._full is not None):
                await sleep_ms(20)  # outbox full: let it drain
                continue
            self._wake.clear()
            try:
                await wait_for_ms(self._wake.wait(), 1000)
            except asyncio.TimeoutError:
                pass

    def _flush(self, c):
        while self._q and c.room() > 2:
            c.publish(*self._q.pop(0))
        if self._q:
            return
        b = self.base + b"/"
        full = self._full
        while full is not None:  # a key also pending goes out below, with its newer value
            if c.room() <= 2:
                return
            try:
                k, v = next(full)
            except StopIteration:
                self._full = full = None
                break
            if k not in self._pending:
                c.publish(b + k.encode(), _val(v), self.retain)
        for k in list(self._pending):
            if c.room() <= 2:
                return
            v = self._pending.pop(k)
            c.publish(b + k.encode(), _val(v), self.retain)

    def _status_items(self):
        """The /status (key, value) pairs; streamed from the Gateway (no ~90-key dict)."""
        f = getattr(self.gw, "status_items", None)
        return f() if f is not None else iter(self.gw.status().items())

    def _status_get(self, key, default=None):
        for k, v in self._status_items():
            if k == key:
                return v
        return default

    def _on_connected(self):
        """Birth, retained state topics and HA discovery, after every (re)connect."""
        ip = ""
        try:
            ip = self._status_get("ipaddress", "")
        except Exception:
            pass
        birth = {"state": "connected", "id": self.serial, "name": self.name,
                 "mqtt": self.base.decode(), "http": "http://%s/" % ip}
        self._q = [(self.announce, json.dumps(birth).encode(), True)]
        self._queue_config()
        self._queue_override()
        self._queue_schedule()
        self._queue_next_event()
        if self.ha:
            self._q += self._discovery()

    def _queue_config(self):
        try:
            pub = self.gw.config.public()
        except Exception:
            return
        b = self.base
        self._q.append((b + b"/config", json.dumps(pub).encode(), True))
        self._q.append((b + b"/config_version", b"%d" % self.gw.config.version, True))

    def _queue_override(self):
        f = getattr(self.gw, "override_get", None)
        if f is None:
            return
        ov = f() or {"state": "null"}
        self._q.append((self.base + b"/override", json.dumps(ov).encode(), True))

    def _queue_schedule(self):
        # retained, as the C++ gateway's Mqtt::publishSchedule (acts as the command's ack)
        s = getattr(self.gw, "scheduler", None)
        if s is not None:
            self._q.append((self.base + b"/schedule", json.dumps(s.list()).encode(), True))

    def _queue_next_event(self):
        # <base>/schedule/next, retained: the next timer event as in GET /schedule/plan, plus
        # "in" (s from now) and "at" (local time, when the clock is set). Ours: the C++
        # gateway publishes only the list, and an automation would have to work out the plan.
        s = getattr(self.gw, "scheduler", None)
        if s is None:
            return
        try:
            p = s.plan()
        except Exception as e:
            print("mqtt: schedule plan:", repr(e))
            return
        ev = p.get("next_event")
        if ev:
            import clock

            ev["in"] = p["next_event_delay"]
            if clock.valid():
                t = clock.now() + p["next_event_delay"]
                ev["at"] = clock.iso(t, clock.offset(t))
        self._q.append((self.base + b"/schedule/next", json.dumps(ev or None).encode(), True))

    async def _teardown(self, c):
        """Config changed or task cancelled: say goodbye cleanly (no last will)."""
        try:
            if c.connected:
                if self.ha and not self._cfg("ha_discovery"):
                    for t, _, _ in self._discovery():
                        c.publish(t, b"", True)
                gone = {"state": "disconnected", "id": self.serial, "name": self.name}
                c.publish(self.announce, json.dumps(gone).encode(), True)
                for _ in range(25):
                    if c.room() == c._outbox_max:
                        break
                    await sleep_ms(20)
            await c.disconnect()
        except Exception as e:
            print("mqtt: teardown", repr(e))

    def _discovery(self):
        """[(topic, payload)] of the Home Assistant discovery messages (net/mqtt_ha.py,
        imported for it and dropped: it runs once per connection)."""
        from net import mqtt_ha

        try:
            return list(mqtt_ha.messages(self))
        finally:
            drop("net.mqtt_ha")

    # -- incoming --

    def _bad(self, topic, why):
        self.stats["bad"] += 1
        self.last_bad = why
        print("mqtt: ignored", topic, why)

    def _on_msg(self, topic, msg, retained):
        try:
            self._dispatch(topic, msg, retained)
        except Exception as e:
            self._bad(topic, repr(e))

    def _dispatch(self, topic, msg, retained):
        gw = self.gw
        f = self._feeds.get(topic)
        if f is not None:
            kind, lo, hi = f
            v = parse_number(msg, lo, hi)
            if kind == "shaper_live_pwr":
                gw.status_input(kind, v)
            else:
                gw.divert_feed(kind, v)
            self.stats["feeds"] += 1
            return
        b = self.base + b"/"
        if not topic.startswith(b):
            raise ValueError("unexpected topic")
        if len(msg) > MAX_CMD:
            raise ValueError("oversized")
        if topic[len(b):] == b"divertmode/set":  # the one command sent often (automations)
            gw.set_divert_mode(msg.decode())
        else:
            from net import mqtt_cmd  # the others are rare: imported for each, then dropped

            try:
                mqtt_cmd.run(self, topic[len(b):], msg, retained)
            finally:
                drop("net.mqtt_cmd")
        self.stats["commands"] += 1

    async def _rapi(self, cmd):
        try:
            ok, reply = await self.gw.rapi_passthrough(cmd)
            self.stats["rapi"] += 1
            c = self.client
            if c is not None:
                c.publish(self.base + b"/rapi/out", reply.encode())
        except Exception as e:
            self._bad("rapi", repr(e))
        finally:
            self._rapi_busy -= 1
