# Web API routes through the real server (web/server.py) on fake streams (webclient.py),
# runnable under CPython (pytest) and MicroPython (tests/run_mpy.py). Plain test_* functions,
# asyncio.run per test.
import asyncio
import binascii
import json


import claims
from web.app import create_app
from webclient import Client, FakeStream, request_bytes
from webfake import FakeGateway, MASK


def _setup():
    gw = FakeGateway()
    app = create_app(gw)
    app.restart_delay_ms = 0
    return gw, app, Client(app)


def run(coro):
    return asyncio.run(coro)


def _basic(user, pw):
    return "Basic " + binascii.b2a_base64((user + ":" + pw).encode()).decode().strip()


def test_status_get_p0_fields():
    gw, app, c = _setup()

    async def t():
        r = await c.get("/status")
        assert r.status_code == 200
        assert r.headers["Content-Type"].startswith("application/json")
        s = r.json
        for k in ("state", "status", "vehicle", "amp", "voltage", "power", "pilot", "max_current",
                  "manual_override", "divertmode", "elapsed", "session_energy", "total_energy",
                  "temp", "temp1", "srssi", "mode", "free_heap", "uptime", "config_version",
                  "claims_version", "override_version", "limit_version"):
            assert k in s, k
        assert s["state"] == 1 and s["status"] == "active" and s["temp2"] is False
        assert s == json.loads(json.dumps(gw.status()))

    run(t())


def test_status_post_feeds():
    gw, app, c = _setup()

    async def t():
        r = await c.post("/status", body={"grid_ie": -2500, "voltage": 231})
        assert r.status_code == 200
        assert r.json == {"grid_ie": -2500, "voltage": 231, "vehicle_state_update": 0}
        assert gw.feeds["grid_ie"] == -2500 and gw.feeds["voltage"] == 231
        r = await c.post("/status", body={"solar": 3000, "grid_ie": 5})
        assert gw.feeds["solar"] == 3000 and gw.feeds["grid_ie"] == -2500  # solar wins
        r = await c.post("/status", body={"battery_level": 55})
        assert (await c.get("/status")).json["battery_level"] == 55
        r = await c.post("/status", body={"solar": "lots"})
        assert r.status_code == 400 and r.json["field"] == "solar"
        r = await c.post("/status", body="not json", headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and r.json == {"msg": "Could not parse JSON"}
        # a form, as `curl -d solar=4000` sends it (README): numbers from text
        r = await c.post("/status", body="solar=4000",
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert r.status_code == 200 and gw.feeds["solar"] == 4000
        assert r.json["solar"] == 4000
        r = await c.post("/status", body="solar=lots",
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert r.status_code == 400 and r.json["field"] == "solar"

    run(t())


def test_config_get_masks_secrets_and_version():
    gw, app, c = _setup()
    gw.config.update({"mqtt_pass": "secret", "www_password": ""})

    async def t():
        r = await c.get("/config")
        assert r.status_code == 200
        d = r.json
        assert d["mqtt_pass"] == MASK and d["www_password"] == ""
        assert d["version"].startswith("v5.") and d["wifi_serial"]
        assert "secret" not in r.text

    run(t())


def test_config_post_ok_nochange_and_errors():
    gw, app, c = _setup()

    async def t():
        v0 = gw.config.version
        r = await c.post("/config", body={"mqtt_server": "emonpi", "mqtt_port": 1884})
        assert r.status_code == 200 and r.json == {"config_version": v0 + 1, "msg": "done"}
        r = await c.post("/config", body={"mqtt_server": "emonpi"})
        assert r.json["msg"] == "no change"
        # wrong type: 400 naming the field, nothing saved (not even the valid key)
        r = await c.post("/config", body={"mqtt_server": "other", "mqtt_port": "abc"})
        assert r.status_code == 400 and r.json["field"] == "mqtt_port" and "mqtt_port" in r.json["msg"]
        assert gw.config.get("mqtt_server") == "emonpi"
        r = await c.post("/config", body={"mqtt_port": 70000})
        assert r.status_code == 400 and r.json["field"] == "mqtt_port"
        assert gw.config.get("mqtt_port") == 1884
        r = await c.post("/config", body="{bad", headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and r.json["msg"] == "Could not parse JSON"
        # posting the mask back leaves the secret alone
        gw.config.update({"mqtt_pass": "pw1"})
        r = await c.post("/config", body={"mqtt_pass": MASK})
        assert gw.config.get("mqtt_pass") == "pw1" and r.json["msg"] == "no change"
        r = await c.post("/config", body={"charge_mode": "eco"}, headers={"X-Storage": "factory"})
        assert r.status_code == 423

    run(t())


def test_rapi_json_and_html():
    gw, app, c = _setup()

    async def t():
        r = await c.get("/r?json=1&rapi=$GV")
        assert r.status_code == 200 and r.json == {"cmd": "$GV", "ret": "$OK 8.2.1 5.1.0^xx"}
        r = await c.get("/r?json=1&rapi=%24GS+0")  # %24 and + forms, bare trailing args
        assert r.json["cmd"] == "$GS 0" and r.json["ret"].startswith("$OK")
        r = await c.post("/r?json=1&", body="rapi=%24GV", headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert r.json["ret"].startswith("$OK 8.2.1")
        r = await c.post("/r", body="json=1&rapi=GV%5E30", headers={"Content-Type": "text/plain"})
        assert r.json["cmd"] == "GV^30" and gw.evse.rapi_log[-1] == "$GV"
        r = await c.get("/r?json=1&rapi=$SC+20")
        assert r.status_code == 400 and r.json == {"cmd": "$SC 20", "error": "RAPI_RESPONSE_BLOCKED"}
        r = await c.get("/r?json=1&rapi=$XX")
        assert r.status_code == 500 and r.json["error"] == "RAPI_RESPONSE_TIMEOUT"
        gw.config.update({"developer_mode": True})
        r = await c.get("/r?json=1&rapi=$SC+20")  # developer mode commands: POST only
        assert r.status_code == 405 and gw.evse.rapi_log[-1] != "$SC 20"
        r = await c.post("/r", body="json=1&rapi=$SC+20",
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert r.status_code == 200 and r.json["ret"] == "$OK^20"
        r = await c.get("/r?rapi=%24GV")
        assert r.headers["Content-Type"].startswith("text/html")
        assert "<p>&gt;$OK 8.2.1 5.1.0^xx<script" in r.text and r.text.endswith("</html>\r\n\r\n")
        r = await c.post("/rapi", body="json=1&rapi=$GV")  # the /rapi alias
        assert r.json["cmd"] == "$GV"
        r = await c.get("/r")
        assert "<form" in r.text
        r = await c.get("/r?rapi=<b>")
        assert "<b>" not in r.text

    run(t())


def test_override_lifecycle():
    gw, app, c = _setup()

    async def t():
        r = await c.get("/override")
        assert r.status_code == 200 and r.json == {}
        r = await c.post("/override", body={"state": "disabled", "charge_current": 10, "energy_limit": 0})
        assert r.status_code == 201 and r.json == {"msg": "Created"}
        r = await c.get("/override")
        assert r.json == {"state": "disabled", "charge_current": 10}
        s = (await c.get("/status")).json
        assert s["status"] == "disabled" and s["state"] == 254 and s["manual_override"] == 1
        r = await c.post("/override", body={"charge_current": 99})  # clamped by the arbiter
        assert gw.evse.pilot == 32
        r = await c.post("/override", body={"charge_current": 2})
        assert gw.evse.pilot == 6
        r = await c.post("/override", body={"state": "maybe"})
        assert r.status_code == 400 and r.json["field"] == "state"
        r = await c.post("/override", body="x", headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and r.json == {"msg": "Failed to parse JSON"}
        r = await c.patch("/override")
        assert r.json == {"msg": "Updated"} and (await c.get("/override")).json == {}
        r = await c.patch("/override")
        assert (await c.get("/override")).json == {"state": "disabled"}
        r = await c.delete("/override")
        assert r.status_code == 200 and r.json == {"msg": "Deleted"}
        assert gw.claims.get(claims.CLIENT_MANUAL) is None

    run(t())


def test_claims_routes():
    gw, app, c = _setup()

    async def t():
        r = await c.get("/claims")
        assert r.json == []
        r = await c.post("/claims/20", body={"auto_release": True, "state": "active", "charge_current": 16, "max_current": 20})
        assert r.status_code == 200 and r.json == {"msg": "done"}
        r = await c.get("/claims/20")
        assert r.json == {"priority": claims.API, "auto_release": True, "state": "active", "charge_current": 16, "max_current": 20}
        r = await c.get("/claims")
        assert r.json[0]["client"] == 20 and r.json[0]["priority"] == 500
        r = await c.get("/claims/target")
        assert r.json == {"properties": {"state": "active", "charge_current": 16, "max_current": 20, "auto_release": True},
                          "claims": {"state": 20, "charge_current": 20, "max_current": 20}}
        assert gw.evse.pilot == 16
        r = await c.post("/claims/20", body={"charge_current": "x"})
        assert r.status_code == 400
        r = await c.get("/claims/21")
        assert r.status_code == 404 and r.json == {"msg": "Not found"}
        r = await c.delete("/claims/20")
        assert r.json == {"msg": "done"}
        r = await c.delete("/claims/20")
        assert r.status_code == 404

    run(t())


def test_divertmode_and_shaper():
    gw, app, c = _setup()

    async def t():
        r = await c.post("/divertmode", body="divertmode=2", headers={"Content-Type": "text/plain; charset=utf-8"})
        assert r.status_code == 200 and r.text == "Divert Mode changed"
        assert r.headers["Content-Type"].startswith("text/plain")
        assert (await c.get("/status")).json["divertmode"] == 2
        r = await c.get("/divertmode?divertmode=1")
        assert gw.divertmode == 1
        r = await c.post("/divertmode", body="divertmode=7")
        assert r.status_code == 400 and gw.divertmode == 1
        r = await c.post("/shaper", body="shaper=1")
        assert r.status_code == 404  # no shaper in this gateway: 404 with empty body
        assert r.text == ""

    run(t())


def test_limit_routes():
    gw, app, c = _setup()

    async def t():
        assert (await c.get("/limit")).json == {}
        r = await c.post("/limit", body={"type": "energy", "value": 10000, "release": False})
        assert r.status_code == 201 and r.json == {"msg": "done"}
        assert (await c.get("/limit")).json == {"type": "energy", "value": 10000, "auto_release": False}
        r = await c.post("/limit", body={"type": "weight", "value": 1})
        assert r.status_code == 400 and r.json["field"] == "type"
        r = await c.post("/limit", body={"type": "time", "value": -1})
        assert r.status_code == 400 and r.json["field"] == "value"
        assert (await c.delete("/limit")).json == {"msg": "done"}
        assert (await c.delete("/limit")).json == {"msg": "no limit"}

    run(t())


def test_restart_reset_scan_describe():
    gw, app, c = _setup()

    async def t():
        r = await c.post("/restart", body={"device": "gateway"})
        assert r.json == {"msg": "restart gateway"}
        r = await c.post("/restart", body={"device": "evse"})
        assert r.json == {"msg": "restart evse"}
        r = await c.post("/restart", body={"device": "toaster"})
        assert r.status_code == 404 and r.json == {"msg": "unknown device"}
        r = await c.post("/restart", body="nope", headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and r.json == {"msg": "wrong payload"}
        r = await c.get("/restart")
        assert r.status_code == 403
        r = await c.get("/reset")
        assert r.status_code == 403
        r = await c.post("/reset")
        assert r.status_code == 403
        r = await c.post("/reset", headers={"X-Requested-With": "OpenEVSE"})
        assert r.text == "1"
        await asyncio.sleep(0.05)  # restarts are deferred until the reply is out
        assert gw.restarts == ["gateway", "evse"] and gw.resets == 1
        r = await c.get("/scan")
        assert r.json[0]["ssid"] == "HomeNet" and "rssi" in r.json[0]
        r = await c.get("/emoncms/describe")
        assert r.text == "openevse"
        r = await c.post("/savenetwork", body="ssid=HomeNet&pass=pw%26x", headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert r.text == "saved" and gw.config.get("ssid") == "HomeNet" and gw.config.get("pass") == "pw&x"
        await asyncio.sleep(0.05)
        assert gw.wifi.joined == ("HomeNet", "pw&x")
        r = await c.post("/savenetwork", body="pass=x")
        assert r.status_code == 400

    run(t())


def test_index_served_gzipped():
    gw, app, c = _setup()

    async def t():
        r = await c.get("/")
        assert r.status_code == 200
        assert r.headers["Content-Encoding"] == "gzip"
        assert r.headers["Content-Type"].startswith("text/html")
        assert r.body[:2] == b"\x1f\x8b"
        r = await c.get("/index.html")
        assert r.status_code == 200 and r.headers["Content-Encoding"] == "gzip"

    run(t())


def test_unknown_path_and_captive_portal():
    gw, app, c = _setup()
    phone = "192.168.4.7"  # a station on the AP (192.168.4.0/24, the chip's default)

    async def t():
        r = await c.get("/nothing/here")
        assert r.status_code == 404 and r.json == {"msg": "not found"}
        r = await c.get("/certificates")  # a C++ path we lack: JSON, no redirect
        assert r.status_code == 404 and r.json == {"msg": "not found"}
        r = await c.get("/generate_204")
        assert r.status_code == 404
        gw.wifi.ap.on = True
        gw.wifi.sta_up = False
        # a client on the home network is never sent to the portal, AP up or not
        r = await c.get("/generate_204", headers={"Host": "connectivitycheck.gstatic.com"})
        assert r.status_code == 404
        for p in ("/generate_204", "/hotspot-detect.html", "/connecttest.txt"):
            r = await c.get(p, headers={"Host": "192.168.4.1"}, peer=phone)
            assert r.status_code == 302 and r.headers["Location"] == "http://192.168.4.1/", p
        r = await c.get("/nothing", headers={"Host": "example.com"}, peer=phone)
        assert r.status_code == 302
        r = await c.get("/", headers={"Host": "connectivitycheck.gstatic.com"}, peer=phone)
        assert r.status_code == 302
        r = await c.get("/certificates", headers={"Host": "192.168.4.1"}, peer=phone)
        assert r.status_code == 404 and r.json == {"msg": "not found"}  # our host: an API miss
        r = await c.get("/", headers={"Host": "192.168.4.1"}, peer=phone)
        assert r.status_code == 200
        r = await c.get("/status", headers={"Host": gw.config.get("hostname") + ".local:80"}, peer=phone)
        assert r.status_code == 200
        r = await c.post("/nothing", headers={"Host": "example.com"}, peer=phone)
        assert r.status_code == 404  # only GETs are redirected
        gw.wifi.ap.on = False
        r = await c.get("/generate_204", headers={"Host": "example.com"}, peer=phone)
        assert r.status_code == 404  # AP closed: no portal

    run(t())


def test_captive_redirect_names_the_boards_ap_address_and_port():
    gw, app, c = _setup()

    class Board:
        ap_ip = "127.0.4.1"
        http_port = 8080

    gw.board = Board()
    app = create_app(gw)
    c = Client(app)
    gw.wifi.ap.on = True

    async def t():
        r = await c.get("/generate_204", headers={"Host": "127.0.4.1:8080"}, peer="127.0.4.2")
        assert r.status_code == 302 and r.headers["Location"] == "http://127.0.4.1:8080/"
        r = await c.get("/generate_204", peer="192.168.4.2")  # not the AP's network here
        assert r.status_code == 404

    run(t())


def test_basic_auth():
    gw, app, c = _setup()
    gw.config.update({"www_username": "admin", "www_password": "s3cret"})

    async def t():
        r = await c.get("/status")
        assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Basic realm=")
        r = await c.get("/status", headers={"X-Requested-With": "OpenEVSE"})
        assert r.status_code == 401 and r.json == {"msg": "auth"}
        r = await c.get("/status", headers={"Authorization": _basic("admin", "wrong")})
        assert r.status_code == 401
        r = await c.get("/status", headers={"Authorization": _basic("admin", "s3cret")})
        assert r.status_code == 200
        r = await c.post("/config", body={"mqtt_port": 1}, headers={"Authorization": _basic("admin", "x")})
        assert r.status_code == 401 and gw.config.get("mqtt_port") == 1883
        r = await c.get("/", headers={})
        assert r.status_code == 401
        r = await c.get("/ws", headers={"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
        assert r.status_code == 401
        r = await c.get("/emoncms/describe")
        assert r.status_code == 200
        # first setup: over the AP while there is no home network, the portal is open ...
        gw.wifi.ap.on = True
        gw.wifi.sta_up = False
        assert (await c.get("/status", headers={"Host": "192.168.4.1"}, peer="192.168.4.3")).status_code == 200
        # ... but never to a client of the home network, whatever the mode says
        gw.wifi.mode = "AP"
        assert (await c.get("/status")).status_code == 401
        # nor to the phone on the AP once the gateway has joined (STA+AP, the handover)
        gw.wifi.sta_up = True
        assert (await c.get("/status", headers={"Host": "192.168.4.1"}, peer="192.168.4.3")).status_code == 401

    run(t())


# ------------------------------------------------------------------ websocket
def ws_frame(opcode, payload):
    if isinstance(payload, str):
        payload = payload.encode()
    mask = b"\x01\x02\x03\x04"
    assert len(payload) < 126
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def ws_frames(raw):
    """Parse server frames after the handshake into messages: [(opcode, payload bytes)];
    a fragmented message (continuation frames) is joined, as a client would."""
    i = raw.find(b"\r\n\r\n") + 4
    out = []
    part = None
    while i < len(raw):
        fin = raw[i] & 0x80
        op = raw[i] & 0x0F
        n = raw[i + 1] & 0x7F
        i += 2
        if n == 126:
            n = int.from_bytes(raw[i:i + 2], "big")
            i += 2
        data = raw[i:i + n]
        i += n
        if op == 0:
            part = (part[0], part[1] + data)
        else:
            part = (op, data)
        if fin:
            out.append(part)
            part = None
    return out


def raw_fragments(raw):
    """How many frames the first message took."""
    i = raw.find(b"\r\n\r\n") + 4
    n = 0
    while i < len(raw):
        n += 1
        fin = raw[i] & 0x80
        ln = raw[i + 1] & 0x7F
        i += 2
        if ln == 126:
            ln = int.from_bytes(raw[i:i + 2], "big")
            i += 2
        i += ln
        if fin:
            return n
    return n


async def _ws_session(app, gw, steps, headers=None):
    h = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
         "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    h.update(headers or {})
    sock = FakeStream(request_bytes("GET", "/ws", None, h), eof=False)
    task = asyncio.create_task(app.server.serve(sock, sock))
    await asyncio.sleep(0.01)
    for s in steps:
        if callable(s):
            s()
        else:
            sock.feed(s)
        await asyncio.sleep(0.01)
    sock.feed_eof()
    await task
    return bytes(sock.out)


def test_websocket_full_then_deltas_ping_pong():
    gw, app, c = _setup()

    async def t():
        before = json.loads(json.dumps(gw.status()))
        out = await _ws_session(app, gw, [
            ws_frame(1, '{"ping":1}'),
            lambda: gw.plug(True),
            ws_frame(9, b"hb"),
            lambda: gw.set_divert_mode(2),
            ws_frame(8, b""),
        ])
        assert out.startswith(b"HTTP/1.1 101")
        fr = ws_frames(out)
        first = json.loads(fr[0][1])
        assert first == before and first["vehicle"] == 0  # full status first
        assert raw_fragments(out) > 1  # ... sent in pieces, never as one big string
        msgs = [json.loads(p) for op, p in fr[1:] if op == 1]
        assert {"pong": 1} in msgs
        plugged = [m for m in msgs if m.get("vehicle") == 1]
        assert plugged and plugged[0]["state"] == 3 and plugged[0]["amp"] == 32000
        assert {"divertmode": 2, "divert_active": True} in msgs
        assert (10, b"hb") in fr  # RFC 6455 ping answered with a pong control frame
        assert len(app.peers) == 0 and gw.bus._subs == []

    run(t())


def test_websocket_auth_and_limit():
    gw, app, c = _setup()
    gw.config.update({"www_username": "admin", "www_password": "pw"})

    async def t():
        out = await _ws_session(app, gw, [ws_frame(8, b"")], {"Authorization": _basic("admin", "pw")})
        assert out.startswith(b"HTTP/1.1 101")
        # oversized client frame closes the connection, peer cleaned up
        big = b"\x81\xfe" + (2000).to_bytes(2, "big") + b"\0\0\0\0" + b"x" * 2000
        out = await _ws_session(app, gw, [big], {"Authorization": _basic("admin", "pw")})
        assert len(app.peers) == 0

    run(t())
