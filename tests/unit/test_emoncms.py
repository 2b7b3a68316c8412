# Emoncms poster pure helpers: URL-encoding, input JSON, request, reply parsing, backoff.
# Plain assert functions (CPython pytest + MicroPython tests/run_mpy.py).
import json
import sys

try:
    from net import emoncms as E
except ImportError:
    sys.path.insert(0, __file__.rsplit("/tests/", 1)[0] + "/firmware")
    from net import emoncms as E

STATUS = {
    "amp": 16020, "voltage": 240, "power": 3845, "pilot": 16, "max_current": 32,
    "watthour": 123456, "total_energy": 123.456, "session_energy": 2500, "temp": 235,
    "temp1": 230, "temp2": False, "temp3": 241, "temp4": False, "state": 3, "vehicle": 1,
    "manual_override": 0, "divertmode": 1, "freeram": 81234, "srssi": -61,
    "status": "active", "time": "2024-01-01T00:00:00Z", "divert_active": False,
}


def _unquote(s):
    out = bytearray()
    i = 0
    while i < len(s):
        if s[i] == "%":
            out.append(int(s[i + 1:i + 3], 16))
            i += 3
        else:
            out.append(ord(s[i]))
            i += 1
    return bytes(out).decode()


def _query(target):
    q = {}
    for part in target.split("?", 1)[1].split("&"):
        k, v = part.split("=", 1)
        q[k] = _unquote(v)
    return q


def test_urlencode_unreserved_kept():
    assert E.urlencode("AZaz09-_.~") == "AZaz09-_.~"


def test_urlencode_json_and_specials():
    assert E.urlencode('{"amp":1}') == "%7B%22amp%22%3A1%7D"
    assert E.urlencode("a b&c=d/e?f#g+h%") == "a%20b%26c%3Dd%2Fe%3Ff%23g%2Bh%25"
    assert E.urlencode("") == ""


def test_urlencode_utf8():
    assert E.urlencode("\u00b0C") == "%C2%B0C"
    assert _unquote(E.urlencode("n\u00f6de \u00b0")) == "n\u00f6de \u00b0"


def test_inputs_template_keys_and_units():
    d = dict(E.inputs(STATUS))
    # the Emoncms "OpenEVSE" device template inputs
    for k in ("amp", "wh", "temp1", "state", "vehicle", "manual_override", "pilot",
              "divertmode"):
        assert k in d, k
    assert d["amp"] == 16020  # mA, as the template scales by 0.001
    assert d["wh"] == 123456  # total Wh (template: x0.001 -> kWh accumulator)
    assert d["temp1"] == 230  # 0.1 degC (template: x0.1)
    assert d["session_energy"] == 2500 and d["voltage"] == 240 and d["power"] == 3845
    assert d["state"] == 3 and d["pilot"] == 16 and d["srssi"] == -61


def test_inputs_only_integers_and_no_missing_sensors():
    d = dict(E.inputs(STATUS))
    for k, v in d.items():
        assert isinstance(v, int) and not isinstance(v, bool), (k, v)
    assert "temp2" not in d and "temp4" not in d  # False = no sensor: left out
    assert "status" not in d and "time" not in d and "total_energy" not in d


def test_inputs_order_and_rounding():
    names = [k for k, _ in E.inputs(STATUS)]
    want = [n for n in E.INPUTS.split() if n in names]
    assert names == want
    d = dict(E.inputs({"amp": 1499.6, "temp": -12.5, "voltage": float("nan"), "vehicle": True}))
    assert d == {"amp": 1500, "temp": -13, "vehicle": 1}
    assert E.inputs({}) == []


def test_to_json_is_valid_and_ordered():
    pairs = E.inputs(STATUS)
    s = E.to_json(pairs)
    assert json.loads(s) == dict(pairs)
    assert s.startswith('{"amp":16020,"voltage":240,')
    assert E.to_json([]) == "{}"


def test_parse_server_forms():
    assert E.parse_server("https://emoncms.org") == (True, "emoncms.org", 443, "")
    assert E.parse_server("http://emonpi.local/emoncms/") == (False, "emonpi.local", 80, "/emoncms")
    assert E.parse_server("HTTP://10.0.0.5:8080/") == (False, "10.0.0.5", 8080, "")
    assert E.parse_server("data.openevse.com/emoncms") == (False, "data.openevse.com", 80, "/emoncms")
    assert E.parse_server(" https://h:8443/a/b ") == (True, "h", 8443, "/a/b")


def test_parse_server_rejects():
    for bad in ("", "   ", "ftp://x", "http://", "http://h:0", "http://h:99999", "http://h:ab",
                "http://user@h/"):
        try:
            E.parse_server(bad)
        except ValueError:
            continue
        raise AssertionError("accepted %r" % bad)


def test_post_path_matches_cpp_request():
    t = E.post_path("/emoncms", '{"amp":1,"state":3}', "openevse-e5f6", "abc123")
    assert t.startswith("/emoncms/input/post?fulljson=")
    q = _query(t)
    assert q == {"fulljson": '{"amp":1,"state":3}', "node": "openevse-e5f6", "apikey": "abc123"}
    assert list(k.split("=")[0] for k in t.split("?")[1].split("&")) == ["fulljson", "node", "apikey"]
    # a node or key with reserved characters cannot break the query
    q = _query(E.post_path("", "{}", "my node&x=1", "k#1"))
    assert q["node"] == "my node&x=1" and q["apikey"] == "k#1"


def test_build_request():
    r = E.build_request("emoncms.org", 443, "/input/post?x=1", True)
    assert r.startswith(b"GET /input/post?x=1 HTTP/1.0\r\nHost: emoncms.org\r\n")
    assert r.endswith(b"\r\n\r\n") and b"Connection: close\r\n" in r
    assert b"Host: 127.0.0.1:8080\r\n" in E.build_request("127.0.0.1", 8080, "/", False)
    assert b"Host: h\r\n" in E.build_request("h", 80, "/", False)


def test_parse_response():
    raw = b'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 17\r\n\r\n{"success": true}'
    assert E.parse_response(raw) == (200, b'{"success": true}')
    raw = b"HTTP/1.0 401 Unauthorized\r\nContent-Length: 15\r\n\r\nInvalid API keyEXTRA"
    assert E.parse_response(raw) == (401, b"Invalid API key")
    assert E.parse_response(b"HTTP/1.0 200 OK\r\n\r\nok") == (200, b"ok")
    assert E.parse_response(b"HTTP/1.0 200 OK\n\nok") == (200, b"ok")
    assert E.parse_response(b"HTTP/1.0 200 OK\r\nX: y") == (200, b"")  # cut short


def test_parse_response_garbage():
    for raw in (b"", b"\x00\xffNOT HTTP", b"HTTP/1.0\r\n\r\n", b"HTTP/1.0 2x0 OK\r\n\r\n",
                b"<html>ok</html>"):
        try:
            E.parse_response(raw)
        except ValueError:
            continue
        raise AssertionError("accepted %r" % raw)


def test_parse_reply_success_forms():
    assert E.parse_reply(200, b'{"success": true}') == (True, "ok")
    assert E.parse_reply(200, b'{"success":true,"message":"done"}') == (True, "done")
    assert E.parse_reply(200, b"ok") == (True, "ok")
    assert E.parse_reply(200, b" ok\n") == (True, "ok")


def test_parse_reply_failures():
    ok, msg = E.parse_reply(200, b'{"success": false, "message": "Input must be a JSON object"}')
    assert not ok and msg == "Input must be a JSON object"
    ok, msg = E.parse_reply(401, b"Invalid API key")
    assert not ok and msg == "HTTP 401: Invalid API key"
    assert E.parse_reply(200, b"") == (False, "Empty reply")  # a read-only key
    assert E.parse_reply(200, b'"Authentication Required"')[0] is False
    assert E.parse_reply(200, b'{"success": "yes"}')[0] is False
    assert E.parse_reply(200, b"[1, 2]")[0] is False
    assert E.parse_reply(200, b"OK")[0] is False
    assert E.parse_reply(500, b"ok")[0] is False
    assert E.parse_reply(502, b"") == (False, "HTTP 502")
    assert E.parse_reply(200, b"\xff\xfe garbage")[0] is False


def test_parse_reply_message_capped():
    ok, msg = E.parse_reply(200, b"x" * 500)
    assert not ok and len(msg) == E.MAX_MSG


def test_backoff():
    assert E.backoff_ms(0) == E.PERIOD == 30000
    assert E.backoff_ms(1) == 30000
    assert [E.backoff_ms(n) for n in (2, 3, 4, 5, 6, 50)] == [60000, 120000, 240000, 300000,
                                                             300000, 300000]


def test_complete():
    assert not E._complete(bytearray(b"HTTP/1.0 200 OK\r\n"))
    assert not E._complete(bytearray(b"HTTP/1.0 200 OK\r\n\r\nok"))  # no length: read to EOF
    assert not E._complete(bytearray(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok"))
    assert E._complete(bytearray(b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok"))
