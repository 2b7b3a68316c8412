# web/api_status.py: /status (GET: the whole status, streamed; POST: solar / grid / voltage
# feeds and vehicle data) and the /ws WebSocket (the full status, then every change).
import asyncio
import json

from compat import ticks_diff, ticks_ms, wait_for_ms
from web import ws as W
from web.server import Stream, json_pieces, write

IDLE_MS = 60000  # no frame from a client for this long: gone (the UI pings every 10 s, HA 15 s)
FEEDS = ("solar", "grid_ie", "voltage")


def _items(gw):
    it = getattr(gw, "status_items", None)  # the Gateway streams; a plain dict also works
    return it() if it is not None else gw.status().items()


def _is_num(v):
    return not isinstance(v, bool) and isinstance(v, (int, float)) and v == v


async def status_get(app, req):
    return Stream(json_pieces(_items(app.gw)))


async def status_post(app, req):
    gw = app.gw
    d = req.json()
    if not isinstance(d, dict):
        return {"msg": "Could not parse JSON"}, 400
    for k in FEEDS:
        if k in d and not _is_num(d[k]):
            return {"msg": k + " must be a number", "field": k}, 400
    try:
        # solar takes precedence over grid_ie in one body (as the C++ gateway)
        if "solar" in d:
            gw.divert_feed("solar", d["solar"])
        elif "grid_ie" in d:
            gw.divert_feed("grid_ie", d["grid_ie"])
        if "voltage" in d:
            gw.divert_feed("voltage", d["voltage"])
        extra = getattr(gw, "status_input", None)
        if extra is not None:
            for k in d:
                if k not in FEEDS:
                    extra(k, d[k])
    except ValueError as e:
        return {"msg": str(e)}, 400
    out = dict(d)
    out["vehicle_state_update"] = 0
    return out


class Peer:
    """One /ws client: bus changes merge into `pending` (never blocks the publisher); its
    sender task is the only writer of the socket after the first frame."""

    def __init__(self):
        self.pending = {}
        self.ev = asyncio.Event()
        self.pong = False
        self.ctl = []  # RFC 6455 ping payloads to answer
        self.seen = ticks_ms()
        self.task = asyncio.current_task()

    def push(self, changes):
        self.pending.update(changes)
        self.ev.set()


async def _send_pieces(w, pairs):
    # The first message is the whole status (~2.5 KB): sent as fragments, piece by piece.
    prev = None
    op = W.TEXT
    for piece in json_pieces(pairs):
        if prev is not None:
            await write(w, W.frame(op, prev.encode(), False))
            op = 0  # continuation
        prev = piece
    await write(w, W.frame(op, prev.encode()))


async def _sender(w, peer):
    try:
        while True:
            await peer.ev.wait()
            peer.ev.clear()
            while peer.ctl:
                await write(w, W.frame(W.PONG, peer.ctl.pop(0)))
            if peer.pong:
                peer.pong = False
                await write(w, W.frame(W.TEXT, b'{"pong":1}'))
            if peer.pending:
                d = peer.pending
                peer.pending = {}
                await write(w, W.frame(W.TEXT, json.dumps(d).encode()))
    except Exception as e:  # a client that stopped reading (write deadline) or went away
        print("web: websocket send failed:", repr(e))
        peer.task.cancel()


async def ws(app, req):
    err = W.handshake_error(req)
    if err is not None:
        return err
    gw = app.gw
    peers = app.peers
    if len(peers) >= app.max_ws:
        # full: the least recently active client makes room (a stale tab, not the newcomer)
        old = peers[0]
        for p in peers:
            if ticks_diff(p.seen, old.seen) < 0:
                old = p
        peers.remove(old)
        old.task.cancel()
    conn = getattr(req, "conn", None)
    if conn is not None:
        app.server.release(conn)  # a WebSocket does not hold one of the request slots
    w = req.writer
    await write(w, W.handshake(req).encode())
    peer = Peer()
    peer.ap = app.via_ap(req)  # a phone on the AP during the handover: see net/wifi.py
    peers.append(peer)
    gw.bus.subscribe(peer.push)
    sender = None
    why = None
    try:
        await _send_pieces(w, _items(gw))
        sender = asyncio.create_task(_sender(w, peer))
        while True:
            op, payload = await wait_for_ms(W.read_frame(req.reader), IDLE_MS)
            peer.seen = ticks_ms()
            if op == W.CLOSE:
                break
            if op == W.PING:
                peer.ctl.append(payload)
                peer.ev.set()
            elif op == W.TEXT:
                try:
                    m = json.loads(payload)
                except ValueError:
                    m = None
                if isinstance(m, dict) and "ping" in m:
                    peer.pong = True
                    peer.ev.set()
    except W.Closed:
        why = "frame too large or unmasked"
    except asyncio.TimeoutError:
        why = "idle %d s" % (IDLE_MS // 1000)
    except (EOFError, OSError) as e:
        why = "gone (%r)" % e
    finally:
        gw.bus.unsubscribe(peer.push)
        if peer in peers:
            peers.remove(peer)
        if sender is not None:
            sender.cancel()
        if why:
            print("web: websocket dropped:", why)
    return None
