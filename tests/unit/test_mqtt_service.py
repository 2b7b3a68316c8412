# MqttService message handling against a fake Gateway: commands, feeds, bad payloads,
# value encoding, HA discovery shape. Plain assert functions (CPython pytest + MicroPython).
import json
import sys

try:
    from net import mqtt_service as ms
except ImportError:
    sys.path.insert(0, __file__.rsplit("/tests/", 1)[0] + "/firmware")
    from net import mqtt_service as ms


class FakeConfig:
    def __init__(self, d):
        self.d = d
        self.version = 3
        self.on_change = []
        self.updates = []

    def get(self, k):
        return self.d[k]

    def update(self, ch):
        if not isinstance(ch, dict) or "bad" in ch:
            raise ValueError("bad")
        self.updates.append(ch)
        return list(ch)

    def public(self):
        return dict(self.d, mqtt_pass="***")


class FakeBus:
    def __init__(self):
        self.subs = []
        self.published = []

    def subscribe(self, fn):
        self.subs.append(fn)

    def publish(self, d):
        self.published.append(d)


class FakeGw:
    def __init__(self):
        self.config = FakeConfig({
            "mqtt_enabled": True, "mqtt_server": "127.0.0.1", "mqtt_port": 1883,
            "mqtt_topic": "emon/openevse", "mqtt_user": "", "mqtt_pass": "",
            "mqtt_solar": "", "mqtt_grid_ie": "emon/grid", "mqtt_vrms": "emon/vrms",
            "mqtt_announce_topic": "", "mqtt_retained": False, "hostname": "openevse-e5f6",
            "ha_discovery": True, "mqtt_protocol": "mqtt",
        })
        self.bus = FakeBus()
        self.serial = "A1B2C3D4E5F6"
        self.calls = []

    def set_divert_mode(self, m):
        if m.strip() not in ("1", "2"):
            raise ValueError("mode")
        self.calls.append(("mode", int(m)))

    def divert_feed(self, kind, v):
        self.calls.append((kind, v))

    def override_set(self, p):
        self.calls.append(("override", p))

    def override_clear(self):
        self.calls.append(("override", "clear"))

    def override_toggle(self):
        self.calls.append(("override", "toggle"))

    def restart(self, dev):
        if dev not in ("gateway", "evse"):
            raise ValueError("device")
        self.calls.append(("restart", dev))

    def status(self):
        return {"state": 3, "amp": 16000, "ipaddress": "10.0.0.5"}


def _svc():
    gw = FakeGw()
    s = ms.MqttService(gw)
    c = s._build()
    s.client = c
    return gw, s, c


def test_build_subscriptions_and_will():
    gw, s, c = _svc()
    assert b"emon/openevse/divertmode/set" in c._subs
    assert b"emon/openevse/rapi/in/#" in c._subs
    assert b"emon/grid" in c._subs and b"emon/vrms" in c._subs
    assert c.will[0] == b"openevse/announce/e5f6" and c.will[2] is True
    assert json.loads(c.will[1]) == {"state": "disconnected", "id": "a1b2c3d4e5f6",
                                     "name": "openevse-e5f6"}


def test_commands_applied():
    gw, s, c = _svc()
    s._on_msg(b"emon/openevse/divertmode/set", b"2", False)
    s._on_msg(b"emon/grid", b"-1234.4", False)
    s._on_msg(b"emon/vrms", b" 231.6\n", False)
    s._on_msg(b"emon/openevse/override/set", b'{"state": "disabled"}', False)
    s._on_msg(b"emon/openevse/override/set", b"clear", False)
    s._on_msg(b"emon/openevse/restart", b'{"device": "evse"}', False)
    s._on_msg(b"emon/openevse/config/set", b'{"divert_enabled": true}', False)
    assert gw.calls == [("mode", 2), ("grid_ie", -1234), ("voltage", 232),
                        ("override", {"state": "disabled"}), ("override", "clear"),
                        ("restart", "evse")]
    assert gw.config.updates == [{"divert_enabled": True}]
    assert s.stats["bad"] == 0 and s.stats["feeds"] == 2


def test_bad_payloads_ignored_and_counted():
    gw, s, c = _svc()
    bad = [
        (b"emon/openevse/divertmode/set", b"3"),
        (b"emon/openevse/divertmode/set", b"eco"),
        (b"emon/grid", b"abc"),
        (b"emon/grid", b"nan"),
        (b"emon/grid", b"inf"),
        (b"emon/grid", b"1e12"),
        (b"emon/grid", b""),
        (b"emon/grid", b"1" * 100),
        (b"emon/vrms", b"12"),
        (b"emon/vrms", b"\xff\xfe"),
        (b"emon/openevse/override/set", b"[1,2]"),
        (b"emon/openevse/override/set", b"{not json"),
        (b"emon/openevse/config/set", b'{"bad": 1}'),
        (b"emon/openevse/config/set", b"x" * 600),
        (b"emon/openevse/restart", b'{"device": "toaster"}'),
        (b"emon/openevse/nonsense", b"1"),
    ]
    for t, m in bad:
        s._on_msg(t, m, False)
    assert gw.calls == []
    assert gw.config.updates == []
    assert s.stats["bad"] == len(bad)


def test_retained_commands_ignored_but_mode_and_feeds_accepted():
    gw, s, c = _svc()
    s._on_msg(b"emon/openevse/restart", b'{"device": "gateway"}', True)
    s._on_msg(b"emon/openevse/override/set", b"toggle", True)
    assert gw.calls == [] and s.stats["bad"] == 2
    s._on_msg(b"emon/openevse/divertmode/set", b"1", True)
    s._on_msg(b"emon/grid", b"500", True)
    assert gw.calls == [("mode", 1), ("grid_ie", 500)]


def test_value_encoding():
    assert ms._val(True) == b"true" and ms._val(False) == b"false"
    assert ms._val(16000) == b"16000"
    assert ms._val("active") == b"active"
    assert ms._val(23.5) == b"23.5"
    assert json.loads(ms._val({"a": 1})) == {"a": 1}
    assert ms._val(None) == b"null"


def test_parse_number():
    assert ms.parse_number(b"12", -100, 100) == 12
    assert ms.parse_number(b"-12.6", -100, 100) == -13
    for bad in (b"101", b"-101", b"nan", b"x", b"", b"  "):
        try:
            ms.parse_number(bad, -100, 100)
            raise AssertionError(bad)
        except ValueError:
            pass


def test_on_connect_queue_and_status_publish():
    gw, s, c = _svc()
    s._on_connected()
    topics = [t for t, _, _ in s._q]
    assert topics[0] == b"openevse/announce/e5f6"
    birth = json.loads(s._q[0][1])
    assert birth["state"] == "connected" and birth["mqtt"] == "emon/openevse"
    assert birth["http"] == "http://10.0.0.5/"
    assert b"emon/openevse/config" in topics
    ha = [t for t in topics if t.startswith(b"homeassistant/")]
    kinds = [t.split(b"/")[1] for t in ha]
    assert kinds.count(b"sensor") >= 5
    assert b"select" in kinds and b"number" in kinds and b"switch" in kinds
    for t, m, r in s._q:
        assert r is True
        json.loads(m)
    # status keys go out as <base>/<key>, after the queued messages, within outbox room
    s._pending.update({"amp": 6000, "state": 3})
    c.connected = True
    s._flush(c)
    sent = [(t, m) for t, m, _ in c._outbox]
    assert not s._q and not s._pending
    assert (b"emon/openevse/amp", b"6000") in sent and (b"emon/openevse/state", b"3") in sent
    assert sent[0][0] == b"openevse/announce/e5f6"


def test_ha_disabled_by_default():
    gw, s, c = _svc()
    gw.config.d["ha_discovery"] = False
    s._build()
    s._on_connected()
    assert not [t for t, _, _ in s._q if t.startswith(b"homeassistant/")]


def test_empty_command_payloads_ignored():
    # an empty (retained-delete) message on <base>/restart used to reboot the gateway
    gw, s, c = _svc()
    for topic in (b"restart", b"override/set", b"config/set", b"limit/set"):
        for m in (b"", b"  ", b"\n"):
            s._on_msg(b"emon/openevse/" + topic, m, False)
            s._on_msg(b"emon/openevse/" + topic, m, True)
    s._on_msg(b"emon/openevse/restart", b"", False)
    assert gw.calls == [] and gw.config.updates == [] and s.stats["bad"] == 25
    assert "empty command" in s.last_bad
    s._on_msg(b"emon/openevse/restart", b"gateway", False)  # the bare word still works
    assert gw.calls == [("restart", "gateway")]
