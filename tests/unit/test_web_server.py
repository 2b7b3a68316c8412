# web/server.py on fake streams: request parsing and its limits, the connection cap
# (slow heads evicted, 503 when full), and the WebSocket cap and idle timeout.
# Plain test_* functions: run under CPython (pytest) and MicroPython (tests/run_mpy.py).
import asyncio

from web import server as S
from web.app import create_app
from webclient import Client, FakeStream, Response, request_bytes
from webfake import FakeGateway


def _app(max_conn=2):
    gw = FakeGateway()
    app = create_app(gw)
    app.server.max_conn = max_conn
    app.restart_delay_ms = 0
    return gw, app


def run(coro):
    return asyncio.run(coro)


async def _raw(app, data):
    s = FakeStream(data)
    await app.server.serve(s, s)
    return Response(s.out)


def test_unquote_and_query():
    assert S.unquote("a+b%20c%24") == "a b c$"
    assert S.unquote("%zz%4") == "%zz%4"  # malformed escapes stay as they are
    assert S.parse_qs("rapi=%24GS+0&json=1&bare") == {"rapi": "$GS 0", "json": "1", "bare": ""}
    try:
        S.unquote("%ff%fe")
        ok = False
    except UnicodeError:
        ok = True
    assert ok  # invalid UTF-8 is an error, never stored


def test_json_pieces_are_valid_json_in_bounded_pieces():
    import json

    pairs = [("k%d" % i, "v" * 40) for i in range(60)]
    pieces = list(S.json_pieces(pairs, size=256))
    assert len(pieces) > 5
    for p in pieces[:-1]:
        assert len(p) < 256 + 60
    assert json.loads("".join(pieces)) == dict(pairs)
    assert json.loads("".join(S.json_pieces([]))) == {}


def test_bad_requests_get_400_and_limits():
    gw, app = _app()

    async def t():
        r = await _raw(app, b"GARBAGE\r\n\r\n")
        assert r.status_code == 400
        r = await _raw(app, b"GET status HTTP/1.1\r\n\r\n")
        assert r.status_code == 400
        r = await _raw(app, b"GET /status HTTP/1.1\r\nX: " + b"a" * 4000 + b"\r\n\r\n")
        assert r.status_code == 400  # head larger than MAX_HEAD
        r = await _raw(app, b"POST /config HTTP/1.1\r\nContent-Length: 99999\r\n\r\n")
        assert r.status_code == 413  # refused before reading the body
        r = await _raw(app, b"POST /config HTTP/1.1\r\nContent-Length: -1\r\n\r\n")
        assert r.status_code == 400
        r = await _raw(app, b"POST /config HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        assert r.status_code == 400
        r = await _raw(app, b"GET /st%ffatus HTTP/1.1\r\n\r\n")
        assert r.status_code == 400
        r = await _raw(app, b"GET /status HTTP/1.0\n\n")  # bare newlines are accepted
        assert r.status_code == 200 and r.json["state"] == 1
        # a truncated body: the client went away, nothing is answered and nothing applied
        r = await _raw(app, b"POST /config HTTP/1.1\r\nContent-Length: 40\r\n\r\n{\"mqtt_port\":")
        assert r.status_code == 0 and gw.config.get("mqtt_port") == 1883

    run(t())


def test_every_reply_closes_and_has_length_or_is_streamed():
    gw, app = _app()

    async def t():
        r = await Client(app).get("/override")
        assert r.headers["Connection"] == "close" and r.headers["Content-Length"] == "2"
        r = await Client(app).get("/status")
        assert "Content-Length" not in r.headers and r.json["state"] == 1  # streamed

    run(t())


def test_head_and_unknown_methods_never_act():
    gw, app = _app()

    async def t():
        c = Client(app)
        r = await c.request("HEAD", "/reset")
        assert r.status_code == 405
        r = await c.request("PUT", "/restart", body={"device": "gateway"})
        assert r.status_code == 405
        await asyncio.sleep(0.02)
        assert gw.resets == 0 and gw.restarts == []

    run(t())


def test_header_values_never_carry_line_breaks():
    h = S.head(401, "text/plain", 0, {"WWW-Authenticate": 'Basic realm="a\r\nSet-Cookie: x"'})
    lines = h.split("\r\n")
    assert len(lines) == 7 and not [ln for ln in lines if ln.startswith("Set-Cookie")]
    assert 'realm="a  Set-Cookie: x"' in h  # the break became spaces inside the one value


def test_slow_heads_make_room_for_newcomers():
    gw, app = _app(max_conn=1)
    app.server.max_heads = 2

    async def t():
        slow = [FakeStream(b"GET /sta", eof=False) for _ in range(2)]
        tasks = [asyncio.create_task(app.server.serve(s, s)) for s in slow]
        await asyncio.sleep(0.02)
        assert len(app.server._heads) == 2
        # a real client sends its whole head at once: it takes the oldest slow one's place
        r = await Client(app).get("/status")
        assert r.status_code == 200 and r.json["state"] == 1
        assert app.server.evicted == 1 and slow[0].closed and not slow[1].closed
        assert bytes(slow[0].out) == b""  # dropped without an answer: it asked for nothing
        slow[1].feed(b"tus HTTP/1.1\r\n\r\n")  # the other one finishes: served
        for tk in tasks:
            try:
                await tk
            except asyncio.CancelledError:
                pass
        assert Response(slow[1].out).status_code == 200
        assert app.server._heads == [] and app.server._busy == []

    run(t())


def test_full_server_waits_then_answers_503():
    gw, app = _app(max_conn=1)
    app.server.wait_ms = 100
    app.server.max_wait = 1

    async def t():
        # a request whose body is still coming holds the only slot
        busy = FakeStream(b"POST /status HTTP/1.1\r\nContent-Type: application/json\r\n"
                          b"Content-Length: 15\r\n\r\n{\"solar\"", eof=False)
        tb = asyncio.create_task(app.server.serve(busy, busy))
        await asyncio.sleep(0.01)
        waiter = FakeStream(request_bytes("GET", "/override"))
        tw = asyncio.create_task(app.server.serve(waiter, waiter))
        await asyncio.sleep(0.01)
        r = await Client(app).get("/override")  # a second waiter is one too many
        assert r.status_code == 503 and r.json == {"msg": "too many connections"}
        await tw  # the waiter got no slot within wait_ms either
        assert Response(waiter.out).status_code == 503
        busy.feed(b": 1500}")
        await tb
        assert Response(busy.out).status_code == 200 and gw.feeds["solar"] == 1500
        assert app.server.refused == 2
        r = await Client(app).get("/override")  # free again
        assert r.status_code == 200

    run(t())


def test_head_deadline_closes_the_connection():
    gw, app = _app()
    app.server.head_ms = 50

    async def t():
        s = FakeStream(b"GET /status HTTP/1.1\r\nHost: x\r\n", eof=False)
        await app.server.serve(s, s)
        assert s.closed and bytes(s.out) == b""
        assert app.server._heads == [] and app.server._busy == []

    run(t())


def _upgrade():
    return request_bytes("GET", "/ws", None, {
        "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})


def test_websocket_cap_replaces_least_recently_active_and_frees_request_slots():
    gw, app = _app(max_conn=1)
    app.max_ws = 2

    async def t():
        socks = []
        tasks = []
        for _ in range(3):
            s = FakeStream(_upgrade(), eof=False)
            socks.append(s)
            tasks.append(asyncio.create_task(app.server.serve(s, s)))
            await asyncio.sleep(0.02)
        assert len(app.peers) == 2
        assert socks[0].closed and not socks[1].closed and not socks[2].closed
        assert bytes(socks[1].out).startswith(b"HTTP/1.1 101")
        # upgraded sockets do not hold the single request slot
        r = await Client(app).get("/override")
        assert r.status_code == 200
        for s in socks[1:]:
            s.feed_eof()
        for tk in tasks:
            try:
                await tk
            except asyncio.CancelledError:
                pass
        assert app.peers == [] and gw.bus._subs == []

    run(t())


def test_websocket_idle_timeout():
    from web import api_status

    gw, app = _app()
    old = api_status.IDLE_MS
    api_status.IDLE_MS = 50

    async def t():
        s = FakeStream(_upgrade(), eof=False)
        await app.server.serve(s, s)  # returns once the idle client is dropped
        assert s.closed and app.peers == []

    try:
        run(t())
    finally:
        api_status.IDLE_MS = old


def test_cold_route_groups_are_not_kept_in_memory():
    import sys

    gw, app = _app()

    async def t():
        r = await Client(app).get("/config")
        assert r.status_code == 200 and r.json["mqtt_port"] == 1883
        assert "web.api_settings" not in sys.modules
        r = await Client(app).get("/override")
        assert "web.api_control" in sys.modules  # a hot group stays

    run(t())


def test_listening_socket_is_closed_when_the_task_ends():
    # A web task that is cancelled (or crashes) and is started again must be able to bind
    # the same port: the old listening socket is closed on the way out.
    import random

    gw, app = _app()
    port = random.randint(20000, 32000)  # below Linux's ephemeral range (32768-60999)

    async def t():
        for _ in range(3):
            task = asyncio.create_task(app.server.run("127.0.0.1", port))
            for _ in range(200):  # a loaded machine may take a while to schedule it
                await asyncio.sleep(0.01)
                if app.server.listening:
                    break
            assert app.server.listening
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            assert not app.server.listening

    run(t())
