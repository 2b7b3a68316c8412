"""/ws and HTTP auth against the real firmware under MicroPython with the virtual EVSE,
over real sockets: full status on connect, live deltas, JSON and RFC 6455 ping/pong,
WiFi join through /savenetwork, then Basic auth on the API and the WebSocket upgrade."""
import base64
import json
import time

from test_web_support import Firmware, WsClient, http

FW = None


def setup_module(module):
    global FW
    FW = Firmware(ev=False)


def teardown_module(module):
    if FW is not None:
        FW.stop()


def _ws(headers=None):
    return WsClient("ws://127.0.0.1:%d/ws" % FW.http_port, headers=headers, timeout=15)


def _until(ws, pred, timeout=15):
    t0 = time.time()
    while time.time() - t0 < timeout:
        m = json.loads(ws.recv())
        if pred(m):
            return m
    raise AssertionError("no matching message")


def test_ws_full_status_deltas_and_pings():
    ws = _ws()
    first = json.loads(ws.recv())
    for k in ("state", "status", "amp", "pilot", "voltage", "vehicle", "divertmode", "config_version"):
        assert k in first, k
    assert first["vehicle"] == 0
    ws.send('{"ping":1}')
    m = _until(ws, lambda m: "pong" in m)  # _until raises on a timeout; the value is checked here
    assert m == {"pong": 1}, m
    ws.send(b"hb", 9)  # RFC 6455 ping control frame
    t0 = time.time()
    while time.time() - t0 < 7:
        fin, op, data = ws.recv_frame()
        if op == 10:
            assert data == b"hb"
            break
    else:
        raise AssertionError("no pong frame within 7 s")
    FW.plug(True)
    m = _until(ws, lambda m: "vehicle" in m, timeout=20)
    assert m["vehicle"] == 1, m
    code, _ = http("POST", FW.base + "/divertmode", "divertmode=2", {"Content-Type": "text/plain"})
    assert code == 200
    m = _until(ws, lambda m: "divertmode" in m)
    assert m["divertmode"] == 2, m
    http("POST", FW.base + "/divertmode", "divertmode=1", {"Content-Type": "text/plain"})
    ws.close()


def test_wifi_join_then_basic_auth_everywhere():
    code, body = http("GET", FW.base + "/scan")
    assert code == 200 and any(n["ssid"] == "HomeNetwork" for n in body)
    code, body = http("POST", FW.base + "/savenetwork", "ssid=HomeNetwork&pass=correct+horse",
                      {"Content-Type": "application/x-www-form-urlencoded"})
    assert code == 200 and body == "saved"
    t0 = time.time()
    while http("GET", FW.base + "/status")[1].get("mode") != "STA":
        assert time.time() - t0 < 20, "did not join"
        time.sleep(0.3)
    code, body = http("POST", FW.base + "/config", {"www_username": "admin", "www_password": "s3cret"})
    assert code == 200 and body["msg"] == "done"
    code, body = http("GET", FW.base + "/status")
    assert code == 401
    code, body = http("GET", FW.base + "/status", headers={"X-Requested-With": "OpenEVSE"})
    assert code == 401 and body == {"msg": "auth"}
    good = {"Authorization": "Basic " + base64.b64encode(b"admin:s3cret").decode()}
    bad = {"Authorization": "Basic " + base64.b64encode(b"admin:nope").decode()}
    assert http("GET", FW.base + "/status", headers=good)[0] == 200
    assert http("GET", FW.base + "/config", headers=bad)[0] == 401
    assert http("GET", FW.base + "/", headers=bad)[0] == 401
    assert http("GET", FW.base + "/emoncms/describe")[1] == "openevse"
    try:
        _ws()
        raise AssertionError("unauthenticated websocket accepted")
    except ConnectionError as e:
        assert "401" in str(e)
    ws = _ws(good)
    assert "state" in json.loads(ws.recv())
    ws.close()
    # clear the credentials again (authenticated)
    code, body = http("POST", FW.base + "/config", {"www_username": "", "www_password": ""}, headers=good)
    assert code == 200
    assert http("GET", FW.base + "/status")[0] == 200
