# web/app.py: the OpenEVSE-compatible HTTP + WebSocket API and the web UI, on microdot 2.x.
# Every handler is async (see docs/web.md). The routes only translate HTTP to calls on the
# Gateway container `gw`; they keep no state of their own apart from the open WebSockets.
import json
import binascii
import asyncio

from microdot import Microdot, Request, Response, redirect
from microdot.websocket import WebSocket, websocket_upgrade

import claims as _claims

try:
    _HERE = __file__.rsplit("/", 1)[0]
except NameError:  # frozen / no __file__
    _HERE = "web"

MASK = "_DUMMY_PASSWORD"
AP_IP = "192.168.4.1"
MAX_WS = 5  # concurrent /ws clients (each costs a task and a frame buffer)
LIMIT_TYPES = ("time", "energy", "soc", "range")
PROBES = (
    "/generate_204",
    "/gen_204",
    "/hotspot-detect.html",
    "/library/test/success.html",
    "/connecttest.txt",
    "/ncsi.txt",
    "/redirect",
    "/canonical.html",
    "/success.txt",
)
GET = ("GET",)
POST = ("POST",)
PATCH = ("PATCH",)
DELETE = ("DELETE",)
GP = ("GET", "POST")
JSON_CT = {"Content-Type": "application/json"}
TEXT_CT = {"Content-Type": "text/plain"}


def _msg(text, code=200, field=None):
    d = {"msg": text}
    if field:
        d["field"] = field
    return d, code


async def _maybe_await(r):
    # coroutine objects (CPython) and generators (MicroPython) both have send()
    if hasattr(r, "send"):
        r = await r
    return r


def _json_body(req):
    """Parse the body as JSON whatever the Content-Type; None when absent or invalid."""
    try:
        return json.loads(req.body)
    except (ValueError, TypeError):
        return None


def _params(req):
    """Query string merged with a k=v&... body, regardless of Content-Type (the OpenEVSE
    clients post /divertmode, /shaper and /r forms as text/plain)."""
    d = {}
    for k in req.args:
        d[k] = req.args[k]
    body = req.body
    if body and body[:1] not in (b"{", b"["):
        try:
            form = req._parse_urlencoded(body)
        except Exception:
            form = {}
        for k in form:
            d[k] = form[k]
    return d


def _is_num(v):
    return not isinstance(v, bool) and isinstance(v, (int, float)) and v == v


def _json_chunks(pairs, size=512):
    """Serialise (key, value) pairs as a JSON object in chunks so /status and /config never
    build one big string."""
    buf = "{"
    first = True
    for k, v in pairs:
        item = json.dumps(k) + ":" + json.dumps(v)
        buf = buf + item if first else buf + "," + item
        first = False
        if len(buf) >= size:
            yield buf
            buf = ""
    yield buf + "}"


def _stream_json(pairs, code=200):
    return Response(_json_chunks(pairs), code, JSON_CT)


def _is_ip(h):
    for c in h:
        if c not in "0123456789.":
            return False
    return True


def _eq(a, b):
    # constant-time-ish comparison of two strings
    if len(a) != len(b):
        return False
    r = 0
    for i in range(len(a)):
        r |= ord(a[i]) ^ ord(b[i])
    return r == 0


def _html_escape(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("'", "&#39;").replace('"', "&quot;")


def _rapi_cmd(raw):
    """Normalise a RAPI command from a client: leading $ added, ^xx checksum stripped."""
    cmd = raw.strip()
    i = cmd.find("^")
    if i >= 0:
        cmd = cmd[:i].rstrip()
    if cmd and cmd[0] != "$":
        cmd = "$" + cmd
    return cmd


_RAPI_FORM = (
    "<html><form method='get' action='r'><input type='text' name='rapi' size='32'>"
    "<input type='hidden' name='json' value='0' disabled><p><input type='submit' value='RAPI Command'>"
    "</form>"
)
_RAPI_TAIL = "<script type='text/javascript'>document.getElementsByName('rapi')[0].focus()</script><p></html>\r\n\r\n"


# settings that live in the controller: /config shows what it reports
_LIVE_KEYS = ("max_current_soft",)


def _config_info(gw):
    """Read-only /config keys the OpenEVSE clients need (HA's test_and_get wants wifi_serial,
    version gates want a semver >= 5.0.0). Anything the config already has wins."""
    info = getattr(gw, "config_info", None)
    if info is not None:
        return info()
    m = getattr(gw, "model", None)
    board = getattr(gw, "board", None)
    ver = str(getattr(gw, "version", "5.1.0"))
    flags = getattr(m, "flags", 0) or 0
    d = {
        "version": ver if ver[:1] == "v" else "v" + ver,
        "wifi_serial": getattr(gw, "serial", ""),
        "buildenv": getattr(board, "BUILDENV", "micropython"),
        "build": getattr(gw, "build", ""),
        "firmware": getattr(m, "fw", "") or "-",
        "protocol": "-",
        "evse_serial": "",
        "mqtt_supported_protocols": ["mqtt"],
        "http_supported_protocols": ["http"],
        "min_current_hard": getattr(m, "min_a", 6),
        "max_current_hard": getattr(m, "hw_max_a", 32),
        "max_current_soft": getattr(m, "max_a", 32),
        "service": 2 if (m is None or flags & 1) else 1,
        "scale": 220,
        "offset": 0,
        "diode_check": not flags & 0x02,
        "vent_check": not flags & 0x04,
        "ground_check": not flags & 0x08,
        "relay_check": not flags & 0x10,
        "gfci_check": not flags & 0x200,
        "temp_check": True,
        "diodet": 1 if flags & 0x02 else 0,
        "ventt": 1 if flags & 0x04 else 0,
        "groundt": 1 if flags & 0x08 else 0,
        "relayt": 1 if flags & 0x10 else 0,
        "gfcit": 1 if flags & 0x200 else 0,
        "tempt": 0,
    }
    return d


class _Path:
    """A route's URL pattern, matched without a regex: a fixed path, or a prefix and one
    trailing integer segment ("/claims/<int:client>"). microdot's URLPattern compiles a regex
    per route on its first match and keeps it (about 40 routes here)."""

    def __init__(self, url):
        i = url.find("<int:")
        self.url = url if i < 0 else url[:i]
        self.arg = None if i < 0 else url[i + 5:-1]

    def match(self, path):
        """The route's arguments when path matches, else None (URLPattern.match)."""
        if self.arg is None:
            return {} if path == self.url else None
        if not path.startswith(self.url):
            return None
        v = path[len(self.url):]
        digits = v[1:] if v[:1] == "-" else v
        if not digits:
            return None
        for c in digits:
            if c not in "0123456789":
                return None
        return {self.arg: int(v)}


class _Peer:
    """One /ws client: changes from the bus are merged into `pending` (non-blocking) and
    its sender task writes them out."""

    def __init__(self):
        self.pending = {}
        self.ev = asyncio.Event()
        self.pong = False
        self.ctl = []  # RFC 6455 ping payloads to answer

    def push(self, changes):
        self.pending.update(changes)
        self.ev.set()


def create_app(gw, static_dir=None):
    Request.max_content_length = 4096
    Request.max_body_length = 4096
    WebSocket.max_message_length = 1024
    static = static_dir or getattr(getattr(gw, "board", None), "static_dir", None) or (_HERE + "/static")
    app = Microdot()
    app.restart_delay_ms = 500
    peers = []
    paths = {}  # url -> _Path, shared by the routes of one URL (only while building)

    def route(url, methods=GET):
        # app.route() with a light pattern object; microdot's url_map entries are
        # (methods, pattern, handler, url_prefix, subapp)
        def add(f):
            p = paths.get(url)
            if p is None:
                p = paths[url] = _Path(url)
            app.url_map.append((methods, p, f, "", None))
            return f

        return add

    def cfg(key, default=None):
        try:
            v = gw.config.get(key)
        except KeyError:
            v = None
        return default if v is None else v

    def ap_mode():
        w = getattr(gw, "wifi", None)
        return w is not None and getattr(w, "mode", None) == "AP"

    def later(fn, *args):
        async def run():
            await asyncio.sleep(app.restart_delay_ms / 1000)
            await _maybe_await(fn(*args))

        asyncio.create_task(run())

    def config_version():
        v = getattr(gw.config, "version", None)
        if isinstance(v, int) and not isinstance(v, bool):
            return v
        return gw.status().get("config_version", 0)

    # ---------------------------------------------------------------- auth
    @app.before_request
    async def check_auth(req):
        if req.path == "/emoncms/describe":
            return None
        user = cfg("www_username", "")
        pw = cfg("www_password", "")
        if not user and not pw:
            return None
        if ap_mode():  # AP-only: the setup portal stays reachable (as the C++ gateway)
            return None
        h = req.headers.get("Authorization", "")
        if h[:6].lower() == "basic ":
            try:
                u, _, p = binascii.a2b_base64(h[6:].strip()).decode().partition(":")
                ok_u = _eq(u, user)
                ok_p = _eq(p, pw)
                if ok_u and ok_p:
                    return None
            except Exception:
                pass
        if req.headers.get("X-Requested-With") == "OpenEVSE":
            return Response({"msg": "auth"}, 401)
        realm = cfg("hostname", "openevse")
        return Response("Unauthorized", 401, {"WWW-Authenticate": 'Basic realm="%s"' % realm, "Content-Type": "text/plain"})

    # ---------------------------------------------------------------- static UI
    @route("/")
    async def index(req):
        host = req.headers.get("Host", "").split(":")[0]
        # captive portal: a phone probing some other site by name gets sent to us
        if ap_mode() and host and not _is_ip(host) and host != "localhost" and not host.startswith(cfg("hostname", "openevse")):
            return redirect("http://%s/" % AP_IP)
        return Response.send_file(static + "/index.html", compressed=True, file_extension=".gz")

    @route("/index.html")
    async def index2(req):
        return Response.send_file(static + "/index.html", compressed=True, file_extension=".gz")

    async def probe(req):
        if ap_mode():
            return redirect("http://%s/" % AP_IP)
        return "", 404

    for p in PROBES:
        route(p)(probe)

    @app.errorhandler(404)
    async def not_found(req):
        if ap_mode():
            return redirect("http://%s/" % AP_IP)
        return "", 404

    # ---------------------------------------------------------------- status
    @route("/status")
    async def status_get(req):
        it = getattr(gw, "status_items", None)  # the Gateway streams; a plain dict also works
        return _stream_json(it() if it is not None else gw.status().items())

    @route("/status", POST)
    async def status_post(req):
        d = _json_body(req)
        if not isinstance(d, dict):
            return _msg("Could not parse JSON", 400)
        for k in ("solar", "grid_ie", "voltage"):
            if k in d and not _is_num(d[k]):
                return _msg(k + " must be a number", 400, k)
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
                    if k not in ("solar", "grid_ie", "voltage"):
                        extra(k, d[k])
        except ValueError as e:
            return _msg(str(e), 400)
        out = dict(d)
        out["vehicle_state_update"] = 0
        return out

    # ---------------------------------------------------------------- config
    @route("/config")
    async def config_get(req):
        d = gw.config.public()
        for k, v in _config_info(gw).items():
            if k not in d or k in _LIVE_KEYS:
                d[k] = v
        return _stream_json(d.items())

    @route("/config", POST)
    async def config_post(req):
        if req.headers.get("X-Storage") == "factory":
            return _msg("Factory settings locked", 423)
        d = _json_body(req)
        if not isinstance(d, dict):
            return _msg("Could not parse JSON", 400)
        for k in list(d):
            if d[k] == MASK:  # the masked secret posted back: leave it unchanged
                del d[k]
        try:
            changed = gw.config.update(d)
        except Exception as e:
            field = getattr(e, "field", None)
            if field is None and not isinstance(e, ValueError):
                raise
            return _msg(getattr(e, "msg", None) or str(e), 400, field)
        return {"config_version": config_version(), "msg": "done" if changed else "no change"}

    @route("/savenetwork", GP)
    async def save_network(req):
        p = _params(req)
        ssid = p.get("ssid", "")
        if not ssid:
            return "No SSID", 400, TEXT_CT
        pw = p.get("pass", "")
        d = {"ssid": ssid}
        if pw != MASK:
            d["pass"] = pw
        try:
            gw.config.update(d)
        except Exception as e:
            field = getattr(e, "field", None)
            if field is None and not isinstance(e, ValueError):
                raise
            return _msg(getattr(e, "msg", None) or str(e), 400, field)
        connect = getattr(gw.wifi, "connect", None)  # else the WiFi manager reacts to the config change
        if connect is not None:
            later(connect, ssid, cfg("pass", ""))
        return "saved", 200, TEXT_CT

    # ---------------------------------------------------------------- RAPI
    @route("/r", GP)
    async def rapi(req):
        p = _params(req)
        as_json = "json" in p and p["json"] != "0"
        raw = p.get("rapi", "")
        if not raw:
            if as_json:
                return {"cmd": "", "error": "RAPI_RESPONSE_NO_COMMAND"}, 400
            return _RAPI_FORM + "</html>\r\n\r\n", 200, {"Content-Type": "text/html"}
        ok, reply = await gw.rapi_passthrough(_rapi_cmd(raw))
        if as_json:
            if ok:
                return {"cmd": raw, "ret": reply}
            code = 400 if reply == "RAPI_RESPONSE_BLOCKED" else 500
            return {"cmd": raw, "error": reply}, code
        body = _RAPI_FORM + "<p>RAPI Command Sent: " + _html_escape(raw) + "<p>&gt;"
        if ok:
            body += _html_escape(reply)
        else:
            body += "<p><strong>Error:</strong>" + reply
        return body + _RAPI_TAIL, 200 if ok else (400 if reply == "RAPI_RESPONSE_BLOCKED" else 500), {"Content-Type": "text/html"}

    route("/rapi", GP)(rapi)

    # ---------------------------------------------------------------- override
    @route("/override")
    async def override_get(req):
        return gw.override_get() or {}

    @route("/override", POST)
    async def override_post(req):
        d = _json_body(req)
        if not isinstance(d, dict):
            return _msg("Failed to parse JSON", 400)
        try:
            props = _claims.validate_props(d)
        except _claims.ClaimError as e:
            s = str(e)
            return _msg(s, 400, s.split(" ")[0] if s.split(" ")[0] in _claims.PROPS else None)
        await _maybe_await(gw.override_set(props))
        return _msg("Created", 201)

    @route("/override", PATCH)
    async def override_patch(req):
        await _maybe_await(gw.override_toggle())
        return _msg("Updated")

    @route("/override", DELETE)
    async def override_delete(req):
        await _maybe_await(gw.override_clear())
        return _msg("Deleted")

    # ---------------------------------------------------------------- claims
    @route("/claims")
    async def claims_list(req):
        return gw.claims.list()

    @route("/claims/target")
    async def claims_target(req):
        props, winners = gw.claims.target()
        return {"properties": props, "claims": winners}

    @route("/claims/<int:client>")
    async def claim_get(req, client):
        c = gw.claims.get(client)
        if c is None:
            return _msg("Not found", 404)
        return c

    @route("/claims/<int:client>", POST)
    async def claim_post(req, client):
        d = _json_body(req)
        if not isinstance(d, dict):
            return _msg("Could not parse JSON", 400)
        try:
            props = _claims.validate_props(d)
            gw.claims.replace(client, _claims.API, props)
        except _claims.ClaimError as e:
            return _msg("Could not make claim: " + str(e), 400)
        return _msg("done")

    @route("/claims/<int:client>", DELETE)
    async def claim_delete(req, client):
        if gw.claims.release(client):
            return _msg("done")
        return _msg("Not found", 404)

    # ---------------------------------------------------------------- divert, limit
    @route("/divertmode", GP)
    async def divertmode(req):
        v = _params(req).get("divertmode", "")
        try:
            gw.set_divert_mode(int(v))
        except ValueError:
            return "divertmode must be 1 or 2", 400, TEXT_CT
        return "Divert Mode changed", 200, TEXT_CT

    @route("/shaper", GP)
    async def shaper(req):
        fn = getattr(gw, "set_shaper", None)
        if fn is None:
            return "", 404
        v = _params(req).get("shaper", "")
        if v not in ("0", "1"):
            return "shaper must be 0 or 1", 400, TEXT_CT
        fn(v == "1")
        return "Current Shaper state changed", 200, TEXT_CT

    @route("/limit")
    async def limit_get(req):
        return gw.limit_get() or {}

    @route("/limit", POST)
    async def limit_post(req):
        d = _json_body(req)
        if not isinstance(d, dict):
            return _msg("Could not parse JSON", 400)
        t = d.get("type")
        if t not in LIMIT_TYPES:
            return _msg("type must be time, energy, soc or range", 400, "type")
        v = d.get("value")
        if not _is_num(v) or v < 0:
            return _msg("value must be a number >= 0", 400, "value")
        ar = d.get("auto_release", d.get("release", True))
        if not isinstance(ar, bool):
            return _msg("auto_release must be true or false", 400, "auto_release")
        await _maybe_await(gw.limit_set({"type": t, "value": int(v), "auto_release": ar}))
        return _msg("done", 201)

    @route("/limit", DELETE)
    async def limit_delete(req):
        if await _maybe_await(gw.limit_clear()) is False:
            return _msg("no limit")
        return _msg("done")

    # ---------------------------------------------------------------- system
    @route("/restart", GP)
    async def restart(req):
        if req.method == "GET":
            if req.headers.get("X-Requested-With") is None:
                return "", 403
            later(gw.restart, "gateway")
            return "1", 200, TEXT_CT
        d = _json_body(req)
        if not isinstance(d, dict) or "device" not in d:
            return _msg("wrong payload", 400)
        dev = d["device"]
        if dev not in ("gateway", "evse"):
            return _msg("unknown device", 404)
        later(gw.restart, dev)
        return _msg("restart " + dev)

    @route("/reset", GP)
    async def reset(req):
        if req.method == "GET" and req.headers.get("X-Requested-With") is None:
            return "", 403
        later(gw.factory_reset)
        return "1", 200, TEXT_CT

    @route("/scan")
    async def scan(req):
        nets = await _maybe_await(gw.wifi.scan())
        return list(nets or [])

    @route("/emoncms/describe")
    async def emoncms_describe(req):
        return "openevse", 200, {"Content-Type": "text/plain", "Access-Control-Allow-Origin": "*"}

    # ---------------------------------------------------------------- websocket
    @route("/ws")
    async def ws_route(req):
        if len(peers) >= MAX_WS:
            return _msg("too many websocket clients", 503)
        ws = await websocket_upgrade(req)
        peer = _Peer()
        peers.append(peer)
        gw.bus.subscribe(peer.push)
        sender = None
        try:
            it = getattr(gw, "status_items", None)
            await _ws_send_pieces(ws, it() if it is not None else gw.status().items())
            sender = asyncio.create_task(_ws_sender(ws, peer))
            while True:
                opcode, payload = await ws._read_frame()
                if opcode == WebSocket.CLOSE:
                    break
                if opcode == WebSocket.PING:
                    peer.ctl.append(payload)
                    peer.ev.set()
                elif opcode == WebSocket.TEXT:
                    try:
                        m = json.loads(payload)
                    except ValueError:
                        m = None
                    if isinstance(m, dict) and "ping" in m:
                        peer.pong = True
                        peer.ev.set()
        except Exception:
            pass  # client gone, oversized frame, ...
        finally:
            gw.bus.unsubscribe(peer.push)
            peers.remove(peer)
            if sender is not None:
                sender.cancel()
            try:
                await ws.close()
            except Exception:
                pass
        return Response.already_handled

    app.ws_peers = peers
    paths.clear()
    return app


async def _ws_send_pieces(ws, pairs):
    """Send (key, value) pairs as one JSON TEXT frame, written piece by piece: a full status
    is ~2.5 KB, and ws.send() would copy it three times (str, bytes, frame) in single blocks
    that a fragmented heap may not have. Only before the sender task starts (no interleaving)."""
    pieces = [c.encode() for c in _json_chunks(pairs)]
    n = 0
    for c in pieces:
        n += len(c)
    hdr = bytearray((0x80 | WebSocket.TEXT,))
    if n < 126:
        hdr.append(n)
    else:  # < 64 KiB: a status is a few KB
        hdr.append(126)
        hdr.extend(n.to_bytes(2, "big"))
    w = ws.request.sock[1]
    await w.awrite(hdr)
    for c in pieces:
        await w.awrite(c)


async def _ws_sender(ws, peer):
    # The only writer of this socket after the first frame, so frames never interleave.
    try:
        while True:
            await peer.ev.wait()
            peer.ev.clear()
            while peer.ctl:
                await ws.send(peer.ctl.pop(0), WebSocket.PONG)
            if peer.pong:
                peer.pong = False
                await ws.send('{"pong":1}')
            if peer.pending:
                d = peer.pending
                peer.pending = {}
                await ws.send(json.dumps(d))
    except Exception:
        pass
